"""scale.yml, remove_node.yml and reset.yml on a real cluster, in order; each test builds on the last.

The lab (molecule/lifecycle) holds node1 (control plane + etcd) and node2 (worker) converged by
site.yml, and node3, node4 in the group spare. Each step runs the real playbook with
ansible-playbook against an inventory derived from the lab's, then checks the outcome on the
hosts and through the API (node lists, etcd member lists, files, services, iptables) rather than
trusting the playbook's report. Refusals must fail with their message and leave the cluster as it
was. Durations are printed, not asserted.
"""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import testinfra
import yaml

REPO = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))
LAB_INVENTORY = Path(os.environ.get("EKSD_INVENTORY", CACHE / "lab" / "hosts.yml"))
RELEASE = os.environ.get("EKSD_TEST_RELEASE", "1-24-9")
PKI_DIR = CACHE / "lab" / "cluster" / "pki"
KUBECTL = "/usr/local/bin/kubectl --kubeconfig=/etc/kubernetes/admin.conf"
ETCDCTL = ("/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt "
           "--cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key")

# What the roles install; reset must leave none of it.
INSTALLED_PATHS = [
    "/usr/local/bin/kubelet", "/usr/local/bin/kube-proxy", "/usr/local/bin/kubectl", "/usr/local/bin/kube-apiserver",
    "/usr/local/bin/kube-controller-manager", "/usr/local/bin/kube-scheduler", "/usr/local/bin/etcd",
    "/usr/local/bin/etcdctl", "/usr/local/sbin/eksd-pod-network", "/etc/systemd/system/kubelet.service",
    "/etc/systemd/system/kube-proxy.service", "/etc/systemd/system/kube-apiserver.service",
    "/etc/systemd/system/etcd.service", "/etc/systemd/system/eksd-pod-network.service", "/etc/kubernetes",
    "/etc/etcd", "/var/lib/etcd", "/var/lib/kube-proxy", "/etc/cni", "/opt/cni", "/var/lib/cni",
    "/etc/containerd/config.toml", "/etc/containerd/certs.d", "/etc/crictl.yaml", "/etc/sysctl.d/90-eksd.conf",
    "/etc/modules-load.d/eksd.conf", "/var/lib/eksd",
]
SERVICES = ["kubelet", "kube-proxy", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd",
            "eksd-pod-network", "haproxy", "containerd"]

LAB = yaml.safe_load(LAB_INVENTORY.read_text())
SPARE = LAB["all"]["children"].get("spare", {}).get("hosts") or {}
CLUSTER = LAB["all"]["children"]["k8s_cluster"]["children"]
HOSTVARS = {name: hvars for group in CLUSTER.values() for name, hvars in ((group or {}).get("hosts") or {}).items() if hvars}
HOSTVARS.update(SPARE)
pytestmark = pytest.mark.skipif(len(SPARE) < 2, reason="needs a lab with two spare nodes (EKSD_LAB_SPARE=2)")
NEW = sorted(SPARE)[:2]  # node3, node4
FIRST_CP = sorted(CLUSTER["control_plane"]["hosts"])[0]  # node1
WORKER = sorted((CLUSTER["workers"] or {}).get("hosts") or {})[0]  # node2


def host(name: str):
    return testinfra.get_host(f"podman://{HOSTVARS[name].get('lab_container') or HOSTVARS[name]['ansible_host']}")


