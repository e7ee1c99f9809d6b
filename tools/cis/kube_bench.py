#!/usr/bin/env python3
"""CIS Kubernetes Benchmark on the lab with kube-bench: `make cis`.

Builds kube-bench (KUBE_BENCH_VERSION, the one place it is pinned) from its Go module through the Go
module proxy, once per version, into $EKSD_CACHE/kube-bench/<version>/ (bin/kube-bench and the
module's cfg/). Every run writes a cfg/ whose config.yaml names the collection's real paths (systemd
units instead of static pod manifests, etcd's unit, /var/lib/etcd, the kubeconfigs under
/etc/kubernetes), copies binary and cfg onto each lab node (`podman cp` into the inventory's
lab_container) and runs it there with the benchmark of the node's Kubernetes minor:

    control plane nodes: targets master, etcd, controlplane, policies, node (they run a kubelet too)
    etcd-only nodes:     target etcd
    workers:             target node

The JSON of each node and a summary are kept under $EKSD_CACHE/cis/<UTC time>/ (and cis/latest).
Prints pass/fail/warn per node and role, the ids of every FAIL (scored FAILs first), and exits 1 on
any scored FAIL, 0 otherwise. Usage: tools/cis/kube_bench.py [--inventory FILE] [--build-only]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from lab_inventory import load_inventory  # noqa: E402  (tools/lab is not a package)

KUBE_BENCH_MODULE = "github.com/aquasecurity/kube-bench"
KUBE_BENCH_VERSION = "v0.15.1"

CACHE = Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))
NODE_DIR = "/opt/eksd-kube-bench"

# The benchmark for a Kubernetes minor: kube-bench's own version_mapping (cfg/config.yaml) where it has
# the minor, else the newest CIS benchmark it ships (cis-1.12 covers 1.32 and later).
NEWEST_BENCHMARK = "cis-1.12"

TARGETS = {
    "control_plane": ["master", "etcd", "controlplane", "policies", "node"],
    "etcd": ["etcd"],
    "workers": ["node"],
}

# Scored checks an inventory turns off on purpose: the variable, the value that does it, a piece of the check's
# text (ids differ between benchmarks) and why. Such a FAIL is listed as excepted, not counted.
INVENTORY_EXCEPTIONS = [
    {"var": "eksd_protect_kernel_defaults", "value": False, "match": "protect-kernel-defaults",
     "reason": "eksd_protect_kernel_defaults: false (kernel parameters are global; the lab's are the machine's own)"},
]

# Where the collection puts things (roles/*): kube-bench's defaults look for static pod manifests.
UNIT = "/etc/systemd/system/{}.service"
PATHS = {
    ("master", "apiserver"): {"confs": [UNIT.format("kube-apiserver")], "defaultconf": UNIT.format("kube-apiserver")},
    ("master", "scheduler"): {"confs": [UNIT.format("kube-scheduler")], "defaultconf": UNIT.format("kube-scheduler"),
                              "kubeconfig": ["/etc/kubernetes/scheduler.conf"],
                              "defaultkubeconfig": "/etc/kubernetes/scheduler.conf"},
    ("master", "controllermanager"): {"confs": [UNIT.format("kube-controller-manager")],
                                      "defaultconf": UNIT.format("kube-controller-manager"),
                                      "kubeconfig": ["/etc/kubernetes/controller-manager.conf"],
                                      "defaultkubeconfig": "/etc/kubernetes/controller-manager.conf"},
    # etcd's settings are flags in its unit (no configuration file)
    ("master", "etcd"): {"confs": [UNIT.format("etcd")], "defaultconf": UNIT.format("etcd"),
                         "datadirs": ["/var/lib/etcd"], "defaultdatadir": "/var/lib/etcd"},
    ("etcd", "etcd"): {"confs": [UNIT.format("etcd")], "defaultconf": UNIT.format("etcd"),
                       "datadirs": ["/var/lib/etcd"], "defaultdatadir": "/var/lib/etcd"},
    ("node", "kubelet"): {"svc": [UNIT.format("kubelet")], "defaultsvc": UNIT.format("kubelet"),
                          "kubeconfig": ["/etc/kubernetes/kubelet.conf"],
                          "defaultkubeconfig": "/etc/kubernetes/kubelet.conf",
                          "confs": ["/var/lib/kubelet/config.yaml"], "defaultconf": "/var/lib/kubelet/config.yaml",
                          "cafile": ["/etc/kubernetes/pki/ca.crt"], "defaultcafile": "/etc/kubernetes/pki/ca.crt"},
    ("node", "proxy"): {"svc": [UNIT.format("kube-proxy")], "defaultsvc": UNIT.format("kube-proxy"),
                        "kubeconfig": ["/etc/kubernetes/kube-proxy.conf"],
                        "defaultkubeconfig": "/etc/kubernetes/kube-proxy.conf",
                        "confs": ["/var/lib/kube-proxy/config.yaml"], "defaultconf": "/var/lib/kube-proxy/config.yaml"},
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(version: str = KUBE_BENCH_VERSION) -> Path:
    """$EKSD_CACHE/kube-bench/<version>/ with bin/kube-bench and cfg/; built once per version."""
    root = CACHE / "kube-bench" / version
    if (root / "bin" / "kube-bench").is_file() and (root / "cfg" / "config.yaml").is_file():
        return root
    env = dict(os.environ, GOFLAGS="-mod=mod", CGO_ENABLED="0")
    log(f"kube-bench {version}: fetching {KUBE_BENCH_MODULE}@{version} through the Go module proxy")
    info = json.loads(subprocess.run(["go", "mod", "download", "-json", f"{KUBE_BENCH_MODULE}@{version}"],
                                     check=True, capture_output=True, text=True, env=env,
                                     cwd=tempfile.gettempdir()).stdout)
    src = Path(info["Dir"])
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{version}.", dir=root.parent))
    try:
        (tmp / "bin").mkdir()
        log(f"kube-bench {version}: building (a few minutes on 2 cores)")
        # In the module's own directory: its go.mod and go.sum pin every dependency (`go install pkg@version`
        # would also ask the proxy for the module's version list, which it need not serve).
        subprocess.run(["go", "build", "-trimpath", "-ldflags",
                        f"-s -w -X github.com/aquasecurity/kube-bench/cmd.KubeBenchVersion={version}",
                        "-o", str(tmp / "bin" / "kube-bench"), "."], check=True, env=env, cwd=src)
        shutil.copytree(src / "cfg", tmp / "cfg")
        for path in [tmp / "cfg", *(tmp / "cfg").rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        if root.exists():
            shutil.rmtree(root)
        tmp.chmod(0o755)
        tmp.rename(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def eksd_cfg(root: Path, dest: Path) -> Path:
    """kube-bench's cfg/ with config.yaml naming the collection's paths."""
    shutil.copytree(root / "cfg", dest)
    config = yaml.safe_load((root / "cfg" / "config.yaml").read_text())
    for (section, component), paths in PATHS.items():
        entry = config.setdefault(section, {}).setdefault(component, {})
        for key, value in paths.items():
            entry[key] = copy.deepcopy(value) + [p for p in entry.get(key, []) if p not in value] \
                if isinstance(value, list) else value
    (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def benchmark_for(minor: str, config: dict) -> str:
    return config.get("version_mapping", {}).get(minor, NEWEST_BENCHMARK)


def roles_of(groups: dict[str, dict]) -> dict[str, str]:
    """host -> role: control_plane, else etcd, else workers."""
    roles: dict[str, str] = {}
    for role in ("control_plane", "etcd", "workers"):
        for name in sorted(groups.get(role, {})):
            roles.setdefault(name, role)
    return roles


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], check=check, capture_output=True, text=True)


def run_node(container: str, role: str, root: Path, cfg: Path, config: dict) -> tuple[str, dict]:
    podman("exec", container, "rm", "-rf", NODE_DIR)
    podman("exec", container, "mkdir", "-p", NODE_DIR)
    podman("cp", str(root / "bin" / "kube-bench"), f"{container}:{NODE_DIR}/kube-bench")
    podman("cp", str(cfg), f"{container}:{NODE_DIR}/cfg")
    version = podman("exec", container, "/usr/local/bin/kubelet", "--version").stdout.split()[-1]
    minor = ".".join(version.lstrip("v").split(".")[:2])
    bench = benchmark_for(minor, config)
    out = podman("exec", container, f"{NODE_DIR}/kube-bench", "run", "--config-dir", f"{NODE_DIR}/cfg",
                 "--benchmark", bench, "--targets", ",".join(TARGETS[role]), "--json", check=False)
    podman("exec", container, "rm", "-rf", NODE_DIR, check=False)
    if not out.stdout.strip().startswith("{"):
        raise RuntimeError(f"kube-bench on {container} (rc {out.returncode}): {out.stderr[-2000:]}{out.stdout[-2000:]}")
    return bench, json.loads(out.stdout)


def excepted(entry: dict, hostvars: dict) -> str | None:
    for exc in INVENTORY_EXCEPTIONS:
        if exc["var"] in hostvars and hostvars[exc["var"]] == exc["value"] and exc["match"] in entry["text"]:
            return exc["reason"]
    return None


def summarise(report: dict, hostvars: dict | None = None) -> dict:
    counts = {"pass": 0, "fail": 0, "warn": 0, "info": 0}
    scored_fails, unscored_fails, warns, excepted_fails = [], [], [], []
    for control in report.get("Controls", []):
        for group in control.get("tests", []):
            for result in group.get("results", []):
                status = result["status"].lower()
                counts[status] = counts.get(status, 0) + 1
                entry = {"id": result["test_number"], "text": result["test_desc"], "target": control.get("node_type")}
                reason = excepted(entry, hostvars or {}) if status == "fail" and result.get("scored") else None
                if reason:
                    excepted_fails.append({**entry, "reason": reason})
                elif status == "fail":
                    (scored_fails if result.get("scored") else unscored_fails).append(entry)
                elif status == "warn":
                    warns.append(entry)
    return {**counts, "scored_fails": scored_fails, "unscored_fails": unscored_fails, "excepted_fails": excepted_fails,
            "warns": warns}


def run(inventory: Path) -> dict:
    root = build()
    groups = load_inventory(inventory)
    hostvars = {name: hvars for members in groups.values() for name, hvars in members.items()}
    config = yaml.safe_load((root / "cfg" / "config.yaml").read_text())
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    outdir = CACHE / "cis" / stamp
    outdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = eksd_cfg(root, Path(tmp) / "cfg")
        for name, role in roles_of(groups).items():
            container = hostvars[name].get("lab_container") or hostvars[name].get("ansible_host", name)
            bench, report = run_node(container, role, root, cfg, config)
            (outdir / f"{name}.json").write_text(json.dumps(report, indent=1))
            results[name] = {"role": role, "benchmark": bench, "targets": TARGETS[role], **summarise(report, hostvars[name])}
    summary = {"kube_bench": KUBE_BENCH_VERSION, "inventory": str(inventory), "time": stamp, "nodes": results}
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1))
    latest = CACHE / "cis" / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(stamp)
    summary["dir"] = str(outdir)
    return summary


def print_summary(summary: dict) -> int:
    print(f"kube-bench {summary['kube_bench']} ({summary['dir']})")
    scored = 0
    for name, res in summary["nodes"].items():
        print(f"{name} ({res['role']}: {res['benchmark']} {','.join(res['targets'])}): "
              f"{res['pass']} pass, {res['fail']} fail, {res['warn']} warn")
        for fail in res["scored_fails"]:
            print(f"  FAIL {fail['id']} {fail['text']}")
        for fail in res["excepted_fails"]:
            print(f"  FAIL {fail['id']} {fail['text']}: excepted, {fail['reason']}")
        for fail in res["unscored_fails"]:
            print(f"  fail (manual, not scored) {fail['id']} {fail['text']}")
        scored += len(res["scored_fails"])
    print(f"scored FAILs: {scored}")
    return 1 if scored else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path,
                        default=Path(os.environ.get("EKSD_INVENTORY", CACHE / "lab" / "hosts.yml")))
    parser.add_argument("--build-only", action="store_true", help="build or reuse kube-bench, print its directory")
    parser.add_argument("--warnings", action="store_true", help="list every WARN too")
    args = parser.parse_args()
    if args.build_only:
        print(build())
        return 0
    summary = run(args.inventory)
    rc = print_summary(summary)
    if args.warnings:
        for name, res in summary["nodes"].items():
            for warn in res["warns"]:
                print(f"{name} WARN {warn['id']} {warn['text']}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
