#!/usr/bin/env python3
"""Run Kubernetes' [Conformance] tests against a lab cluster, offline, and gate the result on the exclusions list.

  1. the lab: reuse the running one when its cluster answers and runs the release's Kubernetes version, else
     tools/lab/lab.sh RELEASE (mirror, lab hosts, site.yml; NODES=3 unless given: a control plane, two workers);
     either way the nodes' containerd is given the lab
     registry as a plain-http registry through the containerd role's own variable (containerd_registries)
  2. e2e.test and ginkgo (build_e2e.py) and the test images (build_images.py), pushed to the lab registry;
     KUBE_TEST_REPO_LIST points the suite at it
  3. the conformance tests (from the module's test/conformance/testdata/conformance.yaml), less FOCUS/SKIP and
     less tests/conformance/exclusions.yml: the parallel ones with ginkgo -p (--procs), then the [Serial] ones
  4. JUnit XML of each phase, summary.json and summary.txt in
     $EKSD_CACHE/conformance/results/<release>/<UTC timestamp>/

Exit status 0 when every test that ran passed or failed as an exclusion says it must; 1 on any other failure;
2 when the run could not be made (no cluster, no results).

Usage: run_conformance.py RELEASE [--focus REGEX] [--skip REGEX] [--procs N] [--run-excluded] [--no-lab]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXCLUSIONS = REPO / "tests" / "conformance" / "exclusions.yml"
# Go's regexp treats a backslash before these as literal; before a space or a letter it is an error or a class
GO_REGEX_SPECIAL = set("\\.+*?()|[]{}^$")


def log(msg: str) -> None:
    print(f"[conformance] {msg}", flush=True)


class RunError(Exception):
    """The run could not be made (exit 2), as opposed to a test failing (exit 1)."""


# ---------------------------------------------------------------------------------------------
# Pure functions (unit tested)
# ---------------------------------------------------------------------------------------------

def norm(name: str) -> str:
    """A test's name with runs of white space made one space (conformance.yaml folds long names)."""
    return " ".join(name.split())


def go_quote(text: str) -> str:
    """`text` as a Go (RE2) regular expression matching it literally."""
    return "".join("\\" + c if c in GO_REGEX_SPECIAL else c for c in text)


def names_regex(names: list[str]) -> str:
    """One regular expression matching any of the names (white space as in the spec's text: one or more)."""
    return "|".join(r"\s+".join(go_quote(word) for word in name.split()) for name in sorted(names))


