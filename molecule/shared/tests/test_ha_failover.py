"""With one of three control planes down, the API keeps answering; started again, the node comes back Ready.

Only for labs with at least three control planes (the ha scenario). Runs after every other test
(conftest.py orders it last), since it takes a control plane down for a while.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml
from test_cluster import GROUPS, KUBECTL, container, host

CONTROL_PLANES = sorted(GROUPS.get("control_plane", {}))
WORKERS = sorted(GROUPS.get("workers", {}))
API_PROXY = "https://127.0.0.1:6444"
# the kubelet's client certificate and key, taken out of its kubeconfig for curl
CLIENT = "/run/eksd-failover-client"
KUBELET_PKI = f"--cacert /etc/kubernetes/pki/ca.crt --cert {CLIENT}.client-certificate --key {CLIENT}.client-key"
# Rounds of requests (proxy read, kubectl read, kubectl write) with the node down: at least this many, and
# until at least OUTAGE_SECONDS have passed.
ROUNDS = 8
OUTAGE_SECONDS = 30
REQUEST_EVERY = 3

pytestmark = [
    pytest.mark.skipif(len(CONTROL_PLANES) < 3 or not WORKERS,
                       reason=f"failover needs at least 3 control planes and a worker; this lab has "
                              f"{len(CONTROL_PLANES)} control plane(s) and {len(WORKERS)} worker(s)"),
    pytest.mark.failover,
]


def podman(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], check=True, capture_output=True, text=True)


def restart_lab_node(name: str) -> None:
    """Start a stopped lab node and wait for systemd (the image's eksd-lab-cgroups.service redoes the cgroup view at boot)."""
    podman("start", container(name))
    deadline = time.monotonic() + 120
    while True:
        state = subprocess.run(["podman", "exec", container(name), "systemctl", "is-system-running"],
                               capture_output=True, text=True, check=False).stdout.strip()
        if state in ("running", "degraded"):
            break
        assert time.monotonic() < deadline, f"{name} did not boot: {state}"
        time.sleep(1)


def test_the_api_answers_with_a_control_plane_down_and_the_node_comes_back():
    victim, witness = CONTROL_PLANES[0], CONTROL_PLANES[1]
    worker = host(WORKERS[0])
    other_cp = host(witness)
    assert other_cp.run(f"{KUBECTL} get node {victim}").rc == 0
    kubelet_user = yaml.safe_load(worker.file("/etc/kubernetes/kubelet.conf").content_string)["users"][0]["user"]
    for key in ("client-certificate", "client-key"):
        subprocess.run(["podman", "exec", "-i", container(WORKERS[0]), "sh", "-c", f"base64 -d > {CLIENT}.{key}"],
                       input=kubelet_user[f"{key}-data"], text=True, check=True)
    before = worker.run(f"curl -sS --max-time 10 {KUBELET_PKI} {API_PROXY}/api/v1/nodes/{WORKERS[0]}")
    assert before.rc == 0 and json.loads(before.stdout).get("kind") == "Node", before.stdout + before.stderr

    podman("kill", container(victim))
    failures: list[str] = []
    answers = 0
    written: list[str] = []
    try:
        start = time.monotonic()
        while answers < ROUNDS or time.monotonic() - start < OUTAGE_SECONDS:
            # the worker's local API proxy, with the kubelet's own identity (reads its Node object from etcd)
            through_proxy = worker.run(f"curl -sS --max-time 10 {KUBELET_PKI} {API_PROXY}/api/v1/nodes/{WORKERS[0]}")
            if through_proxy.rc != 0 or json.loads(through_proxy.stdout or "{}").get("kind") != "Node":
                failures.append(f"{WORKERS[0]} via {API_PROXY}: {through_proxy.stderr or through_proxy.stdout[:200]}")
            # kubectl on another control plane: a read and a write
            nodes = other_cp.run(f"{KUBECTL} get nodes -o name --request-timeout=10s")
            if nodes.rc != 0 or f"node/{victim}" not in nodes.stdout:
                failures.append(f"kubectl get nodes on {witness}: {nodes.stderr}")
            name = f"eksd-failover-{int(time.time())}-{answers}"
            write = other_cp.run(f"{KUBECTL} -n default create configmap {name} --request-timeout=10s")
            if write.rc != 0:
                failures.append(f"kubectl create configmap on {witness}: {write.stderr}")
            else:
                written.append(name)
            answers += 1
            time.sleep(REQUEST_EVERY)
        print(f"{answers} rounds of 3 requests in {time.monotonic() - start:.0f} s with {victim} down, {len(failures)} failed")
        assert failures == [], f"{len(failures)} failed requests of {answers * 3} with {victim} down: {failures}"
        assert podman("inspect", container(victim), "--format", "{{.State.Status}}").stdout.strip() != "running"
    finally:
        restart_lab_node(victim)
        worker.run(f"rm -f {CLIENT}.client-certificate {CLIENT}.client-key")

    if written:
        assert other_cp.run(f"{KUBECTL} -n default delete configmap {' '.join(written)}").rc == 0
    ready = other_cp.run(f"{KUBECTL} wait --for=condition=Ready node/{victim} --timeout=300s")
    assert ready.rc == 0, ready.stderr
    # its API server is back behind the proxy: /readyz from the restarted node itself
    deadline = time.monotonic() + 180
    while host(victim).run(f"{KUBECTL} get --raw /readyz --request-timeout=5s").rc != 0:
        assert time.monotonic() < deadline, f"kube-apiserver on {victim} not ready after restart"
        time.sleep(3)
