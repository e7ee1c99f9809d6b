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
             {"src": "/etc/kubernetes/scheduler.conf", "dest": "kube-scheduler", "kubeconfig": True},
             {"src": "/etc/haproxy/kube-apiserver-client.pem", "dest": "ca", "pem": True},
             {"src": "/etc/haproxy/kube-apiserver-client.pem", "dest": "api-proxy", "pem": True}]
    # admin.crt is there but admin.key is not: the kubeconfig still stands for a missing file
    assert [i["dest"] for i in F["pki_adoptable"](iter(items), pki)] == ["sa.key", "admin", "kube-scheduler", "api-proxy"]


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


def test_adopted_files_split_a_pem_file_into_certificate_and_key():
    results = [{"item": {"src": "/etc/haproxy/kube-apiserver-client.pem", "dest": "api-proxy", "pem": True},
                "content": b64(CERT + KEY)}]
    assert F["pki_adopted_files"](results) == [
        {"dest": "api-proxy.crt", "content": CERT, "mode": "0644"},
        {"dest": "api-proxy.key", "content": KEY, "mode": "0600"},
    ]


@pytest.mark.parametrize("content", [CERT, KEY, CERT + KEY + KEY])
def test_adopted_files_refuse_a_pem_file_without_one_certificate_and_key(content):
    results = [{"item": {"src": "/etc/haproxy/kube-apiserver-client.pem", "dest": "api-proxy", "pem": True},
                "content": b64(content)}]
    with pytest.raises(AnsibleFilterError, match="kube-apiserver-client.pem must hold a certificate and one private key") as err:
        F["pki_adopted_files"](results)
    assert "MII" not in str(err.value)


@pytest.mark.parametrize("content", [b64("apiVersion: v1\nusers: []\n"), b64("- a list"), "not base64!"])
def test_adopted_files_errors_name_the_file_not_the_content(content):
    with pytest.raises(AnsibleFilterError) as err:
        F["pki_adopted_files"]([{"item": {"src": "/etc/kubernetes/admin.conf", "dest": "admin", "kubeconfig": True},
                                 "content": content}])
    assert "/etc/kubernetes/admin.conf" in str(err.value)
    assert content not in str(err.value)


# --- kubeconfig ------------------------------------------------------------------------------------------


@pytest.fixture()
def creds(tmp_path):
    (tmp_path / "nodes" / "node1").mkdir(parents=True)
    (tmp_path / "ca.crt").write_text(CERT)
    (tmp_path / "nodes/node1/kubelet-client.crt").write_text(CERT.replace("MIIB", "MIIC"))
    (tmp_path / "nodes/node1/kubelet-client.key").write_text(KEY)
    return str(tmp_path)


def test_kubeconfig_names_the_cluster_user_and_context(creds):
    text = F["kubeconfig"]("nodes/node1/kubelet-client", creds, "lab", "https://10.0.0.2:6443", "system:node:node1")
    config = yaml.safe_load(text)
    cluster = {"server": "https://10.0.0.2:6443", "certificate-authority-data": b64(CERT.rstrip())}
    user = {"client-certificate-data": b64(CERT.replace("MIIB", "MIIC").rstrip()), "client-key-data": b64(KEY.rstrip())}
    assert config["clusters"] == [{"name": "lab", "cluster": cluster}]
    assert config["users"] == [{"name": "system:node:node1", "user": user}]
    assert config["contexts"] == [{"name": "system:node:node1@lab", "context": {"cluster": "lab", "user": "system:node:node1"}}]
    assert config["current-context"] == "system:node:node1@lab"
    assert (config["apiVersion"], config["kind"]) == ("v1", "Config")


def test_kubeconfig_text_is_what_the_roles_wrote_before(creds):
    # kubeconfigs written with to_nice_yaml(indent=2) and the file lookup must compare equal: no restart on upgrade
    from ansible.plugins.filter.core import to_nice_yaml

    def data(name):
        with open(f"{creds}/{name}", encoding="utf-8") as handle:
            return b64(handle.read().rstrip())

    before = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": "lab", "cluster": {"server": "https://x:6443", "certificate-authority-data": data("ca.crt")}}],
              "users": [{"name": "u", "user": {"client-certificate-data": data("nodes/node1/kubelet-client.crt"),
                                               "client-key-data": data("nodes/node1/kubelet-client.key")}}],
              "contexts": [{"name": "u@lab", "context": {"cluster": "lab", "user": "u"}}],
              "current-context": "u@lab"}
    assert F["kubeconfig"]("nodes/node1/kubelet-client", creds, "lab", "https://x:6443", "u") == to_nice_yaml(before, indent=2)


def test_kubeconfig_names_a_missing_file_and_never_a_key(creds):
    with pytest.raises(AnsibleFilterError, match=r"kubeconfig: .*/nodes/node2/kubelet-client\.crt cannot be read") as err:
        F["kubeconfig"]("nodes/node2/kubelet-client", creds, "lab", "https://x:6443", "u")
    assert "MII" not in str(err.value)


@pytest.mark.parametrize("field", ["cluster", "server", "user"])
def test_kubeconfig_refuses_an_empty_field(creds, field):
    args = {"cluster": "lab", "server": "https://x:6443", "user": "u", field: ""}
    with pytest.raises(AnsibleFilterError, match=f"kubeconfig: {field} must be a non-empty string"):
        F["kubeconfig"]("nodes/node1/kubelet-client", creds, **args)


def test_kubeconfig_takes_ansible_unsafe_text(creds):
    from ansible.utils.unsafe_proxy import AnsibleUnsafeText
    text = F["kubeconfig"](AnsibleUnsafeText("nodes/node1/kubelet-client"), creds, AnsibleUnsafeText("lab"),
                           AnsibleUnsafeText("https://10.0.0.2:6443"), AnsibleUnsafeText("system:node:node1"))
    assert text == F["kubeconfig"]("nodes/node1/kubelet-client", creds, "lab", "https://10.0.0.2:6443", "system:node:node1")