def minor(version: str) -> str:
    """'1.24' of 'v1.24.7'."""
    m = re.match(r"v?(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return f"{m.group(1)}.{m.group(2)}"


def load_exclusions(doc: dict, version: str) -> dict[str, str]:
    """{test name: reason} of the exclusions that apply to this Kubernetes version (entries without `versions`
    apply to all). Refuses entries without a test name or a reason."""
    out = {}
    for i, entry in enumerate((doc or {}).get("exclusions") or []):
        if not isinstance(entry, dict) or not entry.get("test") or not str(entry.get("reason", "")).strip():
            raise ValueError(f"exclusions[{i}]: needs `test` and `reason`")
        versions = [str(v) for v in entry.get("versions") or []]
        if versions and minor(version) not in versions:
            continue
        out[norm(entry["test"])] = norm(str(entry["reason"]))
    return out


def select(conformance: list[str], focus: str | None, skip: str | None,
           excluded: dict[str, str], run_excluded: bool) -> tuple[list[str], list[str], list[str]]:
    """(parallel, serial, left out as excluded) test names: conformance tests matching `focus` and not `skip`
    (Python regular expressions, searched in the name like ginkgo's), [Serial] ones apart."""
    chosen = [n for n in (norm(c) for c in conformance)
              if (not focus or re.search(focus, n)) and not (skip and re.search(skip, n))]
    left_out = sorted(n for n in chosen if n in excluded and not run_excluded)
    run = [n for n in chosen if n not in left_out]
    serial = sorted(n for n in run if "[Serial]" in n or "[Disruptive]" in n)
    parallel = sorted(n for n in run if n not in serial)
    return parallel, serial, left_out


def parse_junit(xml_text: str) -> dict[str, dict]:
    """{test name: {"status": passed|failed|skipped, "seconds": float, "message": str}} of a JUnit file written by
    ginkgo (v1 or v2). BeforeSuite/AfterSuite failures are kept as tests of that name."""
    root = ET.fromstring(xml_text)
    out = {}
    for case in root.iter("testcase"):
        name = norm(case.get("name", ""))
        if name.startswith("[It] "):  # ginkgo v2 prefixes the leaf node type
            name = name[5:]
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            status, message = "failed", (failure.get("message") or failure.text or "").strip()
        elif case.find("skipped") is not None:
            status, message = "skipped", (case.find("skipped").get("message") or "").strip()
        else:
            status, message = "passed", ""
        out[name] = {"status": status, "seconds": float(case.get("time") or 0), "message": message[:2000]}
    return out


RANK = {"failed": 3, "passed": 2, "skipped": 1}


def merge_results(*parts: dict[str, dict]) -> dict[str, dict]:
    """Results of several files (parallel ginkgo nodes, phases): a test counts once, failed over passed over
    skipped (each node of a parallel run reports the tests it did not run as skipped)."""
    out: dict[str, dict] = {}
    for part in parts:
        for name, res in part.items():
            if name not in out or RANK[res["status"]] > RANK[out[name]["status"]]:
                out[name] = res
    return out


def gate(results: dict[str, dict], wanted: list[str], excluded: dict[str, str]) -> dict:
    """The verdict on the tests that were meant to run (`wanted`): counts, and the failures split into expected
    (listed in the exclusions) and unexplained. A wanted test with no result counts as failed (not run)."""
    failed, expected, passed, skipped, excluded_passed, missing = [], [], [], [], [], []
    for name in wanted:
        res = results.get(name)
        if res is None:
            missing.append(name)
            failed.append(name)
        elif res["status"] == "failed":
            (expected if name in excluded else failed).append(name)
        elif res["status"] == "passed":
            passed.append(name)
            if name in excluded:
                excluded_passed.append(name)
        else:
            skipped.append(name)
    extra = sorted(n for n, r in results.items() if n not in wanted and r["status"] == "failed")
    return {
        "run": len(passed) + len(failed) - len(missing) + len(expected), "passed": len(passed),
        "failed": len(failed) - len(missing) + len(expected), "skipped": len(skipped),
        "unexplained_failures": sorted(failed + extra), "expected_failures": sorted(expected),
        "not_run": sorted(missing), "excluded_but_passed": sorted(excluded_passed),
        "ok": not failed and not extra,
    }


def ginkgo_command(ginkgo: Path, e2e: Path, v2: bool, focus: str, procs: int, e2e_args: list[str]) -> list[str]:
    """The ginkgo CLI command running the precompiled e2e.test (flag spelling of ginkgo v1 or v2)."""
    if v2:
        flags = ["--no-color", "--focus", focus, "--timeout", "24h"]
        flags += ["-p", "--procs", str(procs)] if procs > 1 else []
    else:
        flags = ["-noColor", "-focus", focus, "-timeout", "24h"]
        flags += ["-p", f"-nodes={procs}"] if procs > 1 else []
    return [str(ginkgo), *flags, str(e2e), "--", *e2e_args]


def summary_text(release: str, version: str, verdict: dict, phases: dict, left_out: dict[str, str]) -> str:
    lines = [f"release {release} (Kubernetes {version})",
             f"run {verdict['run']}, passed {verdict['passed']}, failed {verdict['failed']} "
             f"({len(verdict['expected_failures'])} expected), skipped {verdict['skipped']}, "
             f"excluded (not run) {len(left_out)}"]
    lines += [f"phase {name}: {p['tests']} tests, {p['procs']} procs, {p['seconds']:.0f}s" for name, p in phases.items()]
    for title, key in (("UNEXPLAINED FAILURE", "unexplained_failures"), ("expected failure", "expected_failures"),
                       ("not run", "not_run"), ("excluded test passed", "excluded_but_passed")):
        lines += [f"{title}: {n}" for n in verdict[key]]
    lines += [f"excluded: {n} -- {r}" for n, r in sorted(left_out.items())]
    lines.append("verdict: " + ("OK" if verdict["ok"] else "FAILED"))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The lab and the run
# ---------------------------------------------------------------------------------------------

def cache() -> Path:
    return Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))


