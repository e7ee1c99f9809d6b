#!/usr/bin/env python3
"""Build Kubernetes' conformance test binaries (e2e.test and ginkgo) for one EKS-D release, offline.

The Kubernetes version comes from the release as the mirror builder resolves it (releases.json plus
tools/mirror/substitutions.yml plus what the Go module proxy here serves), and the build uses the mirror
builder's wrapper-module approach: a throwaway module requiring k8s.io/kubernetes at that version with the
replace directives of its go.mod (staging modules pinned to v0.X.Y), built with the toolchain the mirror
builder picks for that go.mod and the same version stamping (-X k8s.io/component-base/version...).

Output, keyed by Kubernetes version (not release: 1-24-9 and 1-24-8 may share one):
    $EKSD_CACHE/conformance/<k8s version>/e2e.test
    $EKSD_CACHE/conformance/<k8s version>/ginkgo
    $EKSD_CACHE/conformance/<k8s version>/build.json   versions, substitutions, sha256, build times,
                                                        the [Conformance] test count and the test images
The wrapper modules live under $EKSD_CACHE/conformance/src. A second run with build.json present returns
at once (--force rebuilds).

Usage: build_e2e.py RELEASE [--force]      (1-24-9, v1-24-eks-9 or kubernetes-1-24-eks-9)
The last line printed is the directory holding e2e.test and ginkgo.
"""
from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tools" / "mirror"))
import build_mirror as bm  # noqa: E402  (reused: release plan, module proxy probe, wrapper module, toolchain choice)

GINKGO_MODULES = ("github.com/onsi/ginkgo/v2", "github.com/onsi/ginkgo")
RECORD = "build.json"

# A tiny program built in the wrapper module: prints every image the suite knows as "<index>\t<image>"
# (GetImageConfigs honours KUBE_TEST_REPO_LIST, so it is run with that unset to get the upstream names).
IMAGELIST_GO = """package main

import (
\t"fmt"
\t"sort"

\timageutils "k8s.io/kubernetes/test/utils/image"
)

func main() {
\tconfigs := imageutils.GetImageConfigs()
\tids := make([]int, 0, len(configs))
\tfor id := range configs {
\t\tids = append(ids, int(id))
\t}
\tsort.Ints(ids)
\tfor _, id := range ids {
\t\tfor k, c := range configs {
\t\t\tif int(k) == id {
\t\t\t\tfmt.Printf("%d\\t%s\\n", id, c.GetE2EImage())
\t\t\t}
\t\t}
\t}
}
"""


