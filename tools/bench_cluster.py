#!/usr/bin/env python3
"""Deploy benchmark on the lab: prints figures, asserts nothing (not a test).

For each connection (ssh, as users reach their hosts; podman, the lab's container connection) and each shape
(default: one control plane + one worker; ha: three control planes + one worker; wide: one control plane + five
workers):
  * wall time of site.yml on fresh lab hosts with a warm mirror, to a verified cluster (every node
    Ready, CoreDNS available)
  * changed-task counts per host of that run, and of a no-op re-run, with its wall time
  * module runs per host (tasks that reached the host, each loop item once; tools/bench/callback) and the
    controller's CPU time (ansible-playbook and its ssh/podman children), deploy and no-op
  * artifact bytes served by the mirror during the deploy, and how often each artifact was fetched
    (the goal is once per cluster, not once per node)
With --upgrade-from, a patch upgrade of a fresh 1+1 cluster: site.yml at that release, then upgrade.yml to --release.

    python3 tools/bench_cluster.py [--release 1-24-9] [--shapes default,ha,wide] [--connections ssh,podman]
                                   [--upgrade-from 1-24-8] [--keep]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))
# shape -> lab-up's NODES and HA, and the name the figures give it
SHAPES = {"default": {"NODES": "2", "HA": "0", "name": "1+1"}, "ha": {"NODES": "4", "HA": "1", "name": "HA 3+1"},
          "wide": {"NODES": "6", "HA": "0", "name": "1+5"}}
CONNECTIONS = ("ssh", "podman")
CALLBACKS = REPO / "tools" / "bench" / "callback"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
ACCESS = re.compile(r'"GET (\S+) HTTP/[\d.]+" 200')


def sh(cmd: list[str], env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-5000:]}")
    return proc


class Run:
    """One ansible-playbook run: wall time, controller CPU, changed tasks and module runs per host."""

    def __init__(self, wall: float, cpu: float, changed: dict[str, int], calls: dict[str, dict]):
        self.wall, self.cpu, self.changed, self.calls = wall, cpu, changed, calls

    def per_host(self, key: str) -> str:
        return ", ".join(f"{h}={c[key]}" for h, c in sorted(self.calls.items()) if h != "localhost")

    def changed_text(self) -> str:
        return f"{sum(self.changed.values())} ({', '.join(f'{h}={n}' for h, n in sorted(self.changed.items()))})"


def playbook(path: str, release: str, work: Path, log: Path) -> Run:
    """A playbook with a PKI and an artifact cache of this benchmark's own (so every artifact comes from the mirror
    once); the output, with profile_tasks' slowest tasks, goes to log."""
    calls_file = log.with_suffix(".calls.json")
    env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS), EKSD_BENCH_CALLS_FILE=str(calls_file),
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks,eksd_bench_calls")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out = sh(["ansible-playbook", "-i", str(CACHE / "lab/hosts.yml"), path, "-e", f"eksd_release={release}",
              "-e", f"eksd_pki_dir={work / 'pki'}", "-e", f"download_cache_dir={work / 'artifacts'}"], env=env).stdout
    took = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    log.write_text(out)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    changed = {host: int(changed) for host, _ok, changed, _unr, _failed in RECAP.findall(out)}
    return Run(took, cpu, changed, json.loads(calls_file.read_text()))


def lab_up(mirror_root: Path, connection: str, nodes: str, ha: str) -> None:
    sh(["bash", "tools/lab/lab-down.sh"])
    sh(["bash", "tools/lab/lab-up.sh"], env=dict(os.environ, MIRROR_DIR=str(mirror_root), EKSD_LAB_CONNECTION=connection,
                                                 NODES=nodes, HA=ha))


def kubectl(node: str) -> list[str]:
    """kubectl as the cluster's admin, run on a control plane node's container (whatever the lab's connection)."""
    return ["podman", "exec", node, "/usr/local/bin/kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"]


def first_node() -> str:
    """The container of the lab's first node (the lab's node prefix may be set, EKSD_LAB_PREFIX)."""
    return os.environ.get("EKSD_LAB_PREFIX", "eksd-node") + "1"


def wait_verified(node: str, timeout: int = 300) -> float:
    start = time.monotonic()
    sh(kubectl(node) + ["wait", "--for=condition=Ready", "node", "--all", f"--timeout={timeout}s"])
    sh(kubectl(node) + ["-n", "kube-system", "wait", "--for=condition=Available", "deployment/coredns", f"--timeout={timeout}s"])
    return time.monotonic() - start


def mirror_traffic(log: Path, since: int, mirror_root: Path) -> tuple[int, collections.Counter]:
    lines = log.read_text().splitlines()[since:]
    fetched = collections.Counter(m.group(1) for m in map(ACCESS.search, lines) if m)
    total = sum((mirror_root / path.lstrip("/")).stat().st_size * n for path, n in fetched.items()
                if (mirror_root / path.lstrip("/")).is_file())
    return total, fetched


def node_versions(node: str) -> str:
    return sh(kubectl(node) + ["get", "nodes", "-o", "jsonpath={.items[*].status.nodeInfo.kubeletVersion}"]).stdout.strip()


