"""Lab nodes reboot like machines: restarted with `podman restart`, the cluster comes back without Ansible.

Every node restarted at once, then the first control plane alone. Back means: every node Ready again (its
kubelet reported after the restart), every kube-system pod Running and ready with containers started after
the restart, the probe DaemonSet likewise on every node, DNS from a pod on every node, pod-to-pod traffic
across nodes, and a Secret written before the restart readable after it. The time from the restart until all
of that holds is printed and appended to $EKSD_CACHE/lab/reboot-recovery.txt; the test asserts behaviour, not
time (RECOVERY_TIMEOUT only bounds the wait).

Only in the `default` scenario (MOLECULE_SCENARIO_NAME; EKSD_TEST_REBOOT=1 to run it elsewhere), and after
every other test (conftest.py orders it last): it takes the whole cluster down for a while.
"""
from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import subprocess
import time

import pytest
from test_cluster import CACHE, GROUPS, NODES, container, deploy_probes, http_get, kubectl, pod_exec

NAMESPACE = "eksd-reboot"
RECOVERY_TIMEOUT = 900  # a bound on the wait, not a target: the lab shares a small machine
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "")
RECORD = CACHE / "lab" / "reboot-recovery.txt"

pytestmark = [
    pytest.mark.skipif(SCENARIO != "default" and os.environ.get("EKSD_TEST_REBOOT") != "1",
                       reason=f"restarts every node: only in the default scenario (this is '{SCENARIO}')"),
    pytest.mark.reboot,
]


def restart(names: list[str]) -> float:
    """podman restart the nodes' containers, all at once; returns the wall-clock time just before."""
    started = time.time()
    subprocess.run(["podman", "restart", "-t", "10", *[container(n) for n in names]],
                   check=True, capture_output=True, text=True)
    return started


def since(stamp: str | None, t0: float) -> bool:
    """An RFC 3339 time from the API is at or after t0 (whole seconds: the API drops fractions)."""
    if not stamp:
        return False
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() >= int(t0)


def pods_back(namespace: str, t0: float, restarted: list[str]) -> tuple[list[str], dict[str, dict]]:
    """What is not back among the namespace's pods (problems), and its pods by node. Pods on restarted nodes
    must run containers started since t0 (not a status left over from before the restart)."""
    problems: list[str] = []
    pods = json.loads(kubectl(f"-n {namespace} get pods -o json").stdout)["items"]
    for pod in pods:
        name, status = pod["metadata"]["name"], pod["status"]
        statuses = status.get("containerStatuses") or []
        if status.get("phase") != "Running" or not status.get("podIP"):
            problems.append(f"{namespace}/{name}: {status.get('phase')}")
        elif not statuses or not all(cs["ready"] for cs in statuses):
            problems.append(f"{namespace}/{name}: containers not ready")
        elif pod["spec"].get("nodeName") in restarted and not all(
                since((cs["state"].get("running") or {}).get("startedAt"), t0) for cs in statuses):
            problems.append(f"{namespace}/{name}: containers not started since the restart")
    return problems, {p["spec"]["nodeName"]: p for p in pods}


def not_back(t0: float, restarted: list[str], secret_value: str) -> list[str]:
    """Everything that is not back yet after the nodes restarted at t0 (empty: the cluster is back)."""
    out = kubectl("get nodes -o json --request-timeout=10s", check=False)
    if out.rc != 0:
        return [f"API: {out.stderr.strip()[:200]}"]
    problems = []
    nodes = {n["metadata"]["name"]: n for n in json.loads(out.stdout)["items"]}
    for name in NODES:
        ready = next((c for c in nodes.get(name, {}).get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})
        # a restarted node's kubelet reports at start: Ready from before the restart does not count
        if ready.get("status") != "True" or (name in restarted and not since(ready.get("lastHeartbeatTime"), t0)):
            problems.append(f"node {name}: Ready={ready.get('status')} (heartbeat {ready.get('lastHeartbeatTime')})")
    if problems:
        return problems
    system = pods_back("kube-system", t0, restarted)[0]
    probe, probes = pods_back(NAMESPACE, t0, restarted)
    problems = system + probe + [f"no probe pod on {n}" for n in NODES if n not in probes]
    if problems:
        return problems
    for node, pod in probes.items():
        dns = pod_exec(pod, "nslookup kubernetes.default.svc.cluster.local")
        if dns.rc != 0 or "Address" not in dns.stdout:
            problems.append(f"DNS from {node}: {dns.stdout.strip()[-200:]} {dns.stderr.strip()[-200:]}")
        for dst_node, dst in probes.items():
            if dst_node != node:
                try:
                    body = http_get(pod, dst["status"]["podIP"], 8080)
                except AssertionError as err:
                    body = str(err)
                if body != dst["metadata"]["name"]:
                    problems.append(f"{node} -> {dst_node} ({dst['status']['podIP']}): {body[:200]}")
    stored = kubectl(f"-n {NAMESPACE} get secret written-before -o jsonpath={{.data.value}}", check=False)
    if stored.rc != 0 or base64.b64decode(stored.stdout).decode() != secret_value:
        problems.append(f"secret written-before: {stored.stderr.strip() or 'different value'}")
    return problems


def restart_and_wait(what: str, names: list[str], secret_value: str) -> float:
    """Restart the nodes, wait until the cluster is back; the seconds that took (printed and recorded)."""
    t0 = restart(names)
    problems: list[str] = []
    while time.time() - t0 < RECOVERY_TIMEOUT:
        problems = not_back(t0, names, secret_value)
        if not problems:
            took = time.time() - t0
            line = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ} {what}: back in {took:.0f} s"
            print(line)
            RECORD.parent.mkdir(parents=True, exist_ok=True)
            with RECORD.open("a") as record:
                record.write(line + "\n")
            return took
        time.sleep(3)
    raise AssertionError(f"{what}: not back {RECOVERY_TIMEOUT} s after the restart: {problems}")


@pytest.fixture(scope="module")
def secret_value():
    deploy_probes(NAMESPACE)
    value = secrets.token_hex(16)
    kubectl(f"-n {NAMESPACE} create secret generic written-before --from-literal=value={value}")
    yield value
    kubectl(f"delete namespace {NAMESPACE} --wait=true --timeout=180s", check=False)


def test_every_node_restarted_at_once_comes_back(secret_value):
    restart_and_wait(f"{len(NODES)} node(s) restarted at once", NODES, secret_value)


def test_the_first_control_plane_restarted_comes_back(secret_value):
    first = sorted(GROUPS["control_plane"])[0]
    restart_and_wait(f"control plane {first} restarted", [first], secret_value)
