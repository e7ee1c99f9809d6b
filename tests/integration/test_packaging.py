"""The collection tarball installs cleanly and carries only what users run."""
from __future__ import annotations

import os
import tarfile

from conftest import REPO, run


def test_built_collection_installs_and_documents_its_plugins(tmp_path):
    run(["ansible-galaxy", "collection", "build", "--force", "--output-path", str(tmp_path)], cwd=REPO)
    (tarball,) = tmp_path.glob("eksd-distro-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "plugins/modules/release_info.py" in names and "plugins/modules/release_channel_info.py" in names
    assert "site.yml" in names and "playbooks/site.yml" in names
    assert "inventories/sample/hosts.yml" in names and "requirements.yml" in names
    development = {"tests", "tools", "molecule", ".collections", ".ansible", ".ci", ".config", "ansible.cfg",
                   "requirements.txt", "Makefile"}
    leaked = [n for n in names if n.split("/")[0] in development or n.startswith("inventories/lab")
              or "__pycache__" in n or n.endswith(".pyc")]
    assert leaked == []

    # Outside the repository (whose ansible.cfg already resolves eksd.distro to the checkout).
    dest = tmp_path / "installed"
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(dest), ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"))
    run(["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "-p", str(dest), str(tarball)], env=env, cwd=tmp_path)
    assert (dest / "ansible_collections/eksd/distro/plugins/modules/release_info.py").is_file()
    for args in (["eksd.distro.release_info"], ["eksd.distro.release_channel_info"], ["-t", "lookup", "eksd.distro.artifact"],
                 ["-t", "lookup", "eksd.distro.image"]):
        out = run(["ansible-doc", *args], env=env, cwd=tmp_path)
        assert "EXAMPLES" in out.stdout and "eksd.distro" in out.stdout

    # Every entry playbook runs by its FQCN from the installed tarball: whatever it imports is inside.
    sample = dest / "ansible_collections/eksd/distro/inventories/sample/hosts.yml"
    playbooks = sorted(p.stem for p in (REPO / "playbooks").glob("*.yml") if (REPO / f"{p.stem}.yml").is_file())
    assert "site" in playbooks and "upgrade" in playbooks
    for playbook in playbooks:
        out = run(["ansible-playbook", "-i", str(sample), f"eksd.distro.{playbook}", "--syntax-check"], env=env, cwd=tmp_path)
        assert f"ansible_collections/eksd/distro/playbooks/{playbook}.yml" in out.stdout
