"""Kubernetes' own [Conformance] tests, a focused subset, against the scenario's cluster.

Runs when the scenario sets EKSD_TEST_CONFORMANCE to a regular expression over the tests' names (the `ha`
scenario of make test: the sig-network tests; the whole suite is `make conformance`, in make test-day2). It is
tools/conformance/run_conformance.py's run: e2e.test, ginkgo and the test images built from the release's Kubernetes
module (cached by version under $EKSD_CACHE/conformance; tools/mirror/prebuild.py builds them in the background
while the earlier scenarios run), the tests in tests/conformance/exclusions.yml left out with their reasons, any
other failure a failure here. Results: $EKSD_CACHE/conformance/results/<release>/<timestamp>/.

The images go to the lab registry under the release's own image registry (public.ecr.aws/eks-distro/conformance/...),
which every node already pulls through the lab's registry mirror (eksd_image_mirror): the run changes nothing on
the nodes.
"""
from __future__ import annotations

import importlib.util
import os
import sys

import pytest
import yaml
from test_cluster import CACHE, RELEASE, REPO

FOCUS = os.environ.get("EKSD_TEST_CONFORMANCE", "")
SKIP = os.environ.get("EKSD_TEST_CONFORMANCE_SKIP", "")

pytestmark = pytest.mark.skipif(not FOCUS, reason="the scenario runs no conformance tests (EKSD_TEST_CONFORMANCE)")

_spec = importlib.util.spec_from_file_location("eksd_run_conformance",
                                               REPO / "tools" / "conformance" / "run_conformance.py")
run_conformance = importlib.util.module_from_spec(_spec)
sys.modules["eksd_run_conformance"] = run_conformance
_spec.loader.exec_module(run_conformance)


def mirrored_registry() -> str:
    """The registry the release's images come from, which the nodes pull through the lab's mirror."""
    major, minor, number = RELEASE.split("-")
    manifest = CACHE / "mirror" / f"kubernetes-{major}-{minor}" / f"kubernetes-{major}-{minor}-eks-{number}.yaml"
    doc = yaml.safe_load(manifest.read_text())
    hosts = {asset["image"]["uri"].split("/", 1)[0] for component in doc["status"]["components"]
             for asset in component.get("assets") or [] if asset.get("image")}
    assert len(hosts) == 1, f"the release's images come from several registries: {sorted(hosts)}"
    return hosts.pop()


@pytest.fixture(scope="module")
def outcome():
    env = run_conformance.lab_env()
    kubeconfig = CACHE / "lab" / "cluster" / "admin.conf"
    code, out, summary = run_conformance.run_suite(
        RELEASE, kubeconfig, env["EKSD_IMAGE_MIRROR"], image_name=f"{mirrored_registry()}/eks-distro/conformance",
        focus=FOCUS, skip=SKIP or None, procs=int(os.environ.get("EKSD_TEST_CONFORMANCE_PROCS", "3")))
    return code, out, summary


def test_the_chosen_conformance_tests_ran(outcome):
    out, summary = outcome[1:]
    assert summary["run"] > 0 and summary["passed"] > 0, f"no conformance test ran (results in {out})"
    assert not summary["not_run"], f"chosen but not run: {summary['not_run']} (results in {out})"


def test_every_conformance_test_passes_or_fails_as_its_exclusion_says(outcome):
    code, out, summary = outcome
    assert summary["ok"] and code == 0, (
        f"unexplained conformance failures: {summary['unexplained_failures']} (results in {out})")
