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
