"""Each node runs the Debian suite the lab gave it, and containerd from that suite's packages.

The lab's inventory names each node's suite (lab_suite, from EKSD_LAB_SUITES; bookworm where it is missing). Checked
three ways that do not trust the roles: the node's /etc/os-release, what the kubelet reports to the API
(nodeInfo.osImage, nodeInfo.containerRuntimeVersion), and where the installed containerd package came from (the
suite's own archive, by `apt-cache madison`). A node whose containerd was installed from release files
(containerd_install_method archive, no package) is checked against `containerd --version` alone.
"""
from __future__ import annotations

import json
import re

import pytest
from test_cluster import GROUPS, NODES, host, kubectl

# The upstream version in a Debian package version: 1.7.24~ds1-6+deb13u1 -> 1.7.24
UPSTREAM = re.compile(r"^(?:\d+:)?(\d+(?:\.\d+)+)")


def suite_of(name: str) -> str:
    return GROUPS["all"][name].get("lab_suite") or "bookworm"


def os_release(name: str) -> dict:
    out = host(name).run("cat /etc/os-release")
    assert out.rc == 0, out.stderr
    return {k: v.strip('"') for k, v in (line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)}


@pytest.fixture(scope="module")
def node_info() -> dict:
    return {n["metadata"]["name"]: n["status"]["nodeInfo"] for n in json.loads(kubectl("get nodes -o json").stdout)["items"]}


@pytest.mark.parametrize("name", NODES)
def test_node_runs_its_suite_and_reports_it(name, node_info):
    release = os_release(name)
    assert release["VERSION_CODENAME"] == suite_of(name), release
    assert node_info[name]["osImage"] == release["PRETTY_NAME"]
    # what `kubectl get nodes -o wide` shows in its OS-IMAGE column
    wide = kubectl(f"get node {name} -o wide --no-headers").stdout
    assert release["PRETTY_NAME"] in wide, wide


@pytest.mark.parametrize("name", NODES)
def test_containerd_comes_from_the_suite_and_is_what_the_kubelet_reports(name, node_info):
    h = host(name)
    runtime = node_info[name]["containerRuntimeVersion"]
    assert runtime.startswith("containerd://"), runtime
    reported = runtime.removeprefix("containerd://")
    # `containerd --version`: "containerd <module> <version> <revision>"; Debian's says 1.7.24~ds1 where the CRI
    # reports 1.7.24: the upstream versions must be the same
    version = h.run("containerd --version").stdout.split()[2]
    assert UPSTREAM.match(version.removeprefix("v")).group(1) == UPSTREAM.match(reported).group(1), (reported, version)
    package = h.run("dpkg-query -W -f '${Version}' containerd")
    if package.rc != 0:
        pytest.skip(f"{name}: containerd is not a package here (release files)")
    assert UPSTREAM.match(package.stdout).group(1) == UPSTREAM.match(reported).group(1), (package.stdout, reported)
    # the installed version is one the suite's archive (suite, suite-updates, suite-security) publishes
    madison = h.run("apt-cache madison containerd").stdout
    origins = [line.split("|")[2].split()[1] for line in madison.splitlines()
               if line.count("|") >= 2 and line.split("|")[1].strip() == package.stdout]
    suite = suite_of(name)
    assert any(o.split("/")[0] in (suite, f"{suite}-updates", f"{suite}-security") for o in origins), madison
    print(f"{name}: Debian {suite}, containerd {reported} (package {package.stdout}, from {', '.join(origins)})")


@pytest.mark.parametrize("name", NODES)
def test_a_node_of_kubernetes_1_36_or_later_runs_containerd_2(name, node_info):
    """Kubernetes 1.35 was the last release to support containerd 1.x, and the suites' packages are 1.6 and 1.7: from
    1.36 on each node runs containerd 2 from the release files, and no containerd package is left installed."""
    minor = int(re.match(r"v1\.(\d+)\.", node_info[name]["kubeletVersion"]).group(1))
    if minor < 36:
        pytest.skip(f"Kubernetes 1.{minor} runs on containerd 1.x")
    runtime = node_info[name]["containerRuntimeVersion"]
    assert re.match(r"containerd://v?([2-9]|\d\d+)\.", runtime), runtime
    package = host(name).run("dpkg-query -W -f '${db:Status-Status}\\n' containerd runc")
    assert "installed" not in package.stdout.split(), package.stdout
