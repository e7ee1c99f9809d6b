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
