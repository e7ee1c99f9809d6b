#!/usr/bin/env python3
"""How long parsing and resolving the largest fixture manifest takes, in process.

Prints the median (and min/max) over N runs, in milliseconds, of:
  * parse: YAML -> validated Release (parse_manifest)
  * parse+resolve: that plus selecting one arch and rewriting onto mirrors (release_facts)
  * resolve_release: the whole front-end path from a local file, as release_info runs it
Not a test: it asserts nothing. Budget: well under 50 ms for parse+resolve.

    python tools/bench_resolve.py [--runs 50] [--fixtures DIR] [--pure-yaml]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(fn, runs: int) -> list[float]:
    fn()  # warm up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--fixtures",
        default=str(REPO / "tests" / "fixtures" / "eksd"),
        help="directory holding manifests/ (default: tests/fixtures/eksd)",
    )
    parser.add_argument("--pure-yaml", action="store_true", help="use PyYAML's pure-Python SafeLoader (a host without libyaml)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / ".collections"))  # the committed symlink back to this checkout
    from ansible_collections.eksd.distro.plugins.module_utils import _manifest
    from ansible_collections.eksd.distro.plugins.module_utils._fetch import (
        resolve_release,
    )

    manifests = sorted(Path(args.fixtures, "manifests").glob("*.yaml"))
    if not manifests:
        print(f"no manifests under {args.fixtures}/manifests", file=sys.stderr)
        return 2
    if args.pure_yaml:
        _manifest._YAML_LOADER = _manifest.yaml.SafeLoader
    largest = max(manifests, key=lambda path: path.stat().st_size)
    data = largest.read_bytes()

    def parse():
        return _manifest.parse_manifest(data, str(largest))

    def parse_and_resolve():
        release = _manifest.parse_manifest(data, str(largest))
        return _manifest.release_facts(release, "arm64", artifact_mirror="https://mirror.example.com/eksd",
                                       image_mirror="10.88.0.1:5000")

    def front_end():
        return resolve_release({"manifest": str(largest), "arch": "arm64", "image_mirror": "10.88.0.1:5000"})

    print(f"{largest.name}: {len(data)} bytes, loader {_manifest._YAML_LOADER.__name__}, "
          f"Python {sys.version.split()[0]}, {args.runs} runs")
    for label, fn in (("parse", parse), ("parse+resolve", parse_and_resolve), ("resolve_release", front_end)):
        samples = timed(fn, args.runs)
        print(f"  {label:16} median {statistics.median(samples):7.2f} ms   min {min(samples):7.2f}   max {max(samples):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
