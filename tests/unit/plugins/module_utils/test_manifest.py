"""plugins/module_utils/_manifest.py against every fixture manifest and the bad cases."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from ansible_collections.eksd.distro.plugins.module_utils._manifest import (
    ManifestError,
    ReleaseId,
    find_artifact,
    find_image,
    parse_document,
    parse_manifest,
    parse_release_id,
    release_facts,
    rewrite_artifact_url,
    rewrite_image,
    select_assets,
    split_image,
)

HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX128 = re.compile(r"^[0-9a-f]{128}$")

# file: (kubernetes version, etcd version, components, assets, date, has bin/linux/<arch>/kubeadm)
EXPECTED = {
    "kubernetes-1-18-eks-1.yaml": ("v1.18.9", "v3.4.14", 12, 60, "2020-12-01T00:05:35Z", False),
    "kubernetes-1-18-eks-2.yaml": ("v1.18.9", "v3.4.14", 12, 62, "2021-03-26T22:45:28Z", True),
    "kubernetes-1-18-eks-3.yaml": ("v1.18.9", "v3.4.14", 12, 62, "2021-04-14T01:38:06Z", True),
    "kubernetes-1-18-eks-4.yaml": ("v1.18.16", "v3.4.14", 12, 62, "2021-05-05T13:57:00Z", True),
    "kubernetes-1-19-eks-1.yaml": ("v1.19.6", "v3.4.14", 12, 62, "2021-02-18T14:51:30Z", True),
    "kubernetes-1-19-eks-2.yaml": ("v1.19.6", "v3.4.14", 12, 62, "2021-03-27T04:36:52Z", True),
    "kubernetes-1-19-eks-3.yaml": ("v1.19.6", "v3.4.14", 12, 62, "2021-04-14T01:38:06Z", True),
    "kubernetes-1-19-eks-4.yaml": ("v1.19.8", "v3.4.14", 12, 62, "2021-05-05T18:43:56Z", True),
    "kubernetes-1-20-eks-1.yaml": ("v1.20.4", "v3.4.15", 12, 62, "2021-05-18T15:19:01Z", True),
}

# Per arch, the Archive assets every linux selection has (the raw binaries come on top).
TARBALLS = ("kubernetes-client-linux-{a}.tar.gz", "kubernetes-node-linux-{a}.tar.gz", "kubernetes-server-linux-{a}.tar.gz")
IMAGES = {
    "kube-apiserver-image",
    "kube-controller-manager-image",
    "kube-scheduler-image",
    "kube-proxy-image",
    "pause-image",
    "etcd-image",
    "coredns-image",
    "metrics-server-image",
    "aws-iam-authenticator-image",
    "livenessprobe-image",
    "external-attacher-image",
    "external-provisioner-image",
    "external-resizer-image",
    "node-driver-registrar-image",
    "csi-snapshotter-image",
    "snapshot-controller-image",
    "snapshot-validation-webhook-image",
}


def parse(path) -> object:
    return parse_manifest(path.read_bytes(), str(path))


# 1-19-2 was published with kube images tagged -eks-1-19-1 (SOURCES.md); the others carry their own number.
KUBE_IMAGE_RELEASE = {"kubernetes-1-19-eks-2.yaml": 1}


def test_table_covers_every_fixture(manifest_names):
    assert sorted(EXPECTED) == manifest_names


# --------------------------------------------------------------------------- every fixture


def test_parse_fixture(manifest_name, manifest_path):
    k8s, etcd, n_components, n_assets, date, has_kubeadm = EXPECTED[manifest_name]
    release = parse(manifest_path)
    rid = parse_release_id(manifest_name[: -len(".yaml")])
    assert (release.name, release.channel, release.number) == (rid.name, rid.channel, rid.number)
    assert release.kubernetes_version == k8s
    assert release.components["etcd"].version == etcd
    assert len(release.components) == n_components
    assert len(release.assets) == n_assets
    assert release.date == date
    assert release.platforms() == ["darwin/amd64", "linux/amd64", "linux/arm64", "windows/amd64"]
    assert ("bin/linux/amd64/kubeadm" in release.assets) is has_kubeadm
    assert ("bin/linux/arm64/kubeadm" in release.assets) is has_kubeadm
    assert release.assets["kubernetes-src.tar.gz"].os is None
    assert release.components["kubernetes"].commit and len(release.components["kubernetes"].commit) == 40


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_facts_fixture(manifest_name, manifest_path, arch):
    k8s, etcd, _components, _assets, date, has_kubeadm = EXPECTED[manifest_name]
    release = parse(manifest_path)
    facts = release_facts(release, arch=arch)
    ch, n = release.channel, release.number

    assert facts["name"] == f"kubernetes-{ch}-eks-{n}"
    assert (facts["channel"], facts["number"], facts["kubernetes_version"], facts["date"]) == (ch, n, k8s, date)
    assert (facts["arch"], facts["os"]) == (arch, "linux")
    assert facts["components"]["kubernetes"]["version"] == k8s
    assert set(facts["components"]) == set(release.components)

    artifacts = facts["artifacts"]
    expected_binaries = {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubectl", "kubelet"}
    if has_kubeadm:
        expected_binaries.add("kubeadm")
    binaries = {name.rsplit("/", 1)[1] for name in artifacts if name.startswith("bin/") and not name.endswith(".tar")}
    assert binaries == expected_binaries
    for tarball in TARBALLS:
        assert tarball.format(a=arch) in artifacts
    assert f"etcd-linux-{arch}-{etcd}.tar.gz" in artifacts
    assert len(artifacts) == (17 if has_kubeadm else 16)
    assert "kubernetes-src.tar.gz" not in artifacts
    other = "arm64" if arch == "amd64" else "amd64"
    for name, artifact in artifacts.items():
        assert other not in name and "windows" not in name and "darwin" not in name
        assert HEX64.match(artifact["sha256"]) and HEX128.match(artifact["sha512"])
        assert artifact["url"].startswith(f"https://distro.eks.amazonaws.com/kubernetes-{ch}/releases/{n}/artifacts/")
        assert artifact["url"].endswith("/" + name)
        assert artifact["component"] == release.assets[name].component

    etcd_url = artifacts[f"etcd-linux-{arch}-{etcd}.tar.gz"]["url"]
    assert etcd_url == (f"https://distro.eks.amazonaws.com/kubernetes-{ch}/releases/{n}/artifacts/etcd/{etcd}/etcd-linux-{arch}-{etcd}.tar.gz")
    assert artifacts[f"bin/linux/{arch}/kubelet"]["url"].endswith(f"/artifacts/kubernetes/{k8s}/bin/linux/{arch}/kubelet")
    assert artifacts[f"bin/linux/{arch}/kube-proxy"]["component"] == "kubernetes"

    assert set(facts["images"]) == IMAGES
    image_number = KUBE_IMAGE_RELEASE.get(manifest_name, n)
    assert facts["images"]["pause-image"].endswith(f"/kubernetes/pause:{k8s}-eks-{ch}-{image_number}")
    assert facts["images"]["kube-proxy-image"].endswith(f"/kubernetes/kube-proxy:{k8s}-eks-{ch}-{image_number}")
    assert facts["images"]["etcd-image"].endswith(f"/etcd-io/etcd:{etcd}-eks-{ch}-{n}")
    assert facts["image_digests"] == {}
    assert facts["components"]["kubernetes"]["images"] == [name for name in release.components["kubernetes"].assets if name in IMAGES]


def test_arm64_differs_from_amd64(manifest_path):
    release = parse(manifest_path)
    amd64 = release_facts(release, arch="amd64")
    arm64 = release_facts(release, arch="arm64")
    assert not set(amd64["artifacts"]) & set(arm64["artifacts"])
    assert {a["sha512"] for a in amd64["artifacts"].values()}.isdisjoint(a["sha512"] for a in arm64["artifacts"].values())
    assert amd64["images"] == arm64["images"]  # multi-arch images


def test_windows_and_darwin_selection(manifest_path):
    release = parse(manifest_path)
    windows = release_facts(release, arch="amd64", os="windows")
    assert "bin/windows/amd64/kubelet.exe" in windows["artifacts"]
    assert "kubernetes-node-windows-amd64.tar.gz" in windows["artifacts"]
    assert windows["images"] == {}
    darwin = release_facts(release, arch="amd64", os="darwin")
    assert "bin/darwin/amd64/kubectl" in darwin["artifacts"]
    with pytest.raises(
        ManifestError,
        match=r"no assets for darwin/arm64; expected one of the platforms it has: "
        r"darwin/amd64, linux/amd64, linux/arm64, windows/amd64",
    ):
        release_facts(release, arch="arm64", os="darwin")


@pytest.mark.parametrize("style", ["compact", "docs"])
def test_layout_does_not_matter(manifest_path, dump, style):
    """Re-indented, --- and comment header, components and assets in reverse order: same result."""
    original = parse(manifest_path)
    raw = yaml.safe_load(manifest_path.read_text())
    raw["status"]["components"].reverse()
    for component in raw["status"]["components"]:
        component["assets"].reverse()
    shuffled = parse_manifest(dump(raw, style), str(manifest_path))
    assert shuffled.components == {name: c.__class__(c.name, c.version, c.commit, tuple(reversed(c.assets))) for name, c in original.components.items()}
    assert shuffled.assets == original.assets
    for arch in ("amd64", "arm64"):
        facts, expected = release_facts(shuffled, arch), release_facts(original, arch)
        assert facts["artifacts"] == expected["artifacts"]
        assert facts["images"] == expected["images"]


def test_registry_less_images_of_1_19_1(fixture_path):
    release = parse(fixture_path("kubernetes-1-19-eks-1"))
    facts = release_facts(release, image_mirror="10.88.0.1:5000")
    assert release.assets["pause-image"].uri == "/kubernetes/pause:v1.19.6-eks-1-19-1"
    assert facts["images"]["pause-image"] == "10.88.0.1:5000/kubernetes/pause:v1.19.6-eks-1-19-1"


# --------------------------------------------------------------------------- current generator format


def test_current_format(current_format):
    doc = current_format()
    release = parse_document(doc, "current")
    assert len(release.components) == 13
    assert len(release.assets) == 61
    assert release.components["kube-proxy"].version == "v1.20.4"
    assert release.kubernetes_version == "v1.20.4"
    assert "snapshot-validation-webhook-image" not in release.assets

    facts = release_facts(release, arch="arm64", image_mirror="10.88.0.1:5000")
    proxy = facts["artifacts"]["bin/linux/arm64/kube-proxy"]
    assert proxy["component"] == "kube-proxy"
    assert proxy["url"] == ("https://distro.eks.amazonaws.com/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/bin/linux/arm64/kube-proxy")
    assert facts["artifacts"]["bin/linux/arm64/kube-proxy.tar"]["component"] == "kube-proxy"
    assert facts["artifacts"]["bin/linux/arm64/kubelet"]["component"] == "kubernetes"
    assert facts["components"]["kube-proxy"] == {"version": "v1.20.4", "images": ["kube-proxy-image"]}
    assert "kube-proxy-image" not in facts["components"]["kubernetes"]["images"]
    assert facts["images"]["kube-proxy-image"] == "10.88.0.1:5000/eks-distro/kubernetes/kube-proxy:v1.20.4-eks-1-20-1"
    assert facts["images"]["csi-attacher-image"] == "10.88.0.1:5000/csi-components/csi-attacher:v4.8.1-eksbuild.1"
    assert "external-attacher-image" not in facts["images"]
    assert set(facts["image_digests"]) == {name for name, uri in facts["images"].items() if "/csi-components/" not in uri}
    assert all(re.match(r"^sha256:[0-9a-f]{64}$", d) for d in facts["image_digests"].values())
    windows = release_facts(release, arch="amd64", os="windows")
    assert windows["artifacts"]["bin/windows/amd64/kube-proxy.exe"]["component"] == "kube-proxy"


@pytest.mark.parametrize("style", ["compact", "docs"])
def test_current_format_as_text(dump, current_format, style):
    assert parse_manifest(dump(current_format(), style)).assets == parse_document(current_format()).assets


@pytest.mark.parametrize(
    ("layout", "term", "expected"),
    [
        ("old", "kube-proxy", "public.ecr.aws/eks-distro/kubernetes/kube-proxy:v1.20.4-eks-1-20-1"),
        ("new", "kube-proxy", "public.ecr.aws/eks-distro/kubernetes/kube-proxy:v1.20.4-eks-1-20-1"),
        ("old", "kube-proxy-image", "public.ecr.aws/eks-distro/kubernetes/kube-proxy:v1.20.4-eks-1-20-1"),
        ("new", "kube-proxy-image", "public.ecr.aws/eks-distro/kubernetes/kube-proxy:v1.20.4-eks-1-20-1"),
        ("old", "pause", "public.ecr.aws/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1"),
        ("old", "coredns", "public.ecr.aws/eks-distro/coredns/coredns:v1.8.3-eks-1-20-1"),
        ("old", "etcd", "public.ecr.aws/eks-distro/etcd-io/etcd:v3.4.15-eks-1-20-1"),
        ("old", "external-attacher", "public.ecr.aws/eks-distro/kubernetes-csi/external-attacher:v3.1.0-eks-1-20-1"),
        ("new", "external-attacher", "public.ecr.aws/csi-components/csi-attacher:v4.8.1-eksbuild.1"),
        ("new", "csi-attacher-image", "public.ecr.aws/csi-components/csi-attacher:v4.8.1-eksbuild.1"),
        ("old", "snapshot-controller", "public.ecr.aws/eks-distro/kubernetes-csi/external-snapshotter/snapshot-controller:v3.0.3-eks-1-20-1"),
    ],
)
def test_find_image(load_doc, current_format, layout, term, expected):
    doc = load_doc("kubernetes-1-20-eks-1") if layout == "old" else current_format()
    assert find_image(release_facts(parse_document(doc)), term) == expected


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("external-snapshotter", r"component 'external-snapshotter' .* has several images \(csi-snapshotter-image, "),
        ("kubernetes", r"component 'kubernetes' .* has several images"),
        ("nginx", r"has no image 'nginx' for amd64; expected an image asset or component name such as "),
        ("cni-plugins", r"has no image 'cni-plugins'"),
    ],
)
def test_find_image_errors(load_doc, term, message):
    facts = release_facts(parse_document(load_doc("kubernetes-1-20-eks-1")))
    with pytest.raises(ManifestError, match=message):
        find_image(facts, term)


def test_find_artifact(load_doc):
    facts = release_facts(parse_document(load_doc("kubernetes-1-20-eks-1")))
    found = find_artifact(facts, "bin/linux/amd64/kubeadm")
    assert found == dict(facts["artifacts"]["bin/linux/amd64/kubeadm"], checksum="sha512:" + found["sha512"])
    assert found["checksum"].startswith("sha512:29990c41067b05bd")
    with pytest.raises(
        ManifestError,
        match=r"^release kubernetes-1-20-eks-1 has no artifact 'bin/linux/arm64/kubeadm' for linux/amd64; "
        r"expected an asset name such as bin/linux/amd64/kubeadm, .* \(17 in all\)$",
    ):
        find_artifact(facts, "bin/linux/arm64/kubeadm")
    with pytest.raises(ManifestError, match=r"release_data has no artifacts mapping"):
        find_artifact({"name": "x"}, "bin/linux/amd64/kubeadm")


# --------------------------------------------------------------------------- ids, rewriting


@pytest.mark.parametrize(
    ("text", "channel", "number"),
    [
        ("1-24-9", "1-24", 9),
        ("1.24-9", "1-24", 9),
        ("v1-24-eks-9", "1-24", 9),
        ("kubernetes-1-24-eks-9", "1-24", 9),
        ("1-24-eks-9", "1-24", 9),
        (" 1-36-7 ", "1-36", 7),
        ("v1-30-eks-21", "1-30", 21),
    ],
)
def test_parse_release_id(text, channel, number):
    rid = parse_release_id(text)
    assert rid == ReleaseId(channel, number)
    assert rid.name == f"kubernetes-{channel}-eks-{number}"
    assert rid.manifest_url() == f"https://distro.eks.amazonaws.com/kubernetes-{channel}/kubernetes-{channel}-eks-{number}.yaml"
    assert rid.manifest_url("http://10.0.0.1:8080/eksd/") == (f"http://10.0.0.1:8080/eksd/kubernetes-{channel}/kubernetes-{channel}-eks-{number}.yaml")


@pytest.mark.parametrize("text", ["", "1-24", "1-24-0", "1-24-eks", "v1.24.10", "latest", "kubernetes-1-24", "1-24-9-1", "01-24-9", None, 1249])
def test_parse_release_id_rejects(text):
    with pytest.raises(ManifestError, match=r"is not an EKS-D release id; expected <major>-<minor>-<number> such as 1-24-9"):
        parse_release_id(text)


@pytest.mark.parametrize(
    ("mirror", "expected"),
    [
        (None, "https://distro.eks.amazonaws.com/kubernetes-1-24/releases/9/artifacts/etcd/v3.5.6/etcd-linux-amd64-v3.5.6.tar.gz"),
        ("https://mirror.example.com", "https://mirror.example.com/kubernetes-1-24/releases/9/artifacts/etcd/v3.5.6/etcd-linux-amd64-v3.5.6.tar.gz"),
        ("http://10.0.0.1:8080/eksd", "http://10.0.0.1:8080/eksd/kubernetes-1-24/releases/9/artifacts/etcd/v3.5.6/etcd-linux-amd64-v3.5.6.tar.gz"),
        ("http://10.0.0.1:8080/eksd/", "http://10.0.0.1:8080/eksd/kubernetes-1-24/releases/9/artifacts/etcd/v3.5.6/etcd-linux-amd64-v3.5.6.tar.gz"),
    ],
)
def test_rewrite_artifact_url(mirror, expected):
    uri = "https://distro.eks.amazonaws.com/kubernetes-1-24/releases/9/artifacts/etcd/v3.5.6/etcd-linux-amd64-v3.5.6.tar.gz"
    assert rewrite_artifact_url(uri, mirror) == expected


@pytest.mark.parametrize(
    ("uri", "mirror", "expected"),
    [
        ("public.ecr.aws/eks-distro/kubernetes/pause:v1.24.10-eks-1-24-9", None, "public.ecr.aws/eks-distro/kubernetes/pause:v1.24.10-eks-1-24-9"),
        ("public.ecr.aws/eks-distro/kubernetes/pause:v1.24.10-eks-1-24-9", "10.88.0.1:5000", "10.88.0.1:5000/eks-distro/kubernetes/pause:v1.24.10-eks-1-24-9"),
        ("public.ecr.aws/eks-distro/kubernetes/pause:v1.24.10-eks-1-24-9", "10.88.0.1:5000/", "10.88.0.1:5000/eks-distro/kubernetes/pause:v1.24.10-eks-1-24-9"),
        (
            "public.ecr.aws/csi-components/csi-attacher:v4.8.1-eksbuild.1",
            "registry.lab:5000",
            "registry.lab:5000/csi-components/csi-attacher:v4.8.1-eksbuild.1",
        ),
        ("public.ecr.aws/eks-distro/coredns/coredns:v1.8.3-eks-1-20-1", "mirror.lab/ecr", "mirror.lab/ecr/eks-distro/coredns/coredns:v1.8.3-eks-1-20-1"),
        ("public.ecr.aws/eks-distro/etcd-io/etcd@sha256:" + "a" * 64, "10.88.0.1:5000", "10.88.0.1:5000/eks-distro/etcd-io/etcd@sha256:" + "a" * 64),
        ("/kubernetes/pause:v1.19.6-eks-1-19-1", "10.88.0.1:5000", "10.88.0.1:5000/kubernetes/pause:v1.19.6-eks-1-19-1"),
        ("localhost:5000/eks-distro/pause:1", "10.88.0.1:5000", "10.88.0.1:5000/eks-distro/pause:1"),
        ("eks-distro/kubernetes/pause:1", "10.88.0.1:5000", "10.88.0.1:5000/eks-distro/kubernetes/pause:1"),
    ],
)
def test_rewrite_image(uri, mirror, expected):
    assert rewrite_image(uri, mirror) == expected


def test_split_image():
    assert split_image("public.ecr.aws/eks-distro/kubernetes/pause:v1") == ("public.ecr.aws", "eks-distro/kubernetes/pause:v1")
    assert split_image("library/busybox:1") == ("", "library/busybox:1")


def test_mirrors_in_facts(load_doc):
    release = parse_document(load_doc("kubernetes-1-20-eks-1"))
    facts = release_facts(release, artifact_mirror="http://10.0.0.1:8080/eksd", image_mirror="10.88.0.1:5000", allow_http=True)
    assert facts["artifacts"]["bin/linux/amd64/kubelet"]["url"] == (
        "http://10.0.0.1:8080/eksd/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/bin/linux/amd64/kubelet"
    )
    assert all(url.startswith("10.88.0.1:5000/eks-distro/") for url in facts["images"].values())


# --------------------------------------------------------------------------- bad cases


def _component(doc, name):
    return next(c for c in doc["status"]["components"] if c["name"] == name)


def _asset(doc, name):
    return next(a for c in doc["status"]["components"] for a in c["assets"] if a["name"] == name)


def _mutate(fn):
    def apply(doc):
        fn(doc)
        return doc

    return apply


ETCD = "etcd-linux-amd64-v3.4.15.tar.gz"
BAD_DOCUMENTS = [
    (
        "wrong kind",
        _mutate(lambda d: d.update(kind="ReleaseChannel")),
        r"has apiVersion 'distro.eks.amazonaws.com/v1alpha1', kind 'ReleaseChannel'; expected apiVersion distro.eks.amazonaws.com/v1alpha1, kind Release",
    ),
    (
        "wrong apiVersion",
        _mutate(lambda d: d.update(apiVersion="distro.eks.amazonaws.com/v1")),
        r"has apiVersion 'distro.eks.amazonaws.com/v1', kind 'Release'; expected apiVersion distro.eks.amazonaws.com/v1alpha1",
    ),
    ("no status", _mutate(lambda d: d.pop("status")), r"status is missing; expected a mapping with components"),
    ("no components", _mutate(lambda d: d["status"].pop("components")), r"status.components is missing; expected a non-empty list"),
    ("empty components", _mutate(lambda d: d["status"].update(components=[])), r"status.components is empty or not a list"),
    (
        "no sha256",
        _mutate(lambda d: _asset(d, ETCD)["archive"].pop("sha256")),
        r"\(etcd-linux-amd64-v3.4.15.tar.gz\).archive has no sha256; expected both sha256 and sha512 digests",
    ),
    (
        "no sha512",
        _mutate(lambda d: _asset(d, ETCD)["archive"].pop("sha512")),
        r"\(etcd-linux-amd64-v3.4.15.tar.gz\).archive has no sha512; expected both sha256 and sha512 digests",
    ),
    (
        "short sha256",
        _mutate(lambda d: _asset(d, ETCD)["archive"].update(sha256="ab" * 31)),
        r"\(etcd-linux-amd64-v3.4.15.tar.gz\).archive.sha256 is 'abab.*'; expected 64 hex digits",
    ),
    ("sha512 not hex", _mutate(lambda d: _asset(d, ETCD)["archive"].update(sha512="z" * 128)), r"archive.sha512 is 'zzz.*'; expected 128 hex digits"),
    (
        "sha256 in sha512",
        _mutate(lambda d: _asset(d, ETCD)["archive"].update(sha512=_asset(d, ETCD)["archive"]["sha256"])),
        r"archive.sha512 is '[0-9a-f]{64}'; expected 128 hex digits",
    ),
    ("digest as int", _mutate(lambda d: _asset(d, ETCD)["archive"].update(sha256=12)), r"archive.sha256 is 12; expected 64 hex digits"),
    ("archive uri not a URL", _mutate(lambda d: _asset(d, ETCD)["archive"].update(uri="etcd.tar.gz")), r"archive.uri is 'etcd.tar.gz'; expected an https URL"),
    ("no archive", _mutate(lambda d: _asset(d, ETCD).pop("archive")), r"\(etcd-linux-amd64-v3.4.15.tar.gz\).archive is missing"),
    ("bad type", _mutate(lambda d: _asset(d, ETCD).update(type="Tarball")), r"type is 'Tarball'; expected Archive or Image"),
    (
        "bad imageDigest",
        _mutate(lambda d: _asset(d, "pause-image")["image"].update(imageDigest="sha256:abc")),
        r"\(pause-image\).image.imageDigest is 'sha256:abc'; expected sha256:<64 hex digits>",
    ),
    (
        "channel mismatch",
        _mutate(lambda d: d["spec"].update(channel="1-19")),
        r"spec.channel '1-19' / spec.number 1 do not match metadata.name 'kubernetes-1-20-eks-1'; expected channel '1-20', number 1",
    ),
    (
        "number mismatch",
        _mutate(lambda d: d["spec"].update(number=2)),
        r"spec.channel '1-20' / spec.number 2 do not match metadata.name 'kubernetes-1-20-eks-1'",
    ),
    ("number as string", _mutate(lambda d: d["spec"].update(number="1")), r"spec.number is '1' \(str\); expected the integer 1"),
    ("bad name", _mutate(lambda d: d["metadata"].update(name="eks-1-20")), r"metadata.name is 'eks-1-20'; expected kubernetes-<channel>-eks-<number>"),
    ("no kubernetes", _mutate(lambda d: d["status"]["components"].remove(_component(d, "kubernetes"))), r"has no component named kubernetes"),
    (
        "duplicate asset",
        _mutate(lambda d: _component(d, "coredns")["assets"].append(copy.deepcopy(_asset(d, ETCD)))),
        r"asset 'etcd-linux-amd64-v3.4.15.tar.gz' appears twice \(components etcd and coredns\)",
    ),
    ("duplicate component", _mutate(lambda d: d["status"]["components"].append(copy.deepcopy(_component(d, "coredns")))), r"component 'coredns' appears twice"),
    ("component without gitTag", _mutate(lambda d: _component(d, "coredns").pop("gitTag")), r"status.components\[\d+\] \(coredns\).gitTag is missing"),
]


@pytest.mark.parametrize(("mutate", "message"), [case[1:] for case in BAD_DOCUMENTS], ids=[case[0] for case in BAD_DOCUMENTS])
def test_bad_document(dump, load_doc, mutate, message):
    doc = mutate(load_doc("kubernetes-1-20-eks-1"))
    with pytest.raises(ManifestError, match=r"^manifest bad.yaml.*" + message):
        parse_manifest(dump(doc), "bad.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: [unclosed\n", r"manifest t is not valid YAML \(.*\); expected one Release document"),
        ("a: 1\n---\nb: 2\n", r"manifest t is not valid YAML .*expected a single document"),
        ("- apiVersion: distro.eks.amazonaws.com/v1alpha1\n", r"manifest t is not a mapping \(got list\); expected a Release document"),
        ("just text\n", r"manifest t is not a mapping \(got str\)"),
        ("", r"manifest t is empty; expected a Release document"),
        ("# only a comment\n", r"manifest t is empty"),
        (b"\xff\xfe\x00", r"manifest t is not UTF-8 text"),
        ("<html><body>Not Found</body></html>\n", r"manifest t is not a mapping \(got str\)"),
    ],
)
def test_not_a_manifest(text, message):
    with pytest.raises(ManifestError, match=message):
        parse_manifest(text, "t")


def test_no_assets_for_arch(load_doc):
    doc = load_doc("kubernetes-1-20-eks-1")
    for component in doc["status"]["components"]:
        component["assets"] = [a for a in component["assets"] if a.get("arch") != ["arm64"]]
    release = parse_document(doc, "stripped.yaml")
    assert release_facts(release, arch="amd64")["artifacts"]
    with pytest.raises(
        ManifestError,
        match=r"^manifest stripped.yaml has no assets for linux/arm64; expected one of the "
        r"platforms it has: darwin/amd64, linux/amd64, windows/amd64$",
    ):
        release_facts(release, arch="arm64")


@pytest.mark.parametrize(
    ("arch", "os", "message"),
    [
        ("s390x", "linux", r"^arch 's390x' is not supported; expected one of amd64, arm64$"),
        ("x86_64", "linux", r"^arch 'x86_64' is not supported"),
        ("amd64", "plan9", r"^os 'plan9' is not supported; expected one of linux, windows, darwin$"),
    ],
)
def test_unsupported_platform(load_doc, arch, os, message):
    release = parse_document(load_doc("kubernetes-1-20-eks-1"))
    with pytest.raises(ManifestError, match=message):
        select_assets(release, arch, os)


def test_http_artifacts_need_allow_http(load_doc):
    doc = load_doc("kubernetes-1-20-eks-1")
    for component in doc["status"]["components"]:
        for asset in component["assets"]:
            if asset["type"] == "Archive":
                asset["archive"]["uri"] = asset["archive"]["uri"].replace("https://", "http://")
    release = parse_document(doc)
    with pytest.raises(
        ManifestError,
        match=r"^artifact \S+ URL http://distro.eks.amazonaws.com/\S+ uses plain http; "
        r"expected https, or set allow_http=true",
    ):
        release_facts(release)
    assert release_facts(release, allow_http=True)["artifacts"]["bin/linux/amd64/kubelet"]["url"].startswith("http://")
    # moving them onto an https mirror makes them https again
    facts = release_facts(release, artifact_mirror="https://mirror.example.com")
    assert all(a["url"].startswith("https://mirror.example.com/kubernetes-1-20/") for a in facts["artifacts"].values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"artifact_mirror": "http://10.0.0.1:8080/eksd"},
            r"^artifact_mirror http://10.0.0.1:8080/eksd uses plain http; expected https, or set allow_http=true",
        ),
        ({"artifact_mirror": "ftp://mirror"}, r"^artifact_mirror 'ftp://mirror' is not an http\(s\) URL with a host"),
        ({"artifact_mirror": "mirror.example.com"}, r"^artifact_mirror 'mirror.example.com' is not an http\(s\) URL"),
        ({"artifact_mirror": "https://m.example.com/x?y=1"}, r"has a query or fragment; expected a base URL"),
        (
            {"image_mirror": "https://10.88.0.1:5000"},
            r"^image_mirror 'https://10.88.0.1:5000' is not a registry; expected host\[:port\]\[/path\] without a scheme",
        ),
        ({"image_mirror": "10.88.0.1:5000/UPPER"}, r"^image_mirror '10.88.0.1:5000/UPPER' is not a registry"),
        ({"image_mirror": "a b"}, r"is not a registry"),
    ],
)
def test_bad_mirrors(load_doc, kwargs, message):
    release = parse_document(load_doc("kubernetes-1-20-eks-1"))
    with pytest.raises(ManifestError, match=message):
        release_facts(release, **kwargs)


def test_unquoted_date_is_normalised(dump, load_doc):
    text = dump(load_doc("kubernetes-1-20-eks-1")).replace("date: '2021-05-18T15:19:01Z'", "date: 2021-05-18T15:19:01Z")
    assert "date: 2021-05-18T15:19:01Z" in text
    assert parse_manifest(text).date == "2021-05-18T15:19:01Z"


def test_source_named_in_errors(manifest_path):
    text = manifest_path.read_text().replace("kind: Release", "kind: Nope")
    with pytest.raises(ManifestError, match=re.escape(f"manifest {manifest_path} has apiVersion")):
        parse_manifest(text, str(manifest_path))
