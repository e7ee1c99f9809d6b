"""After upgrade.yml: the API never failed a request, the workload stayed up, everything runs the new release,
the etcd snapshot exists in both places, and upgrade.yml refuses bad targets and unhealthy clusters without
changing anything.

The probe (tools/lab/api_probe.py, started by prepare on the first worker) is stopped first, so that the
refusal tests, which stop an etcd member and a kubelet on purpose, do not count against the upgrade.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "molecule" / "shared" / "tests"))
from test_cluster import ETCDCTL, GROUPS, INVENTORY, KUBECTL, NODES, host, kubectl  # noqa: E402

CACHE = Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))
OLD = os.environ.get("EKSD_TEST_RELEASE", "1-24-8")
NEW = os.environ.get("EKSD_UPGRADE_RELEASE", "1-24-9")
PKI_DIR = CACHE / "lab" / "cluster" / "pki"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
WORKER = sorted(GROUPS["workers"])[0]
ETCD = sorted(GROUPS["etcd"])


def manifest(release: str) -> dict:
    major, minor, number = release.split("-")
    mirror = Path(subprocess.run([sys.executable, str(REPO / "tools/mirror/build_mirror.py"), release], check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1])
    return yaml.safe_load((mirror / f"kubernetes-{major}-{minor}" / f"kubernetes-{major}-{minor}-eks-{number}.yaml").read_text())


@pytest.fixture(scope="module")
def new_release() -> dict:
    return {c["name"]: c for c in manifest(NEW)["status"]["components"]}


@pytest.fixture(scope="module")
def probe() -> dict:
    """Stop the API probe and read its figures."""
    worker = host(WORKER)
    worker.run("systemctl stop eksd-api-probe")
    figures = json.loads(worker.file("/var/tmp/api-probe/figures.json").content_string)
    return figures


def test_the_api_answered_every_request_during_the_upgrade(probe):
    # it ran from before the upgrade (prepare) until now, one request every 200 ms
    assert probe["requests"] >= 300, probe
    assert probe["failed"] == 0, probe["failures"]


def test_the_deployment_stayed_available(probe):
    assert probe["min_available"] is not None and probe["min_available"] >= 1, probe
    assert probe["unavailable_ticks"] == 0, probe
    deployment = json.loads(kubectl("-n eksd-upgrade get deployment web -o json").stdout)
    assert deployment["status"].get("availableReplicas") == 2, deployment["status"]


def test_every_node_was_cordoned_before_its_runtime_and_kubelet_changed():
    """Control planes too: a new containerd (1.x to 2 on the way to 1.36) or kubelet can restart the pods a node runs,
    and this workload tolerates the control plane taint. The kubelet records a NodeNotSchedulable event when its
    node is cordoned; nothing else in these scenarios cordons a node."""
    events = json.loads(kubectl("get events -A --field-selector involvedObject.kind=Node,reason=NodeNotSchedulable "
                                "-o json").stdout)["items"]
    cordoned = {event["involvedObject"]["name"] for event in events}
    assert cordoned == set(NODES), [(e["involvedObject"]["name"], e.get("lastTimestamp")) for e in events]


def test_every_component_reports_the_new_version(new_release):
    version = new_release["kubernetes"]["gitTag"]
    for name in GROUPS["control_plane"]:
        for binary in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
            out = host(name).run(f"/usr/local/bin/{binary} {'version --client' if binary == 'kubectl' else '--version'}")
            assert version in out.stdout, (name, binary, out.stdout)
        server = host(name).run(f"{KUBECTL} --server=https://127.0.0.1:6443 get --raw=/version")
        assert json.loads(server.stdout)["gitVersion"] == version, name
    for name in NODES:
        for binary in ("kubelet", "kube-proxy"):
            assert host(name).run(f"/usr/local/bin/{binary} --version").stdout.strip() == f"Kubernetes {version}"
    for node in json.loads(kubectl("get nodes -o json").stdout)["items"]:
        assert node["status"]["nodeInfo"]["kubeletVersion"] == version, node["metadata"]["name"]
        assert node["status"]["nodeInfo"]["kubeProxyVersion"] in (version, "")
        assert not node["spec"].get("unschedulable"), f"{node['metadata']['name']} is still cordoned"
    etcd_version = new_release["etcd"]["gitTag"].lstrip("v")
    for status in json.loads(host(ETCD[0]).run(f"{ETCDCTL} endpoint status --cluster -w json").stdout):
        assert status["Status"]["version"] == etcd_version, status["Endpoint"]


def test_every_node_runs_the_containerd_the_release_needs(new_release):
    """Kubernetes 1.35 was the last release to support containerd 1.x: an upgrade to 1.36 or later moves every node
    from the distribution's containerd 1.x to containerd 2 (release files), and leaves no containerd package."""
    minor = int(re.match(r"v1\.(\d+)\.", new_release["kubernetes"]["gitTag"]).group(1))
    if minor < 36:
        pytest.skip(f"Kubernetes 1.{minor} runs on containerd 1.x")
    for node in json.loads(kubectl("get nodes -o json").stdout)["items"]:
        name, runtime = node["metadata"]["name"], node["status"]["nodeInfo"]["containerRuntimeVersion"]
        assert re.match(r"containerd://v?([2-9]|\d\d+)\.", runtime), (name, runtime)
        assert host(name).run("containerd --version").stdout.split()[2].lstrip("v") == runtime.split("//")[1].lstrip("v")
        package = host(name).run("dpkg-query -W -f '${db:Status-Status}\\n' containerd runc")
        assert "installed" not in package.stdout.split(), (name, package.stdout)


