"""plugins/modules/release_info.py: argument handling, check mode, error mapping."""

from __future__ import annotations

import re

import pytest
from ansible_collections.eksd.distro.plugins.module_utils._fetch import load_release
from ansible_collections.eksd.distro.plugins.module_utils._manifest import release_facts
from ansible_collections.eksd.distro.plugins.modules import release_info
from ansible_collections.eksd.distro.tests.unit.plugins.modules.module_harness import run_main


def run_module(args: dict, check_mode: bool = False) -> dict:
    """Run release_info.main() with ``args``; return its exit_json or fail_json arguments."""
    return run_main(release_info.main, args, check_mode)


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_every_fixture(manifest_path, arch):
    result = run_module({"manifest": str(manifest_path), "arch": arch})
    assert result["changed"] is False
    assert "failed" not in result
    release = result["release"]
    assert release == release_facts(
        load_release(str(manifest_path)), arch=arch, manifest_url=str(manifest_path), manifest_file=str(manifest_path)
    )
    assert set(release) >= {"name", "channel", "number", "kubernetes_version", "manifest_url", "date", "components",
                            "artifacts", "images"}
    assert release["name"] == manifest_path.stem
    assert release["kubernetes_version"] == release["components"]["kubernetes"]["version"]
    assert all(a["url"].startswith("https://distro.eks.amazonaws.com/") for a in release["artifacts"].values())
    assert all(f"/{arch}/" in name or f"-{arch}" in name for name in release["artifacts"])


def test_check_mode_same_result(fixture_path):
    args = {"manifest": str(fixture_path("kubernetes-1-20-eks-1")), "release": "1-20-1"}
    assert run_module(args, check_mode=True) == run_module(args)


def test_mirrors(fixture_path):
    result = run_module({
        "release": "kubernetes-1-20-eks-1",
        "manifest": "file://" + str(fixture_path("kubernetes-1-20-eks-1")),
        "artifact_mirror": "http://10.0.0.1:8080/eksd",
        "image_mirror": "10.88.0.1:5000",
        "allow_http": True,
    })
    release = result["release"]
    assert release["artifacts"]["bin/linux/amd64/kubeadm"]["url"] == (
        "http://10.0.0.1:8080/eksd/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/bin/linux/amd64/kubeadm"
    )
    assert release["images"]["coredns-image"] == "10.88.0.1:5000/eks-distro/coredns/coredns:v1.8.3-eks-1-20-1"


def test_http_with_cache(http_server, fixture_path, tmp_path):
    http_server.serve("/kubernetes-1-20/kubernetes-1-20-eks-1.yaml", fixture_path("kubernetes-1-20-eks-1").read_bytes())
    args = {"release": "1-20-1", "base_url": http_server.base, "allow_http": True, "cache_dir": str(tmp_path)}
    first = run_module(args)
    assert run_module(args) == first
    assert first["release"]["manifest_url"] == http_server.base + "/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"
    assert len(http_server.hits) == 1
    # The cache's copy is the manifest as served: a later step reads it there instead of fetching again.
    kept = first["release"]["manifest_file"]
    assert kept.startswith(str(tmp_path) + "/")
    with open(kept, "rb") as handle:
        assert handle.read() == fixture_path("kubernetes-1-20-eks-1").read_bytes()


def test_http_without_cache_keeps_no_file(http_server, fixture_path):
    http_server.serve("/kubernetes-1-20/kubernetes-1-20-eks-1.yaml", fixture_path("kubernetes-1-20-eks-1").read_bytes())
    result = run_module({"release": "1-20-1", "base_url": http_server.base, "allow_http": True})
    assert result["release"]["manifest_file"] is None


def test_file_url_names_its_file(fixture_path):
    path = fixture_path("kubernetes-1-20-eks-1")
    result = run_module({"manifest": "file://" + str(path)})
    assert result["release"]["manifest_file"] == str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, r"^one of the following is required: release, manifest$"),
        ({"release": "1-20-1", "arch": "s390x"}, r"^value of arch must be one of: amd64, arm64, got: s390x$"),
        ({"release": "1-20-1", "os": "plan9"}, r"^value of os must be one of: linux, windows, darwin, got: plan9$"),
        ({"release": "1.20.x"}, r"^release '1.20.x' is not an EKS-D release id or channel; expected a release such as 1-24-9"),
        ({"release": "1.20", "base_url": "http://127.0.0.1:9"},
         r"^release channel URL http://127.0.0.1:9/releasechannels/1-20.yaml uses plain http"),
        ({"release": "1-20", "manifest": "@kubernetes-1-19-eks-4"},
         r"is release kubernetes-1-19-eks-4 \(channel 1-19\); expected a release of the requested channel 1-20$"),
        ({"manifest": "/nonexistent/m.yaml"}, r"^manifest file /nonexistent/m.yaml does not exist"),
        ({"release": "1-20-1", "base_url": "http://127.0.0.1:9"}, r"^manifest URL http://127.0.0.1:9/\S+ uses plain http"),
        ({"release": "1-20-1", "artifact_mirror": "http://10.0.0.1:8080/eksd"}, r"^artifact_mirror http://10.0.0.1:8080/eksd uses plain http"),
        ({"release": "1-20-1", "image_mirror": "https://10.88.0.1:5000"}, r"^image_mirror 'https://10.88.0.1:5000' is not a registry"),
        ({"release": "1-20-2", "manifest": "@kubernetes-1-20-eks-1"}, r"expected the requested release kubernetes-1-20-eks-2$"),
        ({"manifest": "@stripped"}, r"has no assets for linux/arm64; expected one of the platforms it has: darwin/amd64, linux/amd64"),
        ({"manifest": "@not-yaml"}, r"is not valid YAML"),
        ({"manifest": "@list"}, r"is not a mapping \(got list\)"),
        ({"manifest": "@http-artifacts"}, r"^artifact \S+ URL http://\S+ uses plain http"),
    ],
)
def test_failures(fixture_path, load_doc, dump_manifest, args, message):
    """Every ManifestError comes back as fail_json(msg=...), never as a traceback."""
    manifest = args.get("manifest", "")
    if manifest in ("@kubernetes-1-20-eks-1", "@kubernetes-1-19-eks-4"):
        args = dict(args, manifest=str(fixture_path(manifest[1:])))
    elif manifest == "@stripped":
        doc = load_doc("kubernetes-1-20-eks-1")
        for component in doc["status"]["components"]:
            component["assets"] = [a for a in component["assets"] if "arm64" not in a.get("arch", [])]
        args = dict(args, manifest=str(dump_manifest(doc)), arch="arm64")
    elif manifest == "@not-yaml":
        args = dict(args, manifest=str(dump_manifest("kind: [\n")))
    elif manifest == "@list":
        args = dict(args, manifest=str(dump_manifest("- 1\n")))
    elif manifest == "@http-artifacts":
        text = fixture_path("kubernetes-1-20-eks-1").read_text().replace("uri: https://", "uri: http://")
        args = dict(args, manifest=str(dump_manifest(text)))
    result = run_module(args)
    assert result["failed"] is True
    assert "release" not in result
    assert re.search(message, result["msg"]), result["msg"]
