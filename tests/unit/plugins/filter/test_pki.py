"""plugins/filter/pki.py: which PKI files the controller lacks, and what adopting them writes."""

from __future__ import annotations

import base64

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.eksd.distro.plugins.filter.pki import FilterModule

F = FilterModule().filters()
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture()
def pki(tmp_path):
    (tmp_path / "etcd").mkdir()
    for name in ("ca.crt", "ca.key", "etcd/ca.crt", "sa.pub", "admin.crt"):
        (tmp_path / name).write_text("x")
    return str(tmp_path)


def test_existing_keeps_files_in_order(pki):
    assert F["pki_existing"](["front-proxy-ca.crt", "etcd/ca.crt", "ca.crt", "etcd"], pki) == ["etcd/ca.crt", "ca.crt"]


def test_keyless_names_a_certificate_without_its_key(pki):
    assert F["pki_keyless"](["ca.crt", "etcd/ca.crt", "front-proxy-ca.crt", "sa.pub"], pki) == ["etcd/ca.crt", "sa.pub"]


def test_adoptable_keeps_what_the_controller_lacks(pki):
    items = [{"src": "/etc/kubernetes/pki/ca.crt", "dest": "ca.crt"},
             {"src": "/etc/kubernetes/pki/ca.key", "dest": "ca.key"},
             {"src": "/etc/kubernetes/pki/sa.key", "dest": "sa.key"},
             {"src": "/etc/kubernetes/admin.conf", "dest": "admin", "kubeconfig": True},
             {"src": "/etc/kubernetes/scheduler.conf", "dest": "kube-scheduler", "kubeconfig": True}]
    # admin.crt is there but admin.key is not: the kubeconfig still stands for a missing file
    assert [i["dest"] for i in F["pki_adoptable"](iter(items), pki)] == ["sa.key", "admin", "kube-scheduler"]


def test_adoptable_refuses_other_input(pki):
    with pytest.raises(AnsibleFilterError, match="list of dicts"):
        F["pki_adoptable"](["ca.crt"], pki)


def test_adopted_files_plain_and_kubeconfig():
    kubeconfig = yaml.safe_dump({"users": [{"name": "admin", "user": {
        "client-certificate-data": b64(CERT.rstrip("\n")), "client-key-data": b64(KEY.rstrip("\n"))}}]})
    results = [
        {"item": {"src": "/etc/kubernetes/pki/ca.crt", "dest": "ca.crt"}, "content": b64(CERT)},
        {"item": {"src": "/etc/kubernetes/pki/sa.key", "dest": "sa.key"}, "content": b64(KEY)},
        {"item": {"src": "/etc/kubernetes/admin.conf", "dest": "admin", "kubeconfig": True}, "content": b64(kubeconfig)},
        {"item": {"src": "/x", "dest": "x"}, "skipped": True},
    ]
    assert F["pki_adopted_files"](results) == [
        {"dest": "ca.crt", "content": CERT, "mode": "0644"},
        {"dest": "sa.key", "content": KEY, "mode": "0600"},
        {"dest": "admin.crt", "content": CERT, "mode": "0644"},
        {"dest": "admin.key", "content": KEY, "mode": "0600"},
    ]


@pytest.mark.parametrize("content", [b64("apiVersion: v1\nusers: []\n"), b64("- a list"), "not base64!"])
def test_adopted_files_errors_name_the_file_not_the_content(content):
    with pytest.raises(AnsibleFilterError) as err:
        F["pki_adopted_files"]([{"item": {"src": "/etc/kubernetes/admin.conf", "dest": "admin", "kubeconfig": True},
                                 "content": content}])
    assert "/etc/kubernetes/admin.conf" in str(err.value)
    assert content not in str(err.value)
