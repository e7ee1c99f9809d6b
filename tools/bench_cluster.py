#!/usr/bin/env python3
"""Deploy benchmark on the lab: prints figures, asserts nothing (not a test).

For each shape (default: one control plane + one worker; ha: three control planes + one worker):
  * wall time of site.yml on fresh lab hosts with a warm mirror, to a verified cluster (every node
    Ready, CoreDNS available)
  * changed-task counts per host of that run, and of a no-op re-run, with its wall time
  * artifact bytes served by the mirror during the deploy, and how often each artifact was fetched
    (the goal is once per cluster, not once per node)

    python3 tools/bench_cluster.py [--release 1-24-9] [--shapes default,ha] [--keep]
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))
SHAPES = {"default": {"NODES": "2", "HA": "0"}, "ha": {"NODES": "4", "HA": "1"}}
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
ACCESS = re.compile(r'"GET (\S+) HTTP/[\d.]+" 200')


def sh(cmd: list[str], env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-5000:]}")
    return proc


def playbook(release: str, work: Path, log: Path) -> tuple[float, dict[str, int]]:
    """site.yml with a PKI and an artifact cache of this benchmark's own (so every artifact comes from the mirror
    once); the output, with profile_tasks' slowest tasks, goes to log."""
    start = time.monotonic()
    out = sh(["ansible-playbook", "-i", str(CACHE / "lab/hosts.yml"), "site.yml", "-e", f"eksd_release={release}",
              "-e", f"eksd_pki_dir={work / 'pki'}", "-e", f"download_cache_dir={work / 'artifacts'}"]).stdout
    took = time.monotonic() - start
    log.write_text(out)
    return took, {host: int(changed) for host, _ok, changed, _unr, _failed in RECAP.findall(out)}


def first_node() -> str:
    """The container of the lab's first node (the lab's node prefix may be set, EKSD_LAB_PREFIX)."""
    return os.environ.get("EKSD_LAB_PREFIX", "eksd-node") + "1"


def wait_verified(node: str, timeout: int = 300) -> float:
    start = time.monotonic()
    kubectl = ["podman", "exec", node, "/usr/local/bin/kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"]
    sh(kubectl + ["wait", "--for=condition=Ready", "node", "--all", f"--timeout={timeout}s"])
    sh(kubectl + ["-n", "kube-system", "wait", "--for=condition=Available", "deployment/coredns", f"--timeout={timeout}s"])
    return time.monotonic() - start


def mirror_traffic(log: Path, since: int, mirror_root: Path) -> tuple[int, collections.Counter]:
    lines = log.read_text().splitlines()[since:]
    fetched = collections.Counter(m.group(1) for m in map(ACCESS.search, lines) if m)
    total = sum((mirror_root / path.lstrip("/")).stat().st_size * n for path, n in fetched.items()
                if (mirror_root / path.lstrip("/")).is_file())
    return total, fetched


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", default="1-24-9")
    ap.add_argument("--shapes", default="default,ha")
    ap.add_argument("--keep", action="store_true", help="leave the last lab up")
    args = ap.parse_args()
    mirror_root = Path(sh([sys.executable, "tools/mirror/build_mirror.py", args.release]).stdout.strip().splitlines()[-1])
    shapes = args.shapes.split(",")
    for i, shape in enumerate(shapes):
        sh(["bash", "tools/lab/lab-down.sh"])
        sh(["bash", "tools/lab/lab-up.sh"], env=dict(os.environ, MIRROR_DIR=str(mirror_root), **SHAPES[shape]))
        log = CACHE / "lab/run/mirror.log"
        since = len(log.read_text().splitlines()) if log.exists() else 0
        work = Path(tempfile.mkdtemp(prefix=f"bench-{shape}-", dir=CACHE / "lab"))
        deploy, changed = playbook(args.release, work, work / "deploy.log")
        verified = wait_verified(first_node())
        noop, changed_again = playbook(args.release, work, work / "noop.log")
        total, fetched = mirror_traffic(log, since, mirror_root)
        print(f"== {shape} ({SHAPES[shape]['NODES']} hosts), release {args.release}")
        print(f"  site.yml fresh deploy:       {deploy:7.1f} s (+{verified:.1f} s until every node Ready and CoreDNS available)")
        print(f"  site.yml no-op re-run:       {noop:7.1f} s ({noop / deploy:.0%} of the deploy)")
        print(f"  changed tasks, deploy:       {sum(changed.values())} ({', '.join(f'{h}={n}' for h, n in sorted(changed.items()))})")
        print(f"  changed tasks, re-run:       {sum(changed_again.values())} ({', '.join(f'{h}={n}' for h, n in sorted(changed_again.items()))})")
        print(f"  mirror bytes served:         {total / 1e6:.1f} MB in {sum(fetched.values())} requests, "
              f"{len(fetched)} distinct; fetched more than once: {sorted(p for p, n in fetched.items() if n > 1) or 'none'}")
        print(f"  playbook output (profile_tasks): {work}/deploy.log, {work}/noop.log")
        if i == len(shapes) - 1 and not args.keep:
            sh(["bash", "tools/lab/lab-down.sh"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
