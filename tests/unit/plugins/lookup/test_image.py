"""plugins/lookup/image.py: terms by asset or component, both kube-proxy layouts, mirrors, errors."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.eksd.distro.plugins.module_utils._fetch import resolve_release

R120 = "kubernetes-1-20-eks-1"


@pytest.fixture
def image(lookup_plugin):
    return lookup_plugin("eksd.distro.image")


def test_every_fixture(image, manifest_path, manifest_name):
    terms = ["pause", "kube-proxy", "coredns", "coredns-image", "etcd", "csi-snapshotter-image"]
    found = image.run(terms, variables={}, manifest=str(manifest_path), image_mirror="10.88.0.1:5000")
    assert [uri.split("/", 1)[0] for uri in found] == ["10.88.0.1:5000"] * len(terms)
    pause, proxy, coredns, coredns_image, etcd, snapshotter = found
    assert "/kubernetes/pause:v1." in pause
    assert "/kubernetes/kube-proxy:v1." in proxy
    assert coredns == coredns_image and "/coredns/coredns:v1." in coredns
    assert "/etcd-io/etcd:v3.4." in etcd
    assert "/kubernetes-csi/external-snapshotter/csi-snapshotter:" in snapshotter
    if manifest_name != "kubernetes-1-19-eks-1.yaml":  # that copy has no registry host
        assert pause.startswith("10.88.0.1:5000/eks-distro/kubernetes/pause:")


@pytest.mark.parametrize("layout", ["old", "new"])
def test_kube_proxy_in_both_layouts(image, fixture_path, current_format, dump_manifest, layout):
    path = fixture_path(R120) if layout == "old" else dump_manifest(current_format())
    expected = "public.ecr.aws/eks-distro/kubernetes/kube-proxy:v1.20.4-eks-1-20-1"
    assert image.run(["kube-proxy", "kube-proxy-image"], variables={}, manifest=str(path), arch="arm64") == [expected, expected]


def test_current_format_csi(image, current_format, dump_manifest):
    path = dump_manifest(current_format())
    assert image.run(["external-attacher", "csi-node-driver-registrar-image"], variables={}, manifest=str(path),
                     image_mirror="10.88.0.1:5000") == [
        "10.88.0.1:5000/csi-components/csi-attacher:v4.8.1-eksbuild.1",
        "10.88.0.1:5000/csi-components/csi-node-driver-registrar:v2.13.0-eksbuild.1",
    ]


def test_release_data(image, fixture_path):
    release = resolve_release({"manifest": str(fixture_path(R120)), "image_mirror": "registry.lab:5000/mirror"})
    assert image.run(["pause"], variables={}, release_data=release, release="not-even-valid") == [
        "registry.lab:5000/mirror/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1"
    ]


@pytest.mark.parametrize(
    ("terms", "options", "message"),
    [
        (["external-snapshotter"], {}, r"component 'external-snapshotter' of release kubernetes-1-20-eks-1 has several images"),
        (["nginx"], {}, r"has no image 'nginx' for amd64; expected an image asset or component name such as"),
        (["pause"], {"image_mirror": "https://10.88.0.1:5000"}, r"^image_mirror 'https://10.88.0.1:5000' is not a registry"),
        (["pause"], {"release": "1-19-4"}, r"expected the requested release kubernetes-1-19-eks-4$"),
        (["pause"], {"release_data": {"name": "r"}}, r"^release_data has no images mapping"),
    ],
)
def test_errors_are_lookup_errors(image, fixture_path, terms, options, message):
    with pytest.raises(AnsibleLookupError, match=message) as raised:
        image.run(terms, variables={}, **dict({"manifest": str(fixture_path(R120))}, **options))
    assert raised.value.message.count("expected") == 1  # the library's message, once, nothing appended
