"""With one of three control planes down, the API keeps answering; started again, the node comes back Ready. An
API server that stops gracefully leaves the API proxies before it stops listening.

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


def kubelet_client_on(name: str) -> None:
    """Put the node's kubelet client certificate and key where KUBELET_PKI points (curl reads no kubeconfig)."""
    kubelet_user = yaml.safe_load(host(name).file("/etc/kubernetes/kubelet.conf").content_string)["users"][0]["user"]
    for key in ("client-certificate", "client-key"):
        subprocess.run(["podman", "exec", "-i", container(name), "sh", "-c", f"umask 077; base64 -d > {CLIENT}.{key}"],
                       input=kubelet_user[f"{key}-data"], text=True, check=True)


def proxy_read_fails(worker) -> str | None:
    """One request through the worker's API proxy on a new connection (the kubelet reading its Node): None if it
    answered, else why not."""
    answer = worker.run(f"curl -sS --max-time 10 {KUBELET_PKI} {API_PROXY}/api/v1/nodes/{WORKERS[0]}")
    if answer.rc == 0 and json.loads(answer.stdout or "{}").get("kind") == "Node":
        return None
    return answer.stderr or answer.stdout[:200]


# haproxy's view of the API servers (its read-only runtime socket): server name -> operational state,
# 2 when it gets connections (0 stopped, 1 starting, 3 stopping).
PROXY_STATE = ("python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy-api-proxy.sock'); "
               "s.sendall(b'show servers state kube_apiserver\\n'); print(s.makefile().read())\"")


def proxy_states(worker) -> dict[str, int]:
    out = worker.run(PROXY_STATE)
    assert out.rc == 0, out.stderr
    # version line, then "# be_id be_name srv_id srv_name srv_addr srv_op_state ..."
    return {f[3]: int(f[5]) for f in (line.split() for line in out.stdout.splitlines()) if len(f) > 5 and not f[0].startswith("#")}


def test_a_stopping_api_server_leaves_the_proxies_before_it_stops_listening():
    """A restart with several control planes fails no request: the stopping API server keeps serving for its
    shutdown delay while /readyz fails, the proxies' health checks take it out, and only then it closes its port;
    started again, it is taken back in once ready."""
    victim = CONTROL_PLANES[-1]
    worker = host(WORKERS[0])
    kubelet_client_on(WORKERS[0])
    try:
        deadline = time.monotonic() + 60
        while set(proxy_states(worker).values()) != {2}:
            assert time.monotonic() < deadline, f"not every API server is up behind {WORKERS[0]}'s proxy: {proxy_states(worker)}"
            time.sleep(1)
        failures: list[str] = []
        events: dict[str, float] = {}
        start = time.monotonic()
        assert host(victim).run("systemctl stop --no-block kube-apiserver").rc == 0
        try:
            while len(events) < 2 and time.monotonic() - start < 60:
                if proxy_states(worker)[victim] != 2:
                    events.setdefault("taken out", time.monotonic() - start)
                if host(victim).run("ss -Hltn 'sport = :6443'").stdout.strip() == "":
                    events.setdefault("stopped listening", time.monotonic() - start)
                why = proxy_read_fails(worker)
                if why is not None:
                    failures.append(why)
            print(f"{victim}: taken out of {WORKERS[0]}'s proxy after {events.get('taken out', -1):.1f} s, stopped "
                  f"listening after {events.get('stopped listening', -1):.1f} s")
        finally:
            assert host(victim).run("systemctl start kube-apiserver").rc == 0
        assert set(events) == {"taken out", "stopped listening"}, events
        assert events["taken out"] < events["stopped listening"], events
        deadline = time.monotonic() + 180
        while proxy_states(worker)[victim] != 2:
            assert time.monotonic() < deadline, f"{victim} not back behind {WORKERS[0]}'s proxy: {proxy_states(worker)}"
            why = proxy_read_fails(worker)
            if why is not None:
                failures.append(why)
            time.sleep(0.5)
        print(f"{victim}: back behind the proxy {time.monotonic() - start:.1f} s after the stop")
        assert failures == [], f"requests through {WORKERS[0]}'s proxy failed while {victim} restarted: {failures}"
    finally:
        worker.run(f"rm -f {CLIENT}.client-certificate {CLIENT}.client-key")


def test_the_api_answers_with_a_control_plane_down_and_the_node_comes_back():
    victim, witness = CONTROL_PLANES[0], CONTROL_PLANES[1]
    worker = host(WORKERS[0])
    other_cp = host(witness)
    assert other_cp.run(f"{KUBECTL} get node {victim}").rc == 0
    kubelet_client_on(WORKERS[0])
    before = proxy_read_fails(worker)
    assert before is None, before

    podman("kill", container(victim))
    failures: list[str] = []
    answers = 0
    written: list[str] = []
    try:
        start = time.monotonic()
        while answers < ROUNDS or time.monotonic() - start < OUTAGE_SECONDS:
            # the worker's local API proxy, with the kubelet's own identity (reads its Node object from etcd)
            why = proxy_read_fails(worker)
            if why is not None:
                failures.append(f"{WORKERS[0]} via {API_PROXY}: {why}")
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
