"""The pure parts of tools/conformance/build_e2e.py: go.mod reading, version stamping, the test image list."""
from __future__ import annotations

import pytest

# tools/ is not part of the collection: ansible-test's copy of the tree has no such module
build_e2e = pytest.importorskip("build_e2e", reason="tools/ is not in this copy of the collection")

# Abridged from k8s.io/kubernetes v1.24.7 and v1.36.2 go.mod
GOMOD_124 = """module k8s.io/kubernetes

go 1.16

require (
\tgithub.com/onsi/ginkgo v1.14.0
\tgithub.com/onsi/gomega v1.10.1
\tk8s.io/api v0.0.0
)

replace (
\tgithub.com/onsi/ginkgo => github.com/onsi/ginkgo v1.14.0
\tk8s.io/api => ./staging/src/k8s.io/api
\tgolang.org/x/net v1.0.0 => golang.org/x/net v1.2.0
)
"""
GOMOD_136 = """module k8s.io/kubernetes

go 1.25.0

require (
\tgithub.com/onsi/ginkgo/v2 v2.28.1
\tgithub.com/onsi/gomega v1.39.1
)

replace k8s.io/api => ./staging/src/k8s.io/api
"""

MANIFEST_GO = """package image

const (
\t// None is to be used for unset/default images
\tNone = iota
\t// Agnhost image
\tAgnhost
\t// BusyBox image
\tBusyBox
\tNginx // trailing comment
)

func initImageConfigs(list RegistryList) (map[int]Config, map[int]Config) {
}
"""


def test_replaces_pin_staging_and_keep_others():
    assert build_e2e.bm.kube_replaces(GOMOD_124, "v1.24.7") == [
        "\tgithub.com/onsi/ginkgo => github.com/onsi/ginkgo v1.14.0",
        "\tk8s.io/api => k8s.io/api v0.24.7",
        "\tgolang.org/x/net v1.0.0 => golang.org/x/net v1.2.0",
    ]
    assert build_e2e.bm.kube_replaces(GOMOD_136, "v1.36.2") == ["\tk8s.io/api => k8s.io/api v0.36.2"]


def test_ginkgo_v1_for_124_and_v2_after():
    assert build_e2e.ginkgo_pin(GOMOD_124) == ("github.com/onsi/ginkgo", "v1.14.0", "github.com/onsi/ginkgo/ginkgo")
    assert build_e2e.ginkgo_pin(GOMOD_136) == ("github.com/onsi/ginkgo/v2", "v2.28.1", "github.com/onsi/ginkgo/v2/ginkgo")


def test_ginkgo_replace_wins_over_require():
    gomod = GOMOD_124.replace("github.com/onsi/ginkgo v1.14.0\n\tgithub.com/onsi/gomega", "github.com/onsi/ginkgo v1.16.5\n\tgithub.com/onsi/gomega")
    assert build_e2e.ginkgo_pin(gomod)[1] == "v1.14.0"


def test_ginkgo_missing():
    with pytest.raises(SystemExit):
        build_e2e.ginkgo_pin("module x\n\ngo 1.20\n")


def test_version_ldflags():
    flags = build_e2e.version_ldflags("v1.24.7", "abc123", "2023-01-01T00:00:00Z")
    assert "-X k8s.io/component-base/version.gitVersion=v1.24.7" in flags
    assert "-X k8s.io/client-go/pkg/version.gitMinor=24" in flags
    assert "-X k8s.io/component-base/version.gitMajor=1" in flags
    assert "-X k8s.io/component-base/version.gitCommit=abc123" in flags
    assert len(flags) == 12


def test_image_ids_and_listing():
    names = build_e2e.image_ids(MANIFEST_GO)
    assert names == ["None", "Agnhost", "BusyBox", "Nginx"]
    listing = "1\tregistry.k8s.io/e2e-test-images/agnhost:2.39\n3\tregistry.k8s.io/e2e-test-images/nginx:1.14-2\n"
    assert build_e2e.parse_imagelist(listing, names) == {
        "Agnhost": "registry.k8s.io/e2e-test-images/agnhost:2.39",
        "Nginx": "registry.k8s.io/e2e-test-images/nginx:1.14-2",
    }


def test_images_referenced_by_conformance_files():
    conf = [{"testname": "a", "file": "test/e2e/a.go"}, {"testname": "b", "file": "test/e2e/a.go"},
            {"testname": "c", "file": "test/e2e/b.go"}, {"testname": "d"}]
    files = build_e2e.conformance_files(conf)
    assert files == {"test/e2e/a.go", "test/e2e/b.go"}
    sources = {"test/e2e/a.go": "imageutils.GetE2EImage(imageutils.Agnhost) image.BusyBox imageutils.GetE2EImage",
               "test/e2e/b.go": "imageutils.Agnhost imageutils.Unknown"}
    names = ["None", "Agnhost", "BusyBox", "Nginx"]
    assert build_e2e.images_referenced(sources, names) == {
        "Agnhost": ["test/e2e/a.go", "test/e2e/b.go"], "BusyBox": ["test/e2e/a.go"]}