def lab_env() -> dict[str, str]:
    path = cache() / "lab" / "lab.env"
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))


def kubectl_path(release: str) -> Path | None:
    m = re.match(r"^(?:kubernetes-|v)?(\d+)-(\d+)-(?:eks-)?(\d+)$", release)
    if not m:
        return None
    found = sorted((cache() / "mirror" / f"kubernetes-{m.group(1)}-{m.group(2)}" / "releases" / m.group(3))
                   .glob("**/bin/linux/amd64/kubectl"))
    return found[0] if found else None


def cluster_version(kubectl: Path | None, kubeconfig: Path) -> str | None:
    """The API server's gitVersion, or None when there is no answering cluster with a Ready node."""
    if kubectl is None or not kubeconfig.exists():
        return None
    try:
        out = subprocess.run([str(kubectl), "--kubeconfig", str(kubeconfig), "--request-timeout=10s", "version",
                              "-o", "json"], capture_output=True, text=True, timeout=30)
        nodes = subprocess.run([str(kubectl), "--kubeconfig", str(kubeconfig), "--request-timeout=10s", "get", "nodes",
                                "--no-headers"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0 or nodes.returncode != 0 or " Ready " not in nodes.stdout:
        return None
    return json.loads(out.stdout).get("serverVersion", {}).get("gitVersion")


def registry_configured(env: dict, registry: str) -> bool:
    """Whether every lab node has the hosts.toml that containerd_registries writes for the registry (over SSH, as
    the inventory reaches them): the containerd play is then not run again."""
    sys.path.insert(0, str(REPO / "tools" / "lab"))
    from lab_inventory import load_inventory  # noqa: E402

    hosts = load_inventory(Path(env["EKSD_LAB_INVENTORY"])).get("k8s_cluster", {})
    for hvars in hosts.values():
        cmd = ["ssh", "-i", env["EKSD_LAB_SSH_KEY"], "-o", f"UserKnownHostsFile={env['EKSD_LAB_KNOWN_HOSTS']}",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", f"root@{hvars['ansible_host']}",
               f"grep -qs 'http://{registry}' /etc/containerd/certs.d/{registry}/hosts.toml"]
        if not hosts or env.get("EKSD_LAB_CONNECTION", "ssh") != "ssh" or subprocess.run(cmd).returncode != 0:
            return False
    return bool(hosts)


def run(cmd: list[str], logfile: Path | None = None, **kw) -> None:
    log("$ " + " ".join(cmd)[:300] + (f"  (output: {logfile})" if logfile else ""))
    if logfile:
        with open(logfile, "w") as f:
            done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, **kw)
    else:
        done = subprocess.run(cmd, **kw)
    if done.returncode != 0:
        raise RunError(f"{' '.join(cmd[:4])} ... exited {done.returncode}" + (f"; see {logfile}" if logfile else ""))


def ensure_lab(release: str, version: str, use_lab: bool) -> tuple[Path, dict]:
    """The admin kubeconfig of a lab cluster running `version` (brought up with lab.sh when needed) and lab.env;
    the nodes' containerd knows the lab registry as a plain-http registry (containerd_registries)."""
    kubeconfig = cache() / "lab" / "cluster" / "admin.conf"
    current = cluster_version(kubectl_path(release), kubeconfig)
    env = lab_env()
    registry = env.get("EKSD_IMAGE_MIRROR")
    if current and current.lstrip("v").startswith(version.lstrip("v")) and registry:
        log(f"reusing the lab cluster (Kubernetes {current}, registry {registry})")
        up = True
    elif not use_lab:
        raise RunError(f"no lab cluster running Kubernetes {version} (found {current or 'none'}) and --no-lab given")
    else:
        up = False
        if current:
            log(f"the lab cluster runs Kubernetes {current}, not {version}: removing it (tools/lab/lab-down.sh)")
            run(["bash", str(REPO / "tools" / "lab" / "lab-down.sh")], cwd=REPO)
    vars_file = cache() / "lab" / "conformance-vars.yml"
    if up and registry_configured(env, registry):
        log(f"the nodes' containerd already pulls from {registry} (containerd_registries)")
    elif up:
        vars_file.write_text(yaml.safe_dump({"containerd_registries": [
            {"registry": registry, "url": f"http://{registry}"}]}))
        cmd = ["ansible-playbook", "-i", env["EKSD_LAB_INVENTORY"], "site.yml", "-e", f"eksd_release={release}",
               "-e", f"eksd_pki_dir={cache() / 'lab' / 'cluster' / 'pki'}", "-e", f"@{vars_file}", "--tags", "containerd"]
        run(["nice", "-n", "10", *cmd], cache() / "lab" / "conformance-containerd.log", cwd=REPO)
    else:
        # the registry address is the lab network's gateway: known only once lab-up has run, so the lab is
        # brought up first (lab.sh), then the containerd play gives the nodes the registry
        log(f"bringing up a lab cluster for {release} (tools/lab/lab.sh)")
        run(["nice", "-n", "10", "bash", str(REPO / "tools" / "lab" / "lab.sh"), release], cwd=REPO)
        return ensure_lab(release, version, use_lab=False)
    return kubeconfig, lab_env()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("release")
    ap.add_argument("--focus", help="only the conformance tests whose name matches (regular expression)")
    ap.add_argument("--skip", help="leave out the conformance tests whose name matches (regular expression)")
    ap.add_argument("--procs", type=int, default=int(os.environ.get("PROCS", "3")),
                    help="ginkgo processes for the parallel phase (default 3; 1 runs everything serially)")
    ap.add_argument("--run-excluded", action="store_true",
                    help="run the excluded tests too (their failure is expected, does not fail the run)")
    ap.add_argument("--no-lab", action="store_true", help="do not bring up a lab: fail when none is running")
    ap.add_argument("--exclusions", type=Path, default=EXCLUSIONS)
    args = ap.parse_args()
    try:
        return conformance(args)
    except RunError as e:
        log(f"ERROR: {e}")
        return 2


def conformance(args) -> int:
    started = time.monotonic()
    # A lab brought up here has two workers: the suite needs two schedulable nodes (DaemonSet rollback, "at least two
    # untainted nodes"), and a control plane is tainted NoSchedule on every cluster this collection builds.
    os.environ.setdefault("NODES", "3")
    version = e2e_version(args.release)
    kubeconfig, env = ensure_lab(args.release, version, not args.no_lab)
    code, _, _ = run_suite(args.release, kubeconfig, env["EKSD_IMAGE_MIRROR"], focus=args.focus, skip=args.skip,
                           procs=args.procs, run_excluded=args.run_excluded, exclusions=args.exclusions,
                           started=started)
    return code


def e2e_version(release: str) -> str:
    """The Kubernetes version e2e.test is built at for the release (built first when missing)."""
    sys.path.insert(0, str(HERE))
    import build_e2e as be  # noqa: E402

    return json.loads((be.build(release) / be.RECORD).read_text())["kubernetes"]["built"]


def run_suite(release: str, kubeconfig: Path, registry: str, *, image_name: str | None = None,
              focus: str | None = None, skip: str | None = None, procs: int = 3, run_excluded: bool = False,
              exclusions: Path = EXCLUSIONS, started: float | None = None) -> tuple[int, Path, dict]:
    """Run the conformance tests of `release` (less FOCUS/SKIP and the exclusions) against the cluster of
    `kubeconfig`, with the test images pushed to `registry` and named `image_name` (build_images.push): the
    parallel ones, then the [Serial] ones. Returns (exit status as main's, results directory, summary)."""
    sys.path.insert(0, str(HERE))
    import build_e2e as be  # noqa: E402
    import build_images as bi  # noqa: E402

    started = time.monotonic() if started is None else started
    e2e_dir = be.build(release)
    record = json.loads((e2e_dir / be.RECORD).read_text())
    version = record["kubernetes"]["built"]
    v2 = record["ginkgo"]["module"].endswith("/v2")
    excluded = load_exclusions(yaml.safe_load(exclusions.read_text()), version)
    images = bi.ImageBuilder(release)
    images.build_all()
    repo_list = images.push(registry, image_name)
    conformance_yaml = yaml.safe_load((images.moddir / "test/conformance/testdata/conformance.yaml").read_text())
    parallel, serial, left_out = select([c["codename"] for c in conformance_yaml], focus, skip, excluded, run_excluded)
    if not parallel and not serial:
        raise RunError("no conformance test matches FOCUS/SKIP")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = cache() / "conformance" / "results" / release / stamp
    out.mkdir(parents=True)
    log(f"{len(parallel)} parallel + {len(serial)} serial tests ({len(left_out)} excluded), results in {out}")

    # the sig-cli tests run kubectl: the release's own (a kubectl on PATH may be any version)
    kubectl = kubectl_path(release)
    if kubectl is None:
        raise RunError(f"no kubectl of {release} in the mirror ({cache() / 'mirror'})")
    env_run = {**os.environ, "KUBE_TEST_REPO_LIST": str(repo_list)}
    phases, results = {}, {}
    for name, tests, phase_procs in (("parallel", parallel, max(1, procs)), ("serial", serial, 1)):
        if not tests:
            continue
        report = out / name
        report.mkdir()
        e2e_args = [f"--kubeconfig={kubeconfig}", "--provider=skeleton", f"--report-dir={report}",
                    f"--kubectl-path={kubectl}",
                    "--disable-log-dump",
                    "--non-blocking-taints=node-role.kubernetes.io/control-plane,node-role.kubernetes.io/master"]
        cmd = ginkgo_command(e2e_dir / "ginkgo", e2e_dir / "e2e.test", v2, names_regex(tests),
                             min(phase_procs, len(tests)), e2e_args)
        t0 = time.monotonic()
        log(f"phase {name}: {len(tests)} tests, {min(phase_procs, len(tests))} procs; log {report / 'ginkgo.log'}")
        with open(report / "ginkgo.log", "w") as logf:
            code = subprocess.run(["nice", "-n", "10", *cmd], stdout=logf, stderr=subprocess.STDOUT, env=env_run,
                                  cwd=report).returncode
        files = sorted(report.glob("junit*.xml"))
        if not files:
            raise RunError(f"phase {name}: ginkgo exited {code} and wrote no JUnit file; see {report / 'ginkgo.log'}")
        part = merge_results(*(parse_junit(f.read_text()) for f in files))
        results = merge_results(results, part)
        phases[name] = {"tests": len(tests), "procs": min(phase_procs, len(tests)), "seconds": time.monotonic() - t0,
                        "ginkgo_exit": code, "junit": [str(f) for f in files]}
        log(f"phase {name}: {phases[name]['seconds']:.0f}s, ginkgo exit {code}")

    wanted = parallel + serial
    verdict = gate(results, wanted, excluded)
    summary = {"release": release, "kubernetes": version, "registry": registry, "image_name": image_name or registry,
               "focus": focus, "skip": skip, "started": stamp, "wall_seconds": round(time.monotonic() - started),
               "phases": phases, **verdict, "excluded_not_run": {n: excluded[n] for n in left_out},
               "results": {n: results[n] for n in wanted if n in results}}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    text = summary_text(release, version, verdict, phases, {n: excluded[n] for n in left_out})
    text += f"wall time {summary['wall_seconds']}s (lab, images and tests)\n"
    (out / "summary.txt").write_text(text)
    sys.stdout.write(text)
    print(out, flush=True)
    return (0 if verdict["ok"] else 1), out, summary


if __name__ == "__main__":
    sys.exit(main())