def test_the_snapshot_is_on_the_first_member_and_on_the_controller():
    fetched = sorted((CACHE / "lab" / "cluster" / "backups").glob(f"etcd-{ETCD[0]}-*.db"))
    assert fetched, "no snapshot on the controller"
    latest = fetched[-1]
    on_host = host(ETCD[0]).file(f"/var/lib/etcd-snapshots/{latest.name}")
    assert on_host.exists and on_host.mode == 0o600
    assert on_host.sha256sum == hashlib.sha256(latest.read_bytes()).hexdigest()
    assert latest.stat().st_mode & 0o077 == 0  # etcd holds the cluster's secrets


# --- refusals: each stops in preflight and leaves every host as it was -------------------------------------------

def binaries_digest() -> dict:
    return {name: host(name).run("sha256sum /usr/local/bin/*").stdout for name in GROUPS["all"]}


def run_upgrade(release: str) -> tuple[int, str]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(["ansible-playbook", "-i", str(INVENTORY), "upgrade.yml", "-e", f"eksd_release={release}",
                           "-e", f"eksd_pki_dir={PKI_DIR}"], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    return proc.returncode, ANSI.sub("", proc.stdout + proc.stderr)


def assert_refused(release: str, expected: str) -> None:
    before = binaries_digest()
    rc, output = run_upgrade(release)
    assert rc != 0, output[-3000:]
    assert expected in " ".join(output.split()), output[-3000:]  # the YAML callback wraps long messages
    recap = {h: int(changed) for h, _ok, changed, _u, _f in RECAP.findall(output)}
    assert recap and set(recap.values()) == {0}, output[-3000:]
    assert binaries_digest() == before


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        (OLD, "downgrade: the target kubernetes version"),
        ("1-36-7", "skipped minor version: the target kubernetes version v1.36"),
        ("1-24-99", "kubernetes-1-24-eks-99.yaml was not found"),
    ],
    ids=["downgrade", "skipped-minor", "unknown-release"],
)
def test_a_bad_target_is_refused_and_nothing_changes(probe, release, expected):
    assert_refused(release, expected)


def test_an_unhealthy_etcd_member_is_refused_and_nothing_changes(probe):
    member = host(ETCD[-1])
    member.run("systemctl stop etcd")
    try:
        assert_refused(NEW, "unhealthy: etcd member")
    finally:
        member.run("systemctl start etcd")
        deadline = time.monotonic() + 120
        while host(ETCD[0]).run(f"{ETCDCTL} endpoint health --cluster").rc != 0:
            assert time.monotonic() < deadline, "etcd did not recover"
            time.sleep(2)


def test_a_node_that_is_not_ready_is_refused_and_nothing_changes(probe):
    worker = host(WORKER)
    worker.run("systemctl stop kubelet")
    try:
        kubectl(f"wait node/{WORKER} --for=condition=Ready=Unknown --timeout=180s")
        assert_refused(NEW, f"unhealthy: node {WORKER} is not Ready")
    finally:
        worker.run("systemctl start kubelet")
        kubectl(f"wait node/{WORKER} --for=condition=Ready --timeout=180s")
