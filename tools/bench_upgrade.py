#!/usr/bin/env python3
"""Upgrade benchmark on the HA lab (three control planes, one worker): prints figures, asserts nothing (not a test).

  * wall time of upgrade.yml from FROM to TO on a cluster that site.yml brought up at FROM
  * drain time of each drained node (the "Cordon and drain the node" task, from the JSON callback)
  * requests and failed requests of the API probe (tools/lab/api_probe.py, every 200 ms through the
    worker's cluster endpoint, for the whole upgrade), and the fewest available replicas it saw of a
    2-replica Deployment with a PodDisruptionBudget
  * wall time and changed-task count of a second, no-op run of upgrade.yml

    python3 tools/bench_upgrade.py [--from 1-24-8] [--to 1-24-9] [--reuse] [--keep]

--reuse skips bringing up the lab and running site.yml (the lab must run FROM already, e.g. after
`molecule prepare -s upgrade`); --keep leaves the lab up afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))
INVENTORY = CACHE / "lab" / "hosts.yml"
PKI = CACHE / "lab" / "cluster" / "pki"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def sh(cmd: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-5000:]}")
    return proc


def play(path: str, release: str | None = None, json_callback: bool = False) -> tuple[float, str]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    if json_callback:
        env.update(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CALLBACKS_ENABLED="")
    cmd = ["ansible-playbook", "-i", str(INVENTORY), path, "-e", f"eksd_pki_dir={PKI}"]
    if release:
        cmd += ["-e", f"eksd_release={release}"]
    start = time.monotonic()
    out = sh(cmd, env=env).stdout
    return time.monotonic() - start, out


def seconds(duration: dict) -> float:
    parse = lambda text: time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + text[19:26].rstrip("Z"))  # noqa: E731
    return parse(duration["end"]) - parse(duration["start"])


def drain_times(report: dict) -> dict[str, float]:
    times = {}
    for played in report["plays"]:
        for task in played["tasks"]:
            if task["task"]["name"].endswith("Cordon and drain the node"):
                for node, result in task["hosts"].items():
                    if not result.get("skipped"):
                        times[node] = seconds(task["task"]["duration"])
    return times


def changed_count(report: dict) -> int:
    return sum(stats.get("changed", 0) for stats in report["stats"].values())


def first_worker() -> str:
    """The container of the inventory's first worker (the probe runs there)."""
    workers = yaml.safe_load(INVENTORY.read_text())["all"]["children"]["k8s_cluster"]["children"]["workers"]["hosts"]
    name = sorted(workers)[0]
    hvars = workers[name] or {}
    return hvars.get("lab_container") or hvars.get("ansible_host", name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="old", default="1-24-8")
    ap.add_argument("--to", dest="new", default="1-24-9")
    ap.add_argument("--reuse", action="store_true", help="the lab already runs FROM")
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    args = ap.parse_args()

    if not args.reuse:
        mirror = sh([sys.executable, "tools/mirror/build_mirror.py", args.old]).stdout.strip().splitlines()[-1]
        sh(["bash", "tools/lab/lab-up.sh", "4"], env=dict(os.environ, HA="1", MIRROR_DIR=mirror))
        took, _ = play("site.yml", args.old)
        print(f"site.yml {args.old} (HA 3+1): {took:.0f} s")
    play("molecule/upgrade/workload.yml")

    took, out = play("upgrade.yml", args.new, json_callback=True)
    report = json.loads(out[out.index("{"):])
    worker = subprocess.run(["podman", "exec", first_worker(), "sh", "-c",
                             "systemctl stop eksd-api-probe; cat /var/tmp/api-probe/figures.json"],
                            text=True, capture_output=True, check=True).stdout
    probe = json.loads(worker)
    again, out_again = play("upgrade.yml", args.new, json_callback=True)

    print(f"upgrade.yml {args.old} -> {args.new} (HA 3+1): {took:.0f} s wall, {changed_count(report)} changed tasks")
    for node, drained in sorted(drain_times(report).items()):
        print(f"  drain {node}: {drained:.1f} s")
    print(f"API probe: {probe['requests']} requests every {probe['interval']} s over {probe['seconds']} s, "
          f"{probe['failed']} failed; fewest available replicas of the Deployment: {probe['min_available']}")
    for failure in probe["failures"][:10]:
        print(f"  failed at {failure['at']}: {failure['error']}")
    print(f"upgrade.yml again (no-op): {again:.0f} s wall, "
          f"{changed_count(json.loads(out_again[out_again.index('{'):]))} changed tasks")

    if not args.keep and not args.reuse:
        sh(["bash", "tools/lab/lab-down.sh"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
