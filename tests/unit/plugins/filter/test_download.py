"""plugins/filter/download.py: which artifacts the controller cache lacks, and which archives are still to unpack."""

from __future__ import annotations

import hashlib

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.eksd.distro.plugins.filter.download import FilterModule

F = FilterModule().filters()


def entry(tmp_path, name: str, content: bytes | None, *, digest_of: bytes | None = None, archive=False) -> dict:
    """A download plan entry whose manifest digest is that of digest_of (default: content); content None = no file."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    digest = hashlib.sha512(digest_of if digest_of is not None else content or b"").hexdigest()
    return {"file": str(path), "artifact": {"url": f"http://mirror/{name}", "sha512": digest}, "archive": archive,
            "unpack_stamp": str(tmp_path / f"{name}.stamp")}


def test_unverified_keeps_missing_and_mismatched_files_in_order(tmp_path):
    good = entry(tmp_path, "etcd.tar.gz", b"etcd")
    missing = entry(tmp_path, "kubelet", None, digest_of=b"kubelet")
    corrupted = entry(tmp_path, "kube-proxy", b"truncated", digest_of=b"kube-proxy")
    assert F["download_unverified"]([missing, good, corrupted]) == [missing, corrupted]


def test_unverified_compares_digests_in_any_case(tmp_path):
    good = entry(tmp_path, "kubectl", b"kubectl")
    good["artifact"]["sha512"] = good["artifact"]["sha512"].upper()
    assert F["download_unverified"]([good]) == []


def test_unverified_refuses_an_entry_without_a_manifest_digest(tmp_path):
    bad = entry(tmp_path, "kubectl", b"kubectl")
    bad["artifact"] = {"url": "http://mirror/kubectl"}
    with pytest.raises(AnsibleFilterError, match="kubectl: the entry has no artifact.sha512"):
        F["download_unverified"]([bad])
    with pytest.raises(AnsibleFilterError, match="every entry must be a dict with file, artifact"):
        F["download_unverified"](["kubectl"])


def test_unpack_due_until_the_stamp_names_the_archive(tmp_path):
    archive = entry(tmp_path, "cni.tgz", b"cni", archive=True)
    binary = entry(tmp_path, "kubelet", b"kubelet")
    assert F["download_unpack_due"]([archive, binary]) == [archive]  # never unpacked; a plain file never is
    (tmp_path / "cni.tgz.stamp").write_text(hashlib.sha512(b"older cni").hexdigest() + "\n")
    assert F["download_unpack_due"]([archive]) == [archive]  # unpacked from another file
    (tmp_path / "cni.tgz.stamp").write_text(archive["artifact"]["sha512"] + "\n")
    assert F["download_unpack_due"]([archive, binary]) == []


def test_install_bundle_finds_archive_files_by_name_and_gives_each_file_its_topics(tmp_path):
    tree = tmp_path / "etcd" / "content"
    (tree / "etcd-v3.5.9-linux-amd64").mkdir(parents=True)
    for name in ("etcd", "etcdctl", "README.md"):
        (tree / "etcd-v3.5.9-linux-amd64" / name).write_text(name)
    (tree / "etcd-v3.5.9-linux-amd64" / "etcd-link").symlink_to("etcd")
    etcd = {"artifact": {"url": "http://mirror/etcd-v3.5.9-linux-amd64.tar.gz"}, "file": str(tmp_path / "etcd.tgz"),
            "archive": True, "extract_dir": str(tree), "notify": ["etcd restart"],
            "files": [{"src": "etcd", "dest": "/usr/local/bin/etcd"}, {"src": "etcdctl", "dest": "/usr/local/bin/etcdctl"}]}
    kubelet = {"artifact": {"url": "http://mirror/kubelet"}, "file": str(tmp_path / "kubelet"), "archive": False,
               "files": [{"src": "kubelet", "dest": "/usr/local/bin/kubelet", "mode": "0750"}]}
    kubectl = {"artifact": {"url": "http://mirror/kubectl"}, "file": str(tmp_path / "kubectl"), "archive": False,
               "notify": [], "files": [{"src": "kubectl", "dest": "/opt/bin/kubectl"}]}
    bundle = F["download_install_bundle"]([etcd, kubelet, kubectl], ["kubelet restart"])
    assert bundle == {
        "directories": [{"path": "/usr/local/bin", "mode": "0755"}, {"path": "/opt/bin", "mode": "0755"}],
        "files": [
            {"path": "/usr/local/bin/etcd", "src": str(tree / "etcd-v3.5.9-linux-amd64" / "etcd"), "mode": "0755",
             "topics": ["etcd restart"]},
            {"path": "/usr/local/bin/etcdctl", "src": str(tree / "etcd-v3.5.9-linux-amd64" / "etcdctl"), "mode": "0755",
             "topics": ["etcd restart"]},
            {"path": "/usr/local/bin/kubelet", "src": str(tmp_path / "kubelet"), "mode": "0750", "topics": ["kubelet restart"]},
            {"path": "/opt/bin/kubectl", "src": str(tmp_path / "kubectl"), "mode": "0755", "topics": []},
        ]}


def test_install_bundle_names_a_file_the_archive_lacks_and_what_it_holds(tmp_path):
    tree = tmp_path / "content"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "bridge").write_text("x")
    (tree / "bin" / "xbridge").write_text("x")
    cni = {"artifact": {"url": "http://mirror/cni-plugins-linux-amd64-v1.3.0.tar.gz"}, "file": str(tmp_path / "cni.tgz"),
           "archive": True, "extract_dir": str(tree), "files": [{"src": "loopback", "dest": "/opt/cni/bin/loopback"}]}
    with pytest.raises(AnsibleFilterError, match=r"loopback is not in cni-plugins-linux-amd64-v1.3.0.tar.gz "
                                                 r"\(unpacked in .*, which holds: bin/bridge, bin/xbridge\)"):
        F["download_install_bundle"]([cni])
    # "bridge" matches bin/bridge at a path boundary, never bin/xbridge
    cni["files"] = [{"src": "bridge", "dest": "/opt/cni/bin/bridge"}]
    assert F["download_install_bundle"]([cni])["files"][0]["src"] == str(tree / "bin" / "bridge")


def test_install_bundle_passes_the_manifest_sha256_of_an_artifact_installed_as_it_is(tmp_path):
    tree = tmp_path / "content"
    tree.mkdir()
    (tree / "etcd").write_text("etcd")
    kubelet = {"artifact": {"url": "http://mirror/kubelet", "sha256": "AB" * 32}, "file": str(tmp_path / "kubelet"),
               "archive": False, "files": [{"src": "kubelet", "dest": "/usr/local/bin/kubelet"}]}
    etcd = {"artifact": {"url": "http://mirror/etcd.tar.gz", "sha256": "cd" * 32}, "file": str(tmp_path / "etcd.tgz"),
            "archive": True, "extract_dir": str(tree), "files": [{"src": "etcd", "dest": "/usr/local/bin/etcd"}]}
    files = F["download_install_bundle"]([kubelet, etcd])["files"]
    # the archive's digest is not that of a file inside it: the action plugin hashes that one itself
    assert [f.get("sha256") for f in files] == ["ab" * 32, None]