def inventory(path: Path, control_plane: list[str], etcd: list[str], workers: list[str]) -> Path:
    """The lab inventory with the cluster's groups as given (spare hosts included where named)."""
    doc = copy.deepcopy(LAB)
    doc["all"]["children"].pop("spare", None)
    children = doc["all"]["children"]["k8s_cluster"]["children"]
    children["control_plane"] = {"hosts": {name: HOSTVARS[name] for name in control_plane}}
    children["etcd"] = {"hosts": {name: None for name in etcd}}
    children["workers"] = {"hosts": {name: HOSTVARS[name] for name in workers}} if workers else None
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def playbook(name: str, inv: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = ["ansible-playbook", "-i", str(inv), f"playbooks/{name}", "-e", f"eksd_release={RELEASE}",
           "-e", f"eksd_pki_dir={PKI_DIR}", *args]
    start = time.monotonic()
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    print(f"\n[lifecycle] {' '.join(cmd[3:4] + list(args))}: rc={out.returncode} in {time.monotonic() - start:.0f}s")
    log = CACHE / "lab" / "run" / f"lifecycle-{name.removesuffix('.yml')}-{int(time.time())}.log"
    log.write_text(out.stdout + out.stderr)
    return out


def changed(out: subprocess.CompletedProcess) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out.stdout, re.M)}


def nodes() -> dict[str, bool]:
    """Node name -> Ready, through the API on node1."""
    out = host(FIRST_CP).check_output(f"{KUBECTL} get nodes -o json")
    return {item["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True" for c in item["status"]["conditions"])
            for item in json.loads(out)["items"]}


def etcd_members() -> dict[str, bool]:
    """Member name -> voting (started, not a learner), through etcd on node1."""
    out = json.loads(host(FIRST_CP).check_output(f"{ETCDCTL} member list -w json"))
    return {m.get("name", ""): not m.get("isLearner", False) for m in out["members"]}


def wait_ready(expected: set[str], timeout: int = 300) -> dict[str, bool]:
    deadline = time.monotonic() + timeout
    while True:
        state = nodes()
        if set(state) == expected and all(state.values()) or time.monotonic() > deadline:
            return state
        time.sleep(5)