def log(msg: str) -> None:
    print(f"[conformance] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Pure functions (unit tested)
# ---------------------------------------------------------------------------------------------

def ginkgo_pin(gomod: str) -> tuple[str, str, str]:
    """(module, version, CLI package) of the ginkgo k8s.io/kubernetes's go.mod requires: v2 from 1.25 on,
    v1 before. A replace of the module wins over its require, as in the build."""
    for mod in GINKGO_MODULES:
        rep = re.search(rf"^\s*{re.escape(mod)}(?: \S+)? => {re.escape(mod)} (v\S+)\s*$", gomod, re.M)
        req = re.search(rf"^\s*(?:require\s+)?{re.escape(mod)} (v\S+)(?:\s*//.*)?$", gomod, re.M)
        if rep or req:
            return mod, (rep or req).group(1), f"{mod}/ginkgo"
    raise SystemExit("k8s.io/kubernetes go.mod requires no github.com/onsi/ginkgo module")


def version_ldflags(version: str, commit: str, build_date: str) -> list[str]:
    """-X flags stamping the Kubernetes version, as build_mirror.Builder.kubernetes and hack/lib/version.sh do."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
                  f"-X {pkg}.gitCommit={commit}", f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.buildDate={build_date}"]
    return flags


def image_ids(manifest_go: str) -> list[str]:
    """Names of the image constants of test/utils/image/manifest.go in iota order (index 0 is None)."""
    block = re.search(r"^const \(\n(.*?)^\)", manifest_go, re.M | re.S)
    if not block:
        raise ValueError("manifest.go: no const block")
    names = []
    for line in block.group(1).splitlines():
        line = line.split("//", 1)[0].strip()
        m = re.match(r"^([A-Z]\w*)\b", line)
        if m:
            names.append(m.group(1))
    return names


def parse_imagelist(output: str, names: list[str]) -> dict[str, str]:
    """The imagelist program's "<index>\\t<image>" lines as {constant name: image}."""
    images = {}
    for line in output.splitlines():
        if "\t" not in line:
            continue
        idx, image = line.split("\t", 1)
        i = int(idx)
        images[names[i] if i < len(names) else f"#{i}"] = image.strip()
    return images


def conformance_files(conformance_yaml: list[dict]) -> set[str]:
    """Source files (test/e2e/...) holding [Conformance] tests, from test/conformance/testdata/conformance.yaml."""
    return {t["file"] for t in conformance_yaml if t.get("file")}


def images_referenced(sources: dict[str, str], names: list[str]) -> dict[str, list[str]]:
    """{image constant: files} for every imageutils.<Const> (or image.<Const>) a source file names."""
    known = set(names)
    used: dict[str, list[str]] = {}
    for path, text in sorted(sources.items()):
        for const in sorted(set(re.findall(r"\bimage(?:utils)?\.([A-Z]\w*)\b", text))):
            if const in known:
                used.setdefault(const, []).append(path)
    return used


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------

def plan_inputs_key() -> str:
    """Hash of what decides a release's Kubernetes version besides the proxy: releases.json, substitutions.yml."""
    h = hashlib.sha256()
    for f in (bm.CATALOG, bm.HERE / "substitutions.yml"):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def conformance_root() -> Path:
    return bm.cache_root() / "conformance"


def build(release: str, force: bool = False) -> Path:
    started = time.monotonic()
    plan = bm.Plan(release)
    root = conformance_root()
    root.mkdir(parents=True, exist_ok=True)
    # which Kubernetes version a release builds, remembered per release while releases.json and
    # substitutions.yml are unchanged, so that a built release returns without asking the proxy again
    resolved = root / "releases" / f"{plan.name}.json"
    inputs = plan_inputs_key()
    known = json.loads(resolved.read_text()) if resolved.exists() else {}
    if not force and known.get("inputs") == inputs and (root / known["version"] / RECORD).exists():
        log(f"{plan.name}: Kubernetes {known['version']} conformance binaries cached")
        return root / known["version"]
    plan.named = {"kubernetes": plan.named["kubernetes"]}  # only Kubernetes matters here: probe nothing else
    plan.resolve(bm.ModuleProxy(bm.cache_root() / "src" / "probe"))
    version = plan.versions["kubernetes"]
    dest = root / version
    record = dest / RECORD
    resolved.parent.mkdir(exist_ok=True)
    tmp_resolved = resolved.with_name(f".{resolved.name}.{os.getpid()}")
    tmp_resolved.write_text(json.dumps({"inputs": inputs, "version": version, "substitutions": plan.notes}, indent=1) + "\n")
    os.replace(tmp_resolved, resolved)

    def cached() -> bool:
        if force or not record.exists():
            return False
        log(f"{plan.name}: Kubernetes {version} conformance binaries cached (built {json.loads(record.read_text())['built']})")
        return True

    # A built version needs no lock: its directory appears whole (renamed into place), so it is served at once
    # while another version builds. One builder at a time otherwise; the lock goes with the process.
    if cached():
        return dest
    lock = open(root / ".lock", "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    if cached():
        return dest
    subs = [n for n in plan.notes if n.startswith("kubernetes:")]
    for note in subs:
        log(f"substitution: {note}")
    gomod = bm.kube_gomod(version)
    toolchain = bm.toolchain_for(gomod)
    b = bm.Builder(plan, root)  # wrapper modules under $EKSD_CACHE/conformance/src
    wdir = b.wrapper(f"e2e-{version}", {"k8s.io/kubernetes": version}, bm.kube_replaces(gomod, version), bm.go_directive(gomod))
    env = b.go_env(toolchain)
    env.pop("KUBE_TEST_REPO_LIST", None)
    env.pop("KUBE_TEST_REPO", None)
    info = json.loads(bm.run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"], cwd=wdir, env=env))
    commit = info.get("Origin", {}).get("Hash", "")
    moddir = Path(info["Dir"])
    build_date = f"{plan.date}T00:00:00Z"
    ldflags = " ".join(["-s", "-w", *version_ldflags(version, commit, build_date)])
    gmod, gver, gpkg = ginkgo_pin(gomod)

    tmp = root / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    nice = ["nice", "-n", "19"]
    times = {}
    t0 = time.monotonic()
    log(f"{plan.name}: go test -c k8s.io/kubernetes/test/e2e @ {version} (toolchain {toolchain}) ...")
    bm.run(nice + ["go", "test", "-c", "-vet=off", "-trimpath", "-ldflags", ldflags, "-o", str(tmp / "e2e.test"),
                   "k8s.io/kubernetes/test/e2e"], cwd=wdir, env=env)
    times["e2e.test"] = round(time.monotonic() - t0)
    log(f"e2e.test built in {times['e2e.test']}s")
    t0 = time.monotonic()
    bm.run(nice + ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp / "ginkgo"), gpkg], cwd=wdir, env=env)
    times["ginkgo"] = round(time.monotonic() - t0)
    log(f"ginkgo {gver} built in {times['ginkgo']}s")

    # the images the suite knows, with the constant names of manifest.go, and which the [Conformance] files name
    (wdir / "imagelist").mkdir(exist_ok=True)
    (wdir / "imagelist" / "main.go").write_text(IMAGELIST_GO)
    bm.run(nice + ["go", "build", "-trimpath", "-o", str(tmp / "imagelist"), "./imagelist"], cwd=wdir, env=env)
    listing = bm.run([str(tmp / "imagelist")], env=env)
    (tmp / "imagelist").unlink()
    names = image_ids((moddir / "test/utils/image/manifest.go").read_text())
    images = parse_imagelist(listing, names)
    conf = yaml.safe_load((moddir / "test/conformance/testdata/conformance.yaml").read_text()) or []
    files = conformance_files(conf)
    used = images_referenced({f: (moddir / f).read_text() for f in sorted(files) if (moddir / f).exists()}, names)
    # helpers of the same packages (dns_common.go, ...) pick images for the tests too: a wider net
    helpers = {str(p.relative_to(moddir)): p.read_text() for d in sorted({str(Path(f).parent) for f in files})
               for p in sorted((moddir / d).glob("*.go")) if not p.name.endswith("_test.go")}
    used_pkgs = images_referenced(helpers, names)

    dry = dry_run_count(tmp / "e2e.test", gmod)
    out = {
        "release": plan.name,
        "kubernetes": {"named": plan.named["kubernetes"], "built": version, "commit": commit},
        "substitutions": subs,
        "toolchain": toolchain,
        "ginkgo": {"module": gmod, "version": gver},
        "ldflags": ldflags,
        "build_seconds": times,
        "built": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {n: {"sha256": bm.sha(tmp / n, "sha256"), "bytes": (tmp / n).stat().st_size} for n in ("e2e.test", "ginkgo")},
        "conformance_tests": {"conformance.yaml": len(conf), "dry_run": dry},
        "images": images,
        # named in the files that hold [Conformance] tests (conformance.yaml's "file"), with those files
        "conformance_images": {k: images.get(k) for k in used},
        "conformance_image_files": used,
        # named anywhere in those files' packages (includes non-conformance tests of the same packages)
        "conformance_package_images": {k: images.get(k) for k in used_pkgs},
    }
    (tmp / RECORD).write_text(json.dumps(out, indent=1) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    log(f"{plan.name}: Kubernetes {version}: e2e.test {out['files']['e2e.test']['bytes'] / 1e6:.1f} MB, "
        f"ginkgo {gver} {out['files']['ginkgo']['bytes'] / 1e6:.1f} MB, {dry} [Conformance] specs in a dry run "
        f"({len(conf)} in conformance.yaml), {len(images)} images known, {len(used)} named by conformance files, "
        f"{time.monotonic() - started:.0f}s in all")
    return dest


def dry_run_count(e2e: Path, ginkgo_module: str) -> int | None:
    """How many [Conformance] specs e2e.test would run: a dry run, which needs no cluster (ginkgo v1 and v2 flags
    differ only in spelling; both print one line per spec with -v)."""
    v2 = ginkgo_module.endswith("/v2")
    flags = ["--ginkgo.dry-run", "--ginkgo.v"] if v2 else ["--ginkgo.dryRun", "--ginkgo.v", "--ginkgo.noColor"]
    cmd = [str(e2e), *flags, r"--ginkgo.focus=\[Conformance\]", "--kubeconfig=/nonexistent", "--provider=skeleton"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    text = proc.stdout + proc.stderr
    m = re.search(r"Ran (\d+) of (\d+) Specs", text)
    if not m:
        log(f"dry run printed no summary (exit {proc.returncode}): {text[-1500:]}")
        return None
    return int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("release")
    ap.add_argument("--force", action="store_true", help="rebuild even if the cache holds this version")
    args = ap.parse_args()
    print(build(args.release, args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
