"""tools/mirror/build_containerd.py's data-file handling: versions read from, digests recorded into
roles/preflight/vars/containerd_release.yml (a copy), and the result still loads as the role's vars."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

# tools/ is not part of the collection: ansible-test's copy of the tree has no such module
build_containerd = pytest.importorskip("build_containerd", reason="tools/ is not in this copy of the collection")

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "roles" / "preflight" / "vars" / "containerd_release.yml"


def test_versions_come_from_the_data_file():
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))["_preflight_containerd_release"]
    assert build_containerd.release_versions() == {"containerd": data["containerd"], "runc": data["runc"]}


def test_record_writes_the_digests_and_keeps_the_others(tmp_path, monkeypatch):
    module = build_containerd
    copy = tmp_path / "containerd_release.yml"
    copy.write_text(DATA.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(module, "RELEASE_FILE", copy)
    versions = module.release_versions()
    module.record(versions, {"runc.arm64": "b" * 128})
    module.record(versions, {"runc.amd64": "a" * 128})
    data = yaml.safe_load(copy.read_text(encoding="utf-8"))["_preflight_containerd_release"]
    assert data["sha512"]["runc.amd64"] == "a" * 128
    assert data["sha512"]["runc.arm64"] == "b" * 128
    assert (data["containerd"], data["runc"]) == (versions["containerd"], versions["runc"])
    assert copy.read_text(encoding="utf-8").startswith("---\n# containerd and runc for install_method archive")


def test_the_mirror_refuses_files_whose_digest_is_not_the_recorded_one(monkeypatch):
    module = build_containerd
    recorded = module.recorded_digests()
    runc = next(name for name in recorded if name.startswith("runc."))
    monkeypatch.setattr(module, "publish_release_files", lambda root, arch: dict(recorded, **{runc: "0" * 128}))
    with pytest.raises(SystemExit, match=rf"sha512 recorded for {runc} is not that of the files built here"):
        module.publish_for_mirror(Path("/nonexistent"), "amd64")
    monkeypatch.setattr(module, "publish_release_files", lambda root, arch: dict(recorded))
    module.publish_for_mirror(Path("/nonexistent"), "amd64")


def test_runc_links_a_pinned_libseccomp_for_each_arch_it_builds():
    for arch, pkg in build_containerd.LIBSECCOMP_DEV.items():
        assert pkg["url"].endswith(f"_{arch}.deb") and len(pkg["sha256"]) == 64
    with pytest.raises(SystemExit, match="no libseccomp-dev recorded for arm64"):
        build_containerd.libseccomp(Path("/nonexistent"), "arm64")
