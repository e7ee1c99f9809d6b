"""plugins/lookup/artifact.py: terms, options, release_data, error mapping."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleError, AnsibleLookupError
from ansible_collections.eksd.distro.plugins.module_utils._fetch import resolve_release

R120 = "kubernetes-1-20-eks-1"


@pytest.fixture
def artifact(lookup_plugin):
    return lookup_plugin("eksd.distro.artifact")


def test_every_fixture(artifact, manifest_path, manifest_name):
    etcd = "v3.4.15" if "1-20" in manifest_name else "v3.4.14"
    terms = ["bin/linux/arm64/kubelet", f"etcd-linux-arm64-{etcd}.tar.gz", "kubernetes-server-linux-arm64.tar.gz"]
    found = artifact.run(terms, variables={}, manifest=str(manifest_path), arch="arm64")
    assert len(found) == 3
    for term, entry in zip(terms, found):
        assert set(entry) == {"url", "checksum", "sha256", "sha512", "component"}
        assert entry["url"].startswith("https://distro.eks.amazonaws.com/") and entry["url"].endswith("/" + term)
        assert re.match(r"^sha512:[0-9a-f]{128}$", entry["checksum"])
        assert entry["checksum"] == "sha512:" + entry["sha512"]
        assert re.match(r"^[0-9a-f]{64}$", entry["sha256"])
    assert [e["component"] for e in found] == ["kubernetes", "etcd", "kubernetes"]


@pytest.mark.parametrize("registered", [False, True])
def test_release_data_needs_no_fetch(artifact, fixture_path, registered):
    release = resolve_release({"manifest": str(fixture_path(R120)), "artifact_mirror": "https://mirror.example.com/eksd"})
    data = {"changed": False, "release": release} if registered else release
    [entry] = artifact.run(["bin/linux/amd64/kubeadm"], variables={}, release_data=data, manifest="/nonexistent.yaml")
    assert entry == {
        "url": "https://mirror.example.com/eksd/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/bin/linux/amd64/kubeadm",
        "sha256": "eb783adcb7e17b9f5c88877dc05ef3e825bfcb1031d130565849d357d8f412e4",
        "sha512": release["artifacts"]["bin/linux/amd64/kubeadm"]["sha512"],
        "checksum": "sha512:" + release["artifacts"]["bin/linux/amd64/kubeadm"]["sha512"],
        "component": "kubernetes",
    }


def test_current_format_kube_proxy(artifact, current_format, dump_manifest):
    path = dump_manifest(current_format(), style="docs")
    [proxy, kubelet] = artifact.run(["bin/linux/amd64/kube-proxy", "bin/linux/amd64/kubelet"], variables={}, manifest=str(path))
    assert proxy["component"] == "kube-proxy"
    assert "/artifacts/kubernetes/v1.20.4/bin/linux/amd64/kube-proxy" in proxy["url"]
    assert kubelet["component"] == "kubernetes"


def test_http_mirror_fetched_once_with_cache(artifact, http_server, fixture_path, tmp_path):
    http_server.serve("/eksd/kubernetes-1-20/kubernetes-1-20-eks-1.yaml", fixture_path(R120).read_bytes())
    options = {"release": "1-20-1", "artifact_mirror": http_server.url("/eksd"), "allow_http": True, "cache_dir": str(tmp_path)}
    [first] = artifact.run(["bin/linux/amd64/kubelet"], variables={}, **options)
    [second] = artifact.run(["bin/linux/amd64/kubelet"], variables={}, **options)
    assert first == second
    assert first["url"] == http_server.url("/eksd/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/bin/linux/amd64/kubelet")
    assert len(http_server.hits) == 1


@pytest.mark.parametrize(
    ("terms", "options", "message"),
    [
        (["bin/linux/amd64/kubelet"], {}, r"^neither release nor manifest is set"),
        (["bin/linux/amd64/kubelet"], {"release": "latest"}, r"^release 'latest' is not an EKS-D release id"),
        (["bin/linux/amd64/kubelet"], {"manifest": "/nonexistent.yaml"}, r"^manifest file /nonexistent.yaml does not exist"),
        (["bin/linux/arm64/kubelet"], {"manifest": "@"}, r"has no artifact 'bin/linux/arm64/kubelet' for linux/amd64; expected an asset name"),
        (["coredns-image"], {"manifest": "@"}, r"has no artifact 'coredns-image'"),
        (["kubernetes-src.tar.gz"], {"manifest": "@"}, r"has no artifact 'kubernetes-src.tar.gz'"),
        (["bin/linux/amd64/kubelet"], {"manifest": "@", "release": "1-20-2"}, r"expected the requested release kubernetes-1-20-eks-2$"),
        (["bin/linux/amd64/kubelet"], {"manifest": "@", "artifact_mirror": "http://10.0.0.1/eksd"}, r"uses plain http"),
        (["x"], {"release_data": {"name": "r"}}, r"^release_data has no artifacts mapping"),
    ],
)
def test_errors_are_lookup_errors(artifact, fixture_path, terms, options, message):
    if options.get("manifest") == "@":
        options = dict(options, manifest=str(fixture_path(R120)))
    with pytest.raises(AnsibleLookupError, match=message) as raised:
        artifact.run(terms, variables={}, **options)
    assert raised.value.message.count("expected") == 1  # the library's message, once, nothing appended


def test_option_validation(artifact, fixture_path):
    with pytest.raises(AnsibleError, match=r'Invalid value "s390x" for configuration option .*arch.*amd64, arm64'):
        artifact.run(["bin/linux/amd64/kubelet"], variables={}, manifest=str(fixture_path(R120)), arch="s390x")


def test_release_may_be_a_channel(artifact, http_server, fixture_path, published_channel):
    """release=1-20: the channel's latest release, read from its ReleaseChannel on the site (or mirror)."""
    http_server.serve("/releasechannels/1-20.yaml", published_channel("1-20", 1))
    http_server.serve("/kubernetes-1-20/kubernetes-1-20-eks-1.yaml", fixture_path(R120).read_bytes())
    [entry] = artifact.run(["bin/linux/amd64/kubelet"], variables={}, release="1-20", base_url=http_server.base, allow_http=True)
    # base_url only says where the channel and manifest are; artifact URLs stay as the manifest has them
    assert entry["url"] == "https://distro.eks.amazonaws.com/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/bin/linux/amd64/kubelet"
    assert http_server.hits == ["/releasechannels/1-20.yaml", "/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"]
