"""plugins/filter/pki_due.py: inputs it refuses, and the bundle entries it makes. What it decides about real
key, request and certificate files is tested against community.crypto's own output in
tests/integration/test_pki_plan.py."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.eksd.distro.plugins.filter.pki_due import FilterModule

F = FilterModule().filters()
USAGES = {"client": ["clientAuth"], "server": ["serverAuth"], "both": ["serverAuth", "clientAuth"]}


def test_missing_files_make_every_entry_due(tmp_path):
    certs = [{"name": "admin", "ca": "ca", "cn": "kubernetes-admin", "usage": "client"}]
    assert F["pki_certs_due"](certs, str(tmp_path), USAGES) == certs
    assert F["pki_cas_due"]([{"name": "ca", "cn": "kubernetes-ca"}], str(tmp_path)) == [{"name": "ca", "cn": "kubernetes-ca"}]


def test_unreadable_pem_is_due_not_an_error(tmp_path):
    for ext in ("key", "csr", "crt"):
        (tmp_path / f"admin.{ext}").write_text("not PEM\n")
    (tmp_path / "admin.key").chmod(0o600)
    (tmp_path / "admin.csr").chmod(0o644)
    (tmp_path / "admin.crt").chmod(0o644)
    certs = [{"name": "admin", "ca": "ca", "cn": "kubernetes-admin", "usage": "client"}]
    assert F["pki_certs_due"](certs, str(tmp_path), USAGES) == certs


def test_renew_all_returns_every_entry_without_reading(tmp_path):
    certs = [{"name": "x", "ca": "ca", "cn": "x", "usage": "client"}, {"name": "y", "ca": "ca", "cn": "y", "usage": "server"}]
    assert F["pki_certs_due"](certs, str(tmp_path / "absent"), USAGES, renew_all=True) == certs


@pytest.mark.parametrize("bad", [[{"name": "x"}], ["admin"], [{"ca": "ca", "cn": "x", "usage": "client"}]])
def test_entries_without_their_fields_are_refused(tmp_path, bad):
    with pytest.raises(AnsibleFilterError, match="list of dicts with name, ca, cn and usage"):
        F["pki_certs_due"](bad, str(tmp_path), USAGES)


def test_bundle_entries_from_a_list():
    assert F["pki_bundle"]([{"src": "nodes/n1/kubelet-server.key", "dest": "kubelet.key"}], "/pki", "/var/lib/kubelet/pki") == [
        {"path": "/var/lib/kubelet/pki/kubelet.key", "src": "/pki/nodes/n1/kubelet-server.key", "mode": "0600"}]
    assert F["pki_bundle"]([{"src": "etcd/ca.crt", "dest": "ca.crt"}], "/pki", "/etc/etcd/pki", owner="etcd") == [
        {"path": "/etc/etcd/pki/ca.crt", "src": "/pki/etcd/ca.crt", "mode": "0644", "owner": "etcd", "group": "etcd"}]


def test_bundle_from_a_mapping_is_refused():
    with pytest.raises(AnsibleFilterError, match="expected a list of {src, dest} dicts, got dict"):
        F["pki_bundle"]({"ca.crt": "ca.crt"}, "/pki", "/etc/kubernetes/pki")


def test_bundle_entry_without_source_is_refused():
    with pytest.raises(AnsibleFilterError, match="source in the PKI directory and a destination"):
        F["pki_bundle"]([{"dest": "ca.crt"}], "/pki", "/etc/kubernetes/pki")


def _write_sa_pair(pki_dir, key_size=2048, public_of=None):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    (pki_dir / "sa.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                                       serialization.NoEncryption()))
    (pki_dir / "sa.pub").write_bytes((public_of or key).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (pki_dir / "sa.key").chmod(0o600)
    (pki_dir / "sa.pub").chmod(0o644)
    return key


def test_sa_key_pair_is_due_until_key_and_public_key_match_with_their_modes(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa
    assert F["pki_sa_key_due"](str(tmp_path)) is True  # missing
    _write_sa_pair(tmp_path)
    assert F["pki_sa_key_due"](str(tmp_path)) is False
    (tmp_path / "sa.pub").chmod(0o600)
    assert F["pki_sa_key_due"](str(tmp_path)) is True  # another mode
    _write_sa_pair(tmp_path, public_of=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert F["pki_sa_key_due"](str(tmp_path)) is True  # another key's public key
    _write_sa_pair(tmp_path, key_size=1024)
    assert F["pki_sa_key_due"](str(tmp_path)) is True  # not the size asked for
    (tmp_path / "sa.pub").write_text("not a key\n")
    assert F["pki_sa_key_due"](str(tmp_path)) is True
