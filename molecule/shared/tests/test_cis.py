"""CIS Kubernetes Benchmark: kube-bench on every node of the converged lab finds no scored FAIL.

Runs tools/cis/kube_bench.py (what `make cis` runs: kube-bench built once per version into
$EKSD_CACHE/kube-bench, the collection's paths, the benchmark of the cluster's Kubernetes minor) against
the lab inventory. The pass floors keep the test from passing on a run that checked nothing (a wrong
path makes kube-bench skip or WARN, not FAIL).
"""
from __future__ import annotations

import importlib.util
import sys

import pytest
from test_cluster import GROUPS, INVENTORY, REPO

_spec = importlib.util.spec_from_file_location("eksd_kube_bench", REPO / "tools" / "cis" / "kube_bench.py")
kube_bench = importlib.util.module_from_spec(_spec)
sys.modules["eksd_kube_bench"] = kube_bench
_spec.loader.exec_module(kube_bench)

# Least number of PASSes per node role (cis-1.24 on the lab: 80 on the control plane, 20 on a worker).
PASS_FLOOR = {"control_plane": 70, "etcd": 6, "workers": 15}


@pytest.fixture(scope="module")
def summary() -> dict:
    return kube_bench.run(INVENTORY)


def test_every_node_was_benchmarked(summary):
    nodes = set(GROUPS.get("control_plane", {})) | set(GROUPS.get("etcd", {})) | set(GROUPS.get("workers", {}))
    assert set(summary["nodes"]) == nodes


def test_no_scored_fail(summary):
    fails = {name: [f"{f['id']} {f['text']}" for f in res["scored_fails"]]
             for name, res in summary["nodes"].items() if res["scored_fails"]}
    assert not fails, f"kube-bench scored FAILs (results in {summary['dir']}): {fails}"


def test_checks_actually_ran(summary):
    for name, res in summary["nodes"].items():
        assert res["pass"] >= PASS_FLOOR[res["role"]], (name, res["role"], res["pass"], res["benchmark"])
