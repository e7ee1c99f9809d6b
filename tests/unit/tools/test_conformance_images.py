"""The pure parts of tools/conformance/build_images.py: KUBE_TEST_REPO_LIST, image names, busybox applets."""
from __future__ import annotations

import pytest

# tools/ is not part of the collection: ansible-test's copy of the tree has no such module
build_images = pytest.importorskip("build_images", reason="tools/ is not in this copy of the collection")

# Abridged from k8s.io/kubernetes v1.24.7 test/utils/image/manifest.go
MANIFEST_124 = """
// RegistryList holds public and private image registries
type RegistryList struct {
\tGcAuthenticatedRegistry  string `yaml:"gcAuthenticatedRegistry"`
\tPromoterE2eRegistry      string `yaml:"promoterE2eRegistry"`
\tInvalidRegistry          string `yaml:"invalidRegistry"`
\tGcEtcdRegistry           string `yaml:"gcEtcdRegistry"`
\tGcRegistry               string `yaml:"gcRegistry"`
\tPrivateRegistry          string `yaml:"privateRegistry"`
\tDockerLibraryRegistry    string `yaml:"dockerLibraryRegistry"`
}

var (
\tinitRegistry = RegistryList{
\t\tGcAuthenticatedRegistry:  "gcr.io/authenticated-image-pulling",
\t\tPromoterE2eRegistry:      "k8s.gcr.io/e2e-test-images",
\t\tInvalidRegistry:          "invalid.registry.k8s.io/invalid",
\t\tGcEtcdRegistry:           "k8s.gcr.io",
\t\tGcRegistry:               "k8s.gcr.io",
\t\tPrivateRegistry:          "gcr.io/k8s-authenticated-test",
\t\tDockerLibraryRegistry:    "docker.io/library",
\t}
)
"""

# v1.36.2: no gcAuthenticatedRegistry, a comment inside the literal
MANIFEST_136 = """
type RegistryList struct {
\tPromoterE2eRegistry      string `yaml:"promoterE2eRegistry"`
\tInvalidRegistry          string `yaml:"invalidRegistry"`
\tGcRegistry               string `yaml:"gcRegistry"`
}

var (
\tinitRegistry = RegistryList{
\t\t// TODO: https://github.com/kubernetes/kubernetes/issues/130271
\t\tPromoterE2eRegistry:      "registry.k8s.io/e2e-test-images",
\t\tInvalidRegistry:          "invalid.registry.k8s.io/invalid",
\t\tGcRegistry:               "registry.k8s.io",
\t}
)
"""


def test_registry_defaults_by_yaml_key():
    assert build_images.registry_defaults(MANIFEST_124) == {
        "gcAuthenticatedRegistry": "gcr.io/authenticated-image-pulling",
        "promoterE2eRegistry": "k8s.gcr.io/e2e-test-images",
        "invalidRegistry": "invalid.registry.k8s.io/invalid",
        "gcEtcdRegistry": "k8s.gcr.io",
        "gcRegistry": "k8s.gcr.io",
        "privateRegistry": "gcr.io/k8s-authenticated-test",
        "dockerLibraryRegistry": "docker.io/library",
    }
    assert build_images.registry_defaults(MANIFEST_136) == {
        "promoterE2eRegistry": "registry.k8s.io/e2e-test-images",
        "invalidRegistry": "invalid.registry.k8s.io/invalid",
        "gcRegistry": "registry.k8s.io",
    }


def test_registry_defaults_refuses_other_text():
    with pytest.raises(ValueError):
        build_images.registry_defaults("package image\n")


def test_repo_list_moves_registries_keeps_paths_and_the_ones_meant_to_fail():
    got = build_images.repo_list(build_images.registry_defaults(MANIFEST_124), "10.89.74.1:5474")
    assert got == {
        "gcAuthenticatedRegistry": "gcr.io/authenticated-image-pulling",
        "promoterE2eRegistry": "10.89.74.1:5474/e2e-test-images",
        "invalidRegistry": "invalid.registry.k8s.io/invalid",
        "gcEtcdRegistry": "10.89.74.1:5474",
        "gcRegistry": "10.89.74.1:5474",
        "privateRegistry": "gcr.io/k8s-authenticated-test",
        "dockerLibraryRegistry": "10.89.74.1:5474/library",
    }