def bench_shape(release: str, mirror_root: Path, connection: str, shape: str) -> dict:
    lab_up(mirror_root, connection, SHAPES[shape]["NODES"], SHAPES[shape]["HA"])
    log = CACHE / "lab/run/mirror.log"
    since = len(log.read_text().splitlines()) if log.exists() else 0
    work = Path(tempfile.mkdtemp(prefix=f"bench-{connection}-{shape}-", dir=CACHE / "lab"))
    deploy = playbook("site.yml", release, work, work / "deploy.log")
    verified = wait_verified(first_node())
    noop = playbook("site.yml", release, work, work / "noop.log")
    total, fetched = mirror_traffic(log, since, mirror_root)
    print(f"== {SHAPES[shape]['name']} over {connection} ({SHAPES[shape]['NODES']} hosts), release {release}")
    print(f"  site.yml fresh deploy:       {deploy.wall:7.1f} s (+{verified:.1f} s until every node Ready and CoreDNS available)")
    print(f"  site.yml no-op re-run:       {noop.wall:7.1f} s ({noop.wall / deploy.wall:.0%} of the deploy)")
    print(f"  changed tasks, deploy:       {deploy.changed_text()}")
    print(f"  changed tasks, re-run:       {noop.changed_text()}")
    print(f"  module runs on hosts, deploy: {deploy.per_host('host_calls')}")
    print(f"  module runs on hosts, re-run: {noop.per_host('host_calls')}")
    print(f"  controller-only tasks, re-run: {noop.per_host('controller_tasks')}")
    print(f"  controller CPU, deploy/re-run: {deploy.cpu:.1f} s / {noop.cpu:.1f} s")
    print(f"  mirror bytes served:         {total / 1e6:.1f} MB in {sum(fetched.values())} requests, "
          f"{len(fetched)} distinct; fetched more than once: {sorted(p for p, n in fetched.items() if n > 1) or 'none'}")
    print(f"  playbook output (profile_tasks, module runs by action): {work}/deploy.log, {work}/noop.log, *.calls.json",
          flush=True)
    return {"deploy": deploy, "noop": noop}


def bench_upgrade(old: str, new: str, mirror_root: Path, connection: str) -> None:
    lab_up(mirror_root, connection, "2", "0")
    work = Path(tempfile.mkdtemp(prefix=f"bench-upgrade-{connection}-", dir=CACHE / "lab"))
    deploy = playbook("site.yml", old, work, work / "deploy.log")
    wait_verified(first_node())
    before = node_versions(first_node())
    upgrade = playbook("upgrade.yml", new, work, work / "upgrade.log")
    after = node_versions(first_node())
    print(f"== patch upgrade 1+1 over {connection}, {old} -> {new}")
    print(f"  site.yml at {old}:           {deploy.wall:7.1f} s (kubelets {before})")
    print(f"  upgrade.yml to {new}:        {upgrade.wall:7.1f} s (kubelets {after}); changed {upgrade.changed_text()}")
    print(f"  module runs on hosts:        {upgrade.per_host('host_calls')}; controller CPU {upgrade.cpu:.1f} s")
    print(f"  playbook output: {work}/upgrade.log", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--release", default="1-24-9")
    ap.add_argument("--shapes", default="default,ha,wide")
    ap.add_argument("--connections", default=",".join(CONNECTIONS))
    ap.add_argument("--upgrade-from", help="also time a patch upgrade 1+1 from this release to --release")
    ap.add_argument("--keep", action="store_true", help="leave the last lab up")
    args = ap.parse_args()
    shapes, connections = args.shapes.split(","), args.connections.split(",")
    unknown = sorted(set(shapes) - set(SHAPES)) + sorted(set(connections) - set(CONNECTIONS))
    if unknown:
        sys.exit(f"unknown shape or connection: {', '.join(unknown)} (shapes: {', '.join(SHAPES)}; "
                 f"connections: {', '.join(CONNECTIONS)})")
    releases = [args.release] + ([args.upgrade_from] if args.upgrade_from else [])
    for release in releases:  # one mirror tree holds every release built
        mirror_root = Path(sh([sys.executable, "tools/mirror/build_mirror.py", release]).stdout.strip().splitlines()[-1])
    results = {}
    for connection in connections:
        for shape in shapes:
            results[connection, shape] = bench_shape(args.release, mirror_root, connection, shape)
    if args.upgrade_from:
        bench_upgrade(args.upgrade_from, args.release, mirror_root, connections[0])
    print("== summary (wall s / controller CPU s)")
    for (connection, shape), r in results.items():
        print(f"  {connection:6} {SHAPES[shape]['name']:7} deploy {r['deploy'].wall:6.1f} / {r['deploy'].cpu:6.1f}"
              f"   no-op {r['noop'].wall:6.1f} / {r['noop'].cpu:6.1f}")
    for connection in connections:
        if (connection, "default") in results and (connection, "wide") in results:
            one, five = results[connection, "default"], results[connection, "wide"]
            print(f"  {connection}: controller CPU 1+5 / 1+1: deploy {five['deploy'].cpu / one['deploy'].cpu:.2f}x, "
                  f"no-op {five['noop'].cpu / one['noop'].cpu:.2f}x")
    if not args.keep:
        sh(["bash", "tools/lab/lab-down.sh"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
