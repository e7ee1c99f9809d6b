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


def units(root, unit_text: str) -> dict:
    return {"files": [
        {"path": str(root / "kubelet.service"), "text": unit_text, "mode": "0644", "topics": ["kubelet restart"]},
        {"path": str(root / "kubelet.conf"), "content": KEY, "mode": "0600", "topics": ["kubelet restart"]},
        {"path": str(root / "kube-proxy.service"), "text": "[Service]\n", "mode": "0644", "topics": ["kube_proxy restart"]},
    ]}


def test_text_is_shown_in_a_diff_and_content_never_is(tmp_path):
    result = run_module(dict(units(tmp_path, "[Service]\nExecStart=/usr/local/bin/kubelet\n"), _ansible_diff=True))
    assert [d["after_header"] for d in result["diff"]] == [str(tmp_path / "kubelet.service"), str(tmp_path / "kube-proxy.service")]
    assert result["diff"][0]["before"] == "" and result["diff"][0]["after"].endswith("kubelet\n")
    assert "secret-key-material" not in json.dumps(result)
    result = run_module(dict(units(tmp_path, "[Service]\nExecStart=/opt/bin/kubelet\n"), _ansible_diff=True))
    assert result["diff"] == [{"before_header": str(tmp_path / "kubelet.service"), "after_header": str(tmp_path / "kubelet.service"),
                               "before": "[Service]\nExecStart=/usr/local/bin/kubelet\n",
                               "after": "[Service]\nExecStart=/opt/bin/kubelet\n"}]
    assert (tmp_path / "kubelet.service").read_text() == "[Service]\nExecStart=/opt/bin/kubelet\n"
    assert "diff" not in run_module(dict(units(tmp_path, "[Service]\nExecStart=/opt/bin/kubelet\n"), _ansible_diff=True))


def test_changed_topics_name_the_topics_of_the_changed_files_once(tmp_path):
    result = run_module(units(tmp_path, "[Service]\n"))
    assert result["changed_topics"] == ["kubelet restart", "kube_proxy restart"]
    (tmp_path / "kube-proxy.service").chmod(0o600)  # a mode alone counts too
    assert run_module(units(tmp_path, "[Service]\n"))["changed_topics"] == ["kube_proxy restart"]
    assert run_module(units(tmp_path, "[Service]\n"))["changed_topics"] == []


def test_a_file_needs_exactly_one_source(tmp_path):
    spec = {"path": str(tmp_path / "kubelet.service"), "text": "a", "content": "b", "mode": "0644"}
    result = run_module({"files": [spec]})
    assert result["failed"] and "needs exactly one of content, text or src" in result["msg"] and "got content, text" in result["msg"]
    assert not (tmp_path / "kubelet.service").exists()


def test_the_digest_record_spares_hashing_until_the_file_is_written_again(tmp_path, monkeypatch):
    record = tmp_path / "var/lib/eksd/installed-files.json"
    staged = tmp_path / "staged"
    staged.write_bytes(BINARY)
    run_module(dict(by_digest(tmp_path, staged), digest_record=str(record)))
    binary = str(tmp_path / "usr/local/bin/kubelet")
    assert json.loads(record.read_text())[binary][3] == hashlib.sha256(BINARY).hexdigest()

    def no_hashing(_module, path):
        raise AssertionError(f"{path} was hashed")
    monkeypatch.setattr(file_bundle.AnsibleModule, "sha256", no_hashing)
    result = run_module(dict(by_digest(tmp_path), digest_record=str(record)))
    assert result["changed"] is False and result["pending_files"] == []
    monkeypatch.undo()
    (tmp_path / "usr/local/bin/kubelet").write_bytes(b"tampered")  # a write changes its change time
    result = run_module(dict(by_digest(tmp_path), digest_record=str(record)))
    assert result["pending_files"] == [binary]
