#!/usr/bin/env python3
"""Build the offline mirrors that Molecule scenarios will need, in the order they will need them.

`make test-molecule` starts this in the background, at the lowest CPU priority, while the first scenario runs:
a scenario spends most of its verify time waiting on the cluster, so the next scenarios' cold release builds
(about 20 minutes each on 2 cores) overlap it instead of adding up in series. It is a head start only: each
scenario's create still runs build_mirror.py for its releases, which waits on the builder's lock and then finds
them current. A failed build here is reported again, where it matters, by that create step.

A scenario that runs Kubernetes' conformance tests (EKSD_TEST_CONFORMANCE in its molecule.yml) needs e2e.test and the
test images of its release too: they are built last, after every mirror (tools/conformance/build_images.py, cached
by Kubernetes version like a manual `make conformance-images`).

    prebuild.py SCENARIO...        build (or find current) every release those scenarios use, then their
                                   conformance tests and images
    prebuild.py --list SCENARIO... print the releases, one per line, in build order
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# what a scenario's molecule.yml (or the shared config) sets: the release it brings up, then the one it upgrades to
RELEASE_VARS = ("EKSD_TEST_RELEASE", "EKSD_UPGRADE_RELEASE")
# what a scenario sets when its verify runs conformance tests against the release it brings up
CONFORMANCE_VAR = "EKSD_TEST_CONFORMANCE"


def _env(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text()) or {}
    return (doc.get("ansible") or {}).get("env") or {}


def scenario_env(scenario: str, repo: Path = REPO) -> dict:
    """`scenario`'s environment: its molecule.yml over the shared config."""
    own = repo / "molecule" / scenario / "molecule.yml"
    if not own.is_file():
        known = sorted(p.parent.name for p in (repo / "molecule").glob("*/molecule.yml"))
        raise SystemExit(f"prebuild: no Molecule scenario {scenario!r} (expected one of {', '.join(known)})")
    return {**_env(repo / ".config" / "molecule" / "config.yml"), **_env(own)}


def scenario_releases(scenario: str, repo: Path = REPO) -> list[str]:
    """The releases `scenario` brings up and upgrades to."""
    env = scenario_env(scenario, repo)
    return [str(env[var]) for var in RELEASE_VARS if env.get(var)]


def conformance_releases(scenarios: list[str], repo: Path = REPO) -> list[str]:
    """The releases whose conformance tests `scenarios` run (the one each brings up), once, in order."""
    order: list[str] = []
    for scenario in scenarios:
        env = scenario_env(scenario, repo)
        if env.get(CONFORMANCE_VAR) and env.get("EKSD_TEST_RELEASE") and env["EKSD_TEST_RELEASE"] not in order:
            order.append(str(env["EKSD_TEST_RELEASE"]))
    return order


def build_order(scenarios: list[str], repo: Path = REPO) -> list[str]:
    """Every release of `scenarios`, once, in the order the scenarios will ask for them."""
    order: list[str] = []
    for scenario in scenarios:
        order += [r for r in scenario_releases(scenario, repo) if r not in order]
    return order


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--list", action="store_true", help="print the releases in build order and stop")
    args = ap.parse_args()
    releases = build_order(args.scenarios)
    if args.list:
        print("\n".join(releases))
        return 0
    os.nice(19)  # inherited by the Go compiler: the running cluster keeps the CPU it asks for
    steps = [(release, HERE / "build_mirror.py") for release in releases]
    steps += [(release, REPO / "tools" / "conformance" / "build_images.py")
              for release in conformance_releases(args.scenarios)]
    failed = []
    for release, script in steps:
        started = time.monotonic()
        rc = subprocess.run([sys.executable, str(script), release], check=False).returncode
        print(f"prebuild: {release}: {script.name} {'ready' if rc == 0 else f'exit {rc}'} "
              f"after {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
        if rc:
            failed.append(f"{script.name} {release}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
