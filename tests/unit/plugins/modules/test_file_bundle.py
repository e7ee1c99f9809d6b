"""plugins/modules/file_bundle.py: several files and directories in one call, only what differs, check mode."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd

from ansible_collections.eksd.distro.plugins.modules import file_bundle
from ansible_collections.eksd.distro.tests.unit.plugins.modules.module_harness import run_main

KEY = "-----BEGIN PRIVATE KEY-----\nsecret-key-material\n-----END PRIVATE KEY-----\n"
CERT = "-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n"
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run_module(args: dict, check_mode: bool = False) -> dict:
    return run_main(file_bundle.main, dict({"owner": OWNER, "group": GROUP}, **args), check_mode)


def bundle(root) -> dict:
    return {
        "directories": [{"path": str(root / "etc/kubernetes/pki"), "mode": "0750"}],
        "files": [
            {"path": str(root / "etc/kubernetes/pki/ca.crt"), "content": CERT, "mode": "0644"},
            {"path": str(root / "etc/kubernetes/pki/apiserver.key"), "content": KEY, "mode": "0600"},
            {"path": str(root / "var/lib/kubelet/pki/kubelet.crt"), "content": CERT, "mode": "0644"},
        ],
    }


def mode(path) -> int:
    return os.stat(path).st_mode & 0o7777


def test_first_call_writes_every_file_and_directory(tmp_path):
    result = run_module(bundle(tmp_path))
    assert result["changed"] is True
    assert str(tmp_path / "etc/kubernetes/pki/apiserver.key") in result["changed_files"]
    assert (tmp_path / "etc/kubernetes/pki/apiserver.key").read_text() == KEY
    assert mode(tmp_path / "etc/kubernetes/pki/apiserver.key") == 0o600
    assert mode(tmp_path / "etc/kubernetes/pki/ca.crt") == 0o644
    assert mode(tmp_path / "etc/kubernetes/pki") == 0o750
    assert mode(tmp_path / "var/lib/kubelet/pki") == 0o755  # an unlisted parent: created 0755
    assert not [p for p in (tmp_path / "etc/kubernetes/pki").iterdir() if p.name.startswith(".eksd-bundle-")]


def test_second_call_changes_nothing(tmp_path):
    run_module(bundle(tmp_path))
    result = run_module(bundle(tmp_path))
    assert result["changed"] is False and result["changed_files"] == []


def test_only_the_differing_file_or_mode_is_rewritten(tmp_path):
    run_module(bundle(tmp_path))
    (tmp_path / "etc/kubernetes/pki/ca.crt").write_text("stale\n")
    (tmp_path / "var/lib/kubelet/pki/kubelet.crt").chmod(0o666)
    key_inode = os.stat(tmp_path / "etc/kubernetes/pki/apiserver.key").st_ino
    result = run_module(bundle(tmp_path))
    assert result["changed_files"] == [str(tmp_path / "etc/kubernetes/pki/ca.crt"), str(tmp_path / "var/lib/kubelet/pki/kubelet.crt")]
    assert (tmp_path / "etc/kubernetes/pki/ca.crt").read_text() == CERT
    assert mode(tmp_path / "var/lib/kubelet/pki/kubelet.crt") == 0o644
    assert os.stat(tmp_path / "etc/kubernetes/pki/apiserver.key").st_ino == key_inode


def test_check_mode_reports_and_writes_nothing(tmp_path):
    result = run_module(bundle(tmp_path), check_mode=True)
    assert result["changed"] is True
    assert str(tmp_path / "etc/kubernetes/pki/ca.crt") in result["changed_files"]
    assert not (tmp_path / "etc").exists()


def test_contents_never_appear_in_the_result(tmp_path):
    result = run_module(bundle(tmp_path))
    assert "secret-key-material" not in json.dumps(result)


def test_a_relative_path_is_refused_by_name(tmp_path):
    args = bundle(tmp_path)
    args["files"][0]["path"] = "etc/ca.crt"
    result = run_module(args)
    assert result["failed"] and "etc/ca.crt is not an absolute path" in result["msg"]
    assert not (tmp_path / "etc").exists()


BINARY = bytes(range(256)) * 16


def by_digest(root, staged=None) -> dict:
    spec = {"path": str(root / "usr/local/bin/kubelet"), "sha256": hashlib.sha256(BINARY).hexdigest(), "mode": "0755"}
    if staged is not None:
        spec["staged"] = str(staged)
    return {"files": [spec]}


def test_a_file_given_by_digest_is_pending_until_staged_then_moved_into_place(tmp_path):
    result = run_module(by_digest(tmp_path))
    assert result["pending_files"] == [str(tmp_path / "usr/local/bin/kubelet")]
    assert str(tmp_path / "usr/local/bin") in result["changed_files"]  # the directories so far, not the file
    assert str(tmp_path / "usr/local/bin/kubelet") not in result["changed_files"]
    assert not (tmp_path / "usr/local/bin/kubelet").exists()
    staged = tmp_path / "staged"
    staged.write_bytes(BINARY)
    result = run_module(by_digest(tmp_path, staged))
    assert result["changed_files"] == [str(tmp_path / "usr/local/bin/kubelet")] and result["pending_files"] == []
    assert (tmp_path / "usr/local/bin/kubelet").read_bytes() == BINARY
    assert mode(tmp_path / "usr/local/bin/kubelet") == 0o755
    result = run_module(by_digest(tmp_path))
    assert result["changed"] is False and result["pending_files"] == []


def test_a_file_given_by_digest_in_check_mode_counts_as_changed(tmp_path):
    result = run_module(by_digest(tmp_path), check_mode=True)
    assert str(tmp_path / "usr/local/bin/kubelet") in result["changed_files"]
    assert not (tmp_path / "usr").exists()


def test_a_staged_file_with_another_digest_is_refused_and_nothing_is_written(tmp_path):
    staged = tmp_path / "staged"
    staged.write_bytes(BINARY[:-1])
    result = run_module(by_digest(tmp_path, staged))
    assert result["failed"] and "does not have sha256" in result["msg"]
    assert not (tmp_path / "usr/local/bin/kubelet").exists()
