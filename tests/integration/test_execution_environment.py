"""execution-environment.yml gives ansible-builder a build context for an AWX execution environment, offline."""
from __future__ import annotations

import re
import shutil

import yaml
from conftest import REPO, run


def test_ansible_builder_creates_a_context_with_the_collection_and_its_dependencies(tmp_path):
    shutil.copy(REPO / "execution-environment.yml", tmp_path)
    shutil.copy(REPO / "requirements.yml", tmp_path)
    (tmp_path / "meta").mkdir()
    shutil.copy(REPO / "meta" / "ee-requirements.txt", tmp_path / "meta")
    run(["ansible-galaxy", "collection", "build", "--force", "--output-path", str(tmp_path)], cwd=REPO)
    # the file's name would follow the container tool ansible-builder finds (Dockerfile where only docker is installed)
    run(["ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context",
         "--output-filename", "Containerfile"], cwd=tmp_path)

    context = tmp_path / "context"
    containerfile = (context / "Containerfile").read_text()
    pinned_core = re.search(r"^ansible-core==\S+$", (REPO / "requirements.txt").read_text(), re.M).group(0)
    assert pinned_core in containerfile, "the execution environment's ansible-core differs from requirements.txt"
    assert re.search(r"ansible-galaxy collection install --offline --no-deps .*eksd-distro-\*\.tar\.gz", containerfile)
    assert list((context / "_build" / "collections").glob("eksd-distro-*.tar.gz"))
    wanted = {c["name"] for c in yaml.safe_load((REPO / "requirements.yml").read_text())["collections"]}
    got = {c["name"] for c in yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"]}
    assert got == wanted
    assert "PyYAML" in (context / "_build" / "requirements.txt").read_text()