@pytest.fixture(scope="module")
def inventories(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("inventories")
    cps = [FIRST_CP, *NEW]
    return {
        "grown": inventory(tmp / "grown.yml", cps, cps, [WORKER]),
        # after the worker's removal, as the user is told to do: the host leaves the inventory
        "shrunk": inventory(tmp / "shrunk.yml", cps, cps, []),
        "initial": inventory(tmp / "initial.yml", [FIRST_CP], [FIRST_CP], [WORKER]),
    }


def refused(out: subprocess.CompletedProcess, message: str) -> None:
    assert out.returncode != 0, f"not refused:\n{out.stdout[-3000:]}"
    # messages are wrapped by the output format: compare with whitespace collapsed
    assert message in " ".join((out.stdout + out.stderr).split()), f"no '{message}' in:\n{out.stdout[-3000:]}"


# --- scale ----------------------------------------------------------------------------------------

def test_scale_refuses_a_node_outside_the_inventory(inventories):
    before = (nodes(), etcd_members())
    out = playbook("scale.yml", inventories["grown"], "-e", "eksd_nodes=node9")
    refused(out, "node9 not in the inventory group k8s_cluster")
    assert (nodes(), etcd_members()) == before


def test_scale_adds_two_control_planes_that_join_etcd_one_at_a_time(inventories):
    out = playbook("scale.yml", inventories["grown"], "-e", f"eksd_nodes={','.join(NEW)}")
    assert out.returncode == 0, out.stdout[-5000:]
    state = wait_ready({FIRST_CP, WORKER, *NEW})
    assert state == {FIRST_CP: True, WORKER: True, NEW[0]: True, NEW[1]: True}
    assert etcd_members() == {FIRST_CP: True, NEW[0]: True, NEW[1]: True}
    health = host(FIRST_CP).run(f"{ETCDCTL} endpoint health --cluster")
    assert health.rc == 0 and health.stdout.count("is healthy") == 3, health.stdout + health.stderr
    # the worker's API proxy now balances over the three API servers
    haproxy = host(WORKER).file("/etc/haproxy/haproxy.cfg").content_string
    for name in [FIRST_CP, *NEW]:
        assert f"{HOSTVARS[name]['ip']}:6443" in haproxy, haproxy
    # the first API server now uses all three etcd members
    unit = host(FIRST_CP).file("/etc/systemd/system/kube-apiserver.service").content_string
    for name in [FIRST_CP, *NEW]:
        assert f"https://{HOSTVARS[name]['ip']}:2379" in unit
    # the new control planes serve the API themselves
    for name in NEW:
        assert host(name).run(f"{KUBECTL} --server=https://127.0.0.1:6443 get --raw /readyz").stdout == "ok"


# --- remove_node: refusals -----------------------------------------------------------------------

@pytest.mark.parametrize(("names", "message"), [
    ("node9", "node9 not in the inventory group k8s_cluster"),
    ("node3", "would leave 2 member(s)"),
    ("node1,node3,node4", "would leave no control plane"),
])
def test_remove_node_refuses_and_changes_nothing(inventories, names, message):
    before = (nodes(), etcd_members())
    refused(playbook("remove_node.yml", inventories["grown"], "-e", f"eksd_remove_nodes={names}"), message)
    assert (nodes(), etcd_members()) == before


# --- remove_node ---------------------------------------------------------------------------------

def assert_clean(name: str) -> None:
    node = host(name)
    left = [path for path in INSTALLED_PATHS if node.file(path).exists]
    assert left == [], f"{name} still has {left}"
    active = [svc for svc in SERVICES if node.service(svc).is_running]
    assert active == [], f"{name} still runs {active}"
    assert node.run("ip link show dev cni0").rc != 0, f"{name} still has cni0"
    rules = node.check_output("iptables-save")
    assert not re.search(r"KUBE-|CNI-|eksd pod network", rules), rules
    assert node.check_output("ls -A /var/lib/kubelet") == ""
    assert node.run("ip -4 route show root 10.244.0.0/16").stdout.strip() == ""


def test_remove_node_drains_and_removes_the_worker(inventories):
    out = playbook("remove_node.yml", inventories["grown"], "-e", f"eksd_remove_nodes={WORKER}")
    assert out.returncode == 0, out.stdout[-5000:]
    assert set(nodes()) == {FIRST_CP, *NEW}
    assert_clean(WORKER)


def test_remove_node_removes_two_etcd_members(inventories):
    out = playbook("remove_node.yml", inventories["shrunk"], "-e", f"eksd_remove_nodes={','.join(NEW)}")
    assert out.returncode == 0, out.stdout[-5000:]
    assert etcd_members() == {FIRST_CP: True}
    assert set(nodes()) == {FIRST_CP}
    assert nodes()[FIRST_CP]
    for name in NEW:
        assert_clean(name)
    # node1's API proxy no longer sends to the removed API servers
    haproxy = host(FIRST_CP).file("/etc/haproxy/haproxy.cfg").content_string
    assert all(f"{HOSTVARS[name]['ip']}:6443" not in haproxy for name in NEW), haproxy
    assert host(FIRST_CP).run(f"{KUBECTL} get --raw /readyz").stdout == "ok"


# --- reset ---------------------------------------------------------------------------------------

def test_reset_refuses_without_confirmation(inventories):
    out = playbook("reset.yml", inventories["initial"])
    refused(out, "Reset not confirmed: nothing was changed")
    assert host(FIRST_CP).service("kubelet").is_running


def test_reset_removes_everything_from_every_host(inventories):
    out = playbook("reset.yml", inventories["grown"], "-e", "eksd_reset_confirm=yes",
                   "-e", '{"reset_packages": ["containerd", "runc", "haproxy"]}')
    assert out.returncode == 0, out.stdout[-5000:]
    for name in [FIRST_CP, WORKER, *NEW]:
        assert_clean(name)
        for package in ("containerd", "runc", "haproxy"):
            assert not host(name).package(package).is_installed, f"{package} on {name}"
    assert host(FIRST_CP).check_output("ls -A /var/lib/containerd") == ""


def test_reset_again_changes_nothing(inventories):
    out = playbook("reset.yml", inventories["grown"], "-e", "eksd_reset_confirm=yes",
                   "-e", '{"reset_packages": ["containerd", "runc", "haproxy"]}')
    assert out.returncode == 0, out.stdout[-5000:]
    assert changed(out) and set(changed(out).values()) == {0}, changed(out)
