"""The offline mirror is a faithful EKS-D stand-in: real binaries, real digests, EKS-D layout."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

EKSD_SITE = "https://distro.eks.amazonaws.com/"


def archives(manifest: dict) -> list[tuple[str, dict]]:
    return [(c["name"], a) for c in manifest["status"]["components"] for a in c["assets"] if a["type"] == "Archive"]


def local_path(mirror_root: Path, uri: str) -> Path:
    assert uri.startswith(EKSD_SITE), uri
    return mirror_root / uri[len(EKSD_SITE):]


def digest(path: Path, algo: str) -> str:
    return hashlib.new(algo, path.read_bytes()).hexdigest()


def component_version(manifest: dict, name: str) -> str:
    return next(c["gitTag"] for c in manifest["status"]["components"] if c["name"] == name)


def test_manifest_names_the_release_like_the_real_site(manifest, manifest_path):
    assert manifest["apiVersion"] == "distro.eks.amazonaws.com/v1alpha1"
    assert manifest["kind"] == "Release"
    channel, number = manifest["spec"]["channel"], manifest["spec"]["number"]
    assert manifest["metadata"]["name"] == f"kubernetes-{channel}-eks-{number}" == manifest_path.stem
    names = {c["name"] for c in manifest["status"]["components"]}
    assert {"kubernetes", "etcd", "cni-plugins", "coredns"} <= names
    for _, asset in archives(manifest):
        uri = asset["archive"]["uri"]
        assert uri.startswith(f"{EKSD_SITE}kubernetes-{channel}/releases/{number}/artifacts/"), uri
        assert uri.endswith("/" + asset["name"])
    for comp in manifest["status"]["components"]:
        for asset in comp["assets"]:
            if asset["type"] == "Image":
                assert asset["image"]["uri"].startswith("public.ecr.aws/eks-distro/")
                assert asset["image"]["uri"].endswith(f"-eks-{channel}-{number}")
                assert re.fullmatch(r"sha256:[0-9a-f]{64}", asset["image"]["imageDigest"])


@pytest.mark.parametrize("algo", ["sha256", "sha512"])
def test_every_archive_matches_its_manifest_digest_and_sidecar(mirror_root, manifest, algo):
    checked = 0
    for _, asset in archives(manifest):
        path = local_path(mirror_root, asset["archive"]["uri"])
        expected = asset["archive"][algo]
        assert digest(path, algo) == expected, f"{asset['name']}: {algo} mismatch"
        sidecar = Path(f"{path}.{algo}").read_text().split()
        assert sidecar == [expected, path.name]
        checked += 1
    assert checked >= 10


def test_a_corrupted_copy_fails_its_digest_check(mirror_root, manifest, tmp_path):
    _, asset = next((c, a) for c, a in archives(manifest) if a["name"].endswith("/kubelet"))
    good = local_path(mirror_root, asset["archive"]["uri"])
    bad = tmp_path / "kubelet"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    assert digest(good, "sha512") == asset["archive"]["sha512"]
    assert digest(bad, "sha512") != asset["archive"]["sha512"]


def test_tarballs_have_the_eksd_inner_layout(mirror_root, manifest):
    layouts = {
        r"kubernetes-server-linux-amd64\.tar\.gz": {"kubernetes/server/bin/kube-apiserver", "kubernetes/server/bin/kubelet",
                                                    "kubernetes/server/bin/kubeadm", "kubernetes/ATTRIBUTION.txt"},
        r"kubernetes-node-linux-amd64\.tar\.gz": {"kubernetes/node/bin/kubelet", "kubernetes/node/bin/kube-proxy"},
        r"kubernetes-client-linux-amd64\.tar\.gz": {"kubernetes/client/bin/kubectl"},
        r"etcd-linux-amd64-v[\d.]+\.tar\.gz": {"etcd", "etcdctl", "ATTRIBUTION.txt"},
        r"cni-plugins-linux-amd64-v[\d.]+\.tar\.gz": {"bridge", "host-local", "loopback", "portmap", "ATTRIBUTION.txt"},
    }
    for pattern, expected in layouts.items():
        asset = next(a for _, a in archives(manifest) if re.fullmatch(pattern, a["name"]))
        with tarfile.open(local_path(mirror_root, asset["archive"]["uri"])) as tar:
            assert expected <= set(tar.getnames()), asset["name"]


def version_of(binary: Path, *args: str) -> str:
    proc = subprocess.run([str(binary), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    return proc.stdout


def test_built_binaries_report_the_manifest_versions(mirror_root, manifest, tmp_path):
    kube = component_version(manifest, "kubernetes")
    bins = {a["name"].rsplit("/", 1)[-1]: local_path(mirror_root, a["archive"]["uri"])
            for _, a in archives(manifest) if a["name"].startswith("bin/linux/amd64/")}
    assert set(bins) >= {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
                         "kubectl", "kubeadm"}
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
        assert version_of(bins[name], "--version").strip() == f"Kubernetes {kube}", name
    client = json.loads(version_of(bins["kubectl"], "version", "--client", "--output=json"))
    assert client["clientVersion"]["gitVersion"] == kube
    assert version_of(bins["kubeadm"], "version", "-o", "short").strip() == kube

    etcd_v = component_version(manifest, "etcd")
    etcd_tar = next(a for _, a in archives(manifest) if a["name"].startswith("etcd-linux-amd64"))
    cni_v = component_version(manifest, "cni-plugins")
    cni_tar = next(a for _, a in archives(manifest) if a["name"].startswith("cni-plugins-linux-amd64"))
    for asset in (etcd_tar, cni_tar):
        with tarfile.open(local_path(mirror_root, asset["archive"]["uri"])) as tar:
            tar.extractall(tmp_path / asset["name"])
    etcd_dir = tmp_path / etcd_tar["name"]
    assert f"etcd Version: {etcd_v.lstrip('v')}" in version_of(etcd_dir / "etcd", "--version")
    assert f"etcdctl version: {etcd_v.lstrip('v')}" in version_of(etcd_dir / "etcdctl", "version")
    bridge = subprocess.run([str(tmp_path / cni_tar["name"] / "bridge")], env={"CNI_COMMAND": "VERSION"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, input="{}", timeout=30)
    assert "cniVersion" in bridge.stdout
    about = subprocess.run([str(tmp_path / cni_tar["name"] / "bridge")], env={}, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
    assert cni_v in about.stdout, about.stdout


def test_coredns_and_pause_images_are_built_from_the_release(mirror_root, manifest):
    images = {a["name"]: a["image"] for c in manifest["status"]["components"] for a in c["assets"] if a["type"] == "Image"}
    assert {"pause-image", "coredns-image"} <= set(images)
    coredns_v = component_version(manifest, "coredns")
    assert images["coredns-image"]["uri"].split(":")[-1].startswith(coredns_v + "-eks-")
    for name, image in images.items():
        repo, tag = image["uri"].removeprefix("public.ecr.aws/").rsplit(":", 1)
        layout = mirror_root / "images" / repo.removeprefix("eks-distro/") / tag
        index = (layout / "index.json").read_text()
        assert image["imageDigest"] in index, name