def test_split_image_and_the_pushed_name_matches_the_repo_list():
    host, repo, tag = build_images.split_image("k8s.gcr.io/e2e-test-images/agnhost:2.39")
    assert (host, repo, tag) == ("k8s.gcr.io", "e2e-test-images/agnhost", "2.39")
    assert build_images.split_image("registry.k8s.io/pause:3.10.2") == ("registry.k8s.io", "pause", "3.10.2")
    # what e2e.test asks for with the repo list == where push puts it
    reg = build_images.repo_list({"promoterE2eRegistry": "k8s.gcr.io/e2e-test-images"}, "r:5")["promoterE2eRegistry"]
    assert f"{reg}/agnhost:{tag}" == f"r:5/{repo}:{tag}"


def test_images_pushed_under_a_mirrored_name_keep_its_path():
    name = "public.ecr.aws/eks-distro/conformance"
    assert build_images.pushed_repo(name, "e2e-test-images/agnhost") == "eks-distro/conformance/e2e-test-images/agnhost"
    assert build_images.pushed_repo("10.89.74.1:5474", "pause") == "pause"
    # what e2e.test asks for with the repo list == the suite's name of where push puts it
    reg = build_images.repo_list({"promoterE2eRegistry": "registry.k8s.io/e2e-test-images"}, name)["promoterE2eRegistry"]
    assert reg == "public.ecr.aws/eks-distro/conformance/e2e-test-images"
    assert reg.split("/", 1)[1] + "/agnhost" == build_images.pushed_repo(name, "e2e-test-images/agnhost")


def test_busybox_links():
    out = "bin/busybox\nusr/bin/[\nbin/sh\nusr/sbin/httpd\n\n"
    assert build_images.busybox_links(out) == ["/bin/sh", "/usr/bin/[", "/usr/sbin/httpd"]


def test_wanted_keeps_known_kinds_only():
    record = {"conformance_package_images": {
        "Agnhost": "k8s.gcr.io/e2e-test-images/agnhost:2.39",
        "InvalidRegistryImage": "invalid.registry.k8s.io/invalid/alpine:3.1",
        "Pause": "k8s.gcr.io/pause:3.7",
        "JessieDnsutils": "k8s.gcr.io/e2e-test-images/jessie-dnsutils:1.5",
        "CudaVectorAdd": "k8s.gcr.io/cuda-vector-add:1.0",
    }}
    assert list(build_images.wanted(record)) == ["Agnhost", "JessieDnsutils", "Pause"]


def test_ldd_paths():
    out = """\tlinux-vdso.so.1 (0x00007f8d65647000)
\tlibbsd.so.0 => /lib/x86_64-linux-gnu/libbsd.so.0 (0x00007f8d65595000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f8d653a2000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f8d65649000)
"""
    assert build_images.ldd_paths(out) == ["/lib/x86_64-linux-gnu/libbsd.so.0", "/lib/x86_64-linux-gnu/libc.so.6",
                                           "/lib64/ld-linux-x86-64.so.2"]


APT_SIMULATE = """NOTE: This is only a simulation!
Inst gcc-12-base (12.2.0-14 Debian:12.12/stable [amd64])
Inst libc6 (2.36-9+deb12u14 Debian-Security:12/stable-security [amd64])
Conf libc6 (2.36-9+deb12u14 Debian-Security:12/stable-security [amd64])
Inst netcat-openbsd (1.219-1 Debian:12.12/stable [amd64])
"""


def test_apt_closure_reads_the_simulated_installs():
    assert build_images.apt_closure(APT_SIMULATE) == [
        ("gcc-12-base", "12.2.0-14"), ("libc6", "2.36-9+deb12u14"), ("netcat-openbsd", "1.219-1")]
    assert build_images.apt_closure("E: Unable to locate package nope\n") == []


def test_applet_links_leave_the_debian_commands_alone():
    links = ["/bin/sh", "/bin/sleep", "/usr/bin/nc", "/usr/bin/awk", "/bin/hostname"]
    # Debian has /bin/nc (alternatives) and /bin/sh (dash): busybox's /usr/bin/nc would come first in PATH
    assert build_images.applet_links(links, {"sh", "nc", "awk", "dash"}) == ["/bin/sleep", "/bin/hostname"]


def test_debian_and_new_kinds():
    for const in ("JessieDnsutils", "GlibcDnsTesting", "APIServer", "Etcd"):
        assert const in build_images.KINDS
    assert "/bin/nc" in build_images.ALTERNATIVES and "netcat-openbsd" in build_images.DEBIAN_PACKAGES
