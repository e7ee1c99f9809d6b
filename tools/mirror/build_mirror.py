#!/usr/bin/env python3
"""Build an offline EKS-D mirror for one release from upstream Go modules.

The EKS-D site and public.ecr.aws are out of reach here, so this builds the release's
components from their upstream Go modules (through the Go module proxy), lays the files
out exactly as distro.eks.amazonaws.com does, builds the OCI images a cluster needs,
and writes a Release manifest in the same schema with the real digests of what it built.

Usage: build_mirror.py RELEASE   (1-24-9, v1-24-eks-9 or kubernetes-1-24-eks-9)

Everything expensive is cached outside the repository under $EKSD_CACHE
(default ~/.cache/eksd): built binaries keyed by component and version, the mirror keyed by
release and by a hash of this builder. The last line printed is the mirror's root directory.

Like the site, the mirror publishes each channel's ReleaseChannel at releasechannels/<channel>.yaml,
whose status.latestRelease is the newest release of that channel the mirror holds. Beside the releases
it holds containerd and runc as release files (tools/mirror/build_containerd.py), for hosts that install those.
"""
from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tools" / "lab"))
import oci  # noqa: E402  (the lab's OCI image helper, shared with the registry push)

EKSD_SITE = "https://distro.eks.amazonaws.com"
EKSD_REGISTRY = "public.ecr.aws/eks-distro"
ARCH = "amd64"
# Go older than 1.21 cannot be fetched through the module proxy as a toolchain; 1.21 builds the
# old Kubernetes lines (built upstream with 1.19/1.20) without the linkname limits of newer Go.
OLD_TOOLCHAIN = "go1.21.13"
KUBE_COMMANDS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
                 "kube-proxy", "kubectl", "kubeadm"]
# kubernetes-server/node/client tarball contents (inner layout per SCHEMA.md)
KUBE_TARBALLS = {
    "server": KUBE_COMMANDS,
    "node": ["kube-proxy", "kubeadm", "kubelet"],
    "client": ["kubectl"],
}
RELEASE_ID = re.compile(r"^(?:kubernetes-|v)?(\d+)-(\d+)-(?:eks-)?(\d+)$")
# SCHEMA.md, 2025-03: metrics-server frozen at v0.7.2, one build per channel (channel -> release number in its tag)
METRICS_SERVER_FROZEN_VERSION = "v0.7.2"
METRICS_SERVER_FROZEN_BUILDS = {"1-28": 45, "1-29": 34, "1-30": 27, "1-31": 16, "1-32": 8}


def channel_key(channel: str) -> tuple[int, ...]:
    return tuple(int(x) for x in channel.split("-"))



def cache_root() -> Path:
    return Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))


# Every documented EKS-D release with its component versions (sources inside the file).
CATALOG = Path(__file__).resolve().parent / "releases.json"


def log(msg: str) -> None:
    print(f"[mirror] {msg}", flush=True)


def sha(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-4000:]}")
    return proc.stdout


# ---------------------------------------------------------------------------------------------
# What a release names, and what the module proxy here can actually serve
# ---------------------------------------------------------------------------------------------

class Plan:
    """Versions to build for one release, with every substitution and its reason."""

    def __init__(self, release: str):
        m = RELEASE_ID.match(release.strip())
        if not m:
            raise SystemExit(f"release id {release!r}: expected 1-24-9, v1-24-eks-9 or kubernetes-1-24-eks-9")
        major, minor, number = m.groups()
        self.channel = f"{major}-{minor}"
        self.number = int(number)
        self.name = f"kubernetes-{self.channel}-eks-{self.number}"
        catalog = json.loads(CATALOG.read_text())
        entry = next((r for r in catalog["releases"] if r["name"] == self.name), None)
        if entry is None:
            known = sorted({r["channel"] for r in catalog["releases"]})
            raise SystemExit(f"release {release!r}: {self.name} is not in releases.json (channels {known[0]}..{known[-1]})")
        comps = {c["name"]: c["version"] for c in entry["components"]}
        vee = lambda v: v if v.startswith("v") else "v" + v  # noqa: E731
        self.date = entry.get("release_date") or "2020-01-01"
        self.named = {
            "kubernetes": vee(entry["kube_apiserver_version"]),
            "etcd": vee(comps["etcd"]),
            "coredns": vee(comps["coredns"]),
            "cni-plugins": vee(catalog["channels"][self.channel]["head_git_tags"]
                               .get("projects/containernetworking/plugins", "v1.3.0")),
            # docs tables stopped listing metrics-server in 2025-08 although manifests carry it, frozen at v0.7.2
            "metrics-server": vee(comps.get("metrics-server", METRICS_SERVER_FROZEN_VERSION)),
        }
        # kube-proxy became its own component in the generator on 2025-09-09
        self.kube_proxy_split = self.date >= "2025-09-09"
        overrides = yaml.safe_load((HERE / "substitutions.yml").read_text()) or {}
        self.overrides = overrides.get(self.name, {})
        self.versions: dict[str, str] = {}
        self.notes: list[str] = []

    def resolve(self, proxy: ModuleProxy) -> None:
        for comp, named in self.named.items():
            override = self.overrides.get(comp)
            if override:
                if not proxy.available(comp, override["version"]):
                    raise SystemExit(f"{self.name}: substitutions.yml names {comp} {override['version']}, which the "
                                     "Go module proxy here does not serve (every module it needs)")
                self.versions[comp] = override["version"]
                self.notes.append(f"{comp}: {named} -> {override['version']} ({override['reason']})")
                continue
            chosen = proxy.nearest(comp, named)
            self.versions[comp] = chosen
            if chosen != named:
                self.notes.append(f"{comp}: {named} -> {chosen} (the module proxy here does not serve every "
                                  f"module {comp} {named} needs; nearest patch release that it does)")


class ModuleProxy:
    """Asks the Go module proxy which exact versions it serves."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._seen: dict[str, bool] = {}

    def has(self, module_at_version: str) -> bool:
        if module_at_version not in self._seen:
            proc = subprocess.run(["go", "mod", "download", "-json", module_at_version], cwd=self.workdir,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self._seen[module_at_version] = proc.returncode == 0 and '"Error"' not in proc.stdout
        return self._seen[module_at_version]

    def modules_for(self, comp: str, version: str) -> list[str]:
        if comp == "kubernetes":
            if not self.has(f"k8s.io/kubernetes@{version}"):
                return ["k8s.io/kubernetes@" + version]
            staging = kube_staging(version)
            needed = [m for m in staging if not m.startswith("k8s.io/sample-")]
            return [f"k8s.io/kubernetes@{version}"] + [f"{m}@{staging_version(version)}" for m in needed]
        if comp == "etcd":
            return [f"go.etcd.io/etcd/server/v3@{version}", f"go.etcd.io/etcd/etcdctl/v3@{version}"]
        if comp == "coredns":
            return [f"github.com/coredns/coredns@{version}"]
        if comp == "cni-plugins":
            return [f"github.com/containernetworking/plugins@{version}"]
        if comp == "metrics-server":
            return [f"sigs.k8s.io/metrics-server@{version}"]
        raise KeyError(comp)

    def available(self, comp: str, version: str) -> bool:
        return all(self.has(m) for m in self.modules_for(comp, version))

    def nearest(self, comp: str, named: str) -> str:
        """The named version if served, else the nearest patch release (lower first on a tie)."""
        m = re.match(r"^v(\d+)\.(\d+)\.(\d+)$", named)
        if not m:
            return named
        major, minor, patch = map(int, m.groups())
        candidates = [named]
        for d in range(1, 13):
            candidates += [f"v{major}.{minor}.{p}" for p in (patch - d, patch + d) if p >= 0]
        for cand in candidates:
            if self.available(comp, cand):
                return cand
        raise SystemExit(f"{comp} {named}: the Go module proxy serves no patch release within 12 of it")


def kube_replaces(gomod: str, version: str) -> list[str]:
    """A wrapper module's replace lines for k8s.io/kubernetes's go.mod: its staging modules at v0.X.Y from the
    proxy, every other replace kept (block form or one-line `replace a => b`)."""
    replaces = []
    for mod, ver, tgt, tver in re.findall(r"^\s*(?:replace\s+)?(\S+)(?: (\S+))? => (\S+)(?: (\S+))?\s*$", gomod, re.M):
        if tgt.startswith("./staging/"):
            replaces.append(f"\t{mod} => {mod} {staging_version(version)}")
        else:
            replaces.append(f"\t{mod}{' ' + ver if ver else ''} => {tgt}{' ' + tver if tver else ''}")
    return replaces


def kube_gomod(version: str) -> str:
    """k8s.io/kubernetes's go.mod at a version, downloaded into the module cache if it is not there yet."""
    proc = subprocess.run(["go", "list", "-m", "-json", f"k8s.io/kubernetes@{version}"], cwd=tempfile.gettempdir(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"k8s.io/kubernetes@{version}: the Go module proxy does not serve its go.mod\n{proc.stderr[-2000:]}")
    return Path(json.loads(proc.stdout)["GoMod"]).read_text()


def kube_staging(version: str) -> list[str]:
    return re.findall(r"^\s*(k8s\.io/\S+) => \./staging/", kube_gomod(version), re.M)


def staging_version(kube_version: str) -> str:
    return "v0." + kube_version.split(".", 1)[1]


def go_directive(gomod: str) -> str:
    m = re.search(r"^go (\d+\.\d+)", gomod, re.M)
    return m.group(1) if m else "1.16"


def toolchain_for(gomod: str) -> str:
    major, minor = map(int, go_directive(gomod).split("."))
    return OLD_TOOLCHAIN if (major, minor) < (1, 21) else "local"


# ---------------------------------------------------------------------------------------------
# Building binaries (cached by component and version)
# ---------------------------------------------------------------------------------------------

class Builder:
    def __init__(self, plan: Plan, root: Path):
        self.plan = plan
        self.root = root
        self.src = root / "src"
        self.out = root / "build"
        self.stats: list[tuple[str, float, int]] = []

    def go_env(self, toolchain: str) -> dict:
        env = dict(os.environ)
        env.update(CGO_ENABLED="0", GOTOOLCHAIN=toolchain, GOFLAGS="-mod=mod -buildvcs=false", GOARCH=ARCH, GOOS="linux")
        return env

    def wrapper(self, name: str, requires: dict[str, str], replaces: list[str], go: str) -> Path:
        """A throwaway module that requires the upstream modules, so `go build` can build their commands."""
        wdir = self.src / name
        wdir.mkdir(parents=True, exist_ok=True)
        req = "\n".join(f"\t{m} {v}" for m, v in requires.items())
        rep = ("replace (\n" + "\n".join(replaces) + "\n)\n") if replaces else ""
        text = f"module eksd.local/build/{name}\n\ngo {go}\n\nrequire (\n{req}\n)\n\n{rep}"
        gomod = wdir / "go.mod"
        if not gomod.exists() or gomod.read_text() != text:
            gomod.write_text(text)
            (wdir / "go.sum").unlink(missing_ok=True)
        return wdir

    def cached(self, key: str, build) -> Path:
        dest = self.out / key
        stamp = dest / ".done"
        start = time.monotonic()
        if stamp.exists():
            size = sum(f.stat().st_size for f in dest.iterdir() if f.is_file())
            log(f"{key}: cached ({size / 1e6:.1f} MB)")
            return dest
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        log(f"{key}: building ...")
        build(dest)
        stamp.write_text(dt.datetime.now(dt.timezone.utc).isoformat())
        took = time.monotonic() - start
        size = sum(f.stat().st_size for f in dest.iterdir() if f.is_file())
        self.stats.append((key, took, size))
        log(f"{key}: built in {took:.0f}s, {size / 1e6:.1f} MB")
        return dest

    def kubernetes(self) -> Path:
        version = self.plan.versions["kubernetes"]

        def build(dest: Path) -> None:
            gomod = kube_gomod(version)
            wdir = self.wrapper(f"kubernetes-{version}", {"k8s.io/kubernetes": version}, kube_replaces(gomod, version),
                                go_directive(gomod))
            commit = json.loads(run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"], cwd=wdir))
            commit = commit.get("Origin", {}).get("Hash", "")
            major, minor = version.lstrip("v").split(".")[:2]
            build_date = f"{self.plan.date}T00:00:00Z"
            ldflags = ["-s", "-w"]
            for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
                ldflags += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}",
                            f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitCommit={commit}",
                            f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.buildDate={build_date}"]
            run(["go", "build", "-trimpath", "-ldflags", " ".join(ldflags), "-o", str(dest) + "/"]
                + [f"k8s.io/kubernetes/cmd/{c}" for c in KUBE_COMMANDS], cwd=wdir, env=self.go_env(toolchain_for(gomod)))
            # pause: the C program from build/pause, compiled statically as upstream does
            moddir = Path(run(["go", "env", "GOMODCACHE"]).strip()) / f"k8s.io/kubernetes@{version}"
            pause_c = moddir / "build/pause/linux/pause.c"
            if not pause_c.exists():
                pause_c = moddir / "build/pause/pause.c"
            run(["gcc", "-Os", "-Wall", "-Werror", "-static", f'-DVERSION="{version}"', "-o", str(dest / "pause"), str(pause_c)])
            run(["strip", str(dest / "pause")])

        return self.cached(f"kubernetes-{version}", build)

    def simple(self, comp: str, module: str, outputs: dict[str, str], ldflags: list[str],
               extra_requires: dict[str, str] | None = None) -> Path:
        """Build `outputs` (binary name -> package) from `module` at the planned version."""
        version = self.plan.versions[comp]

        def build(dest: Path) -> None:
            self.src.mkdir(parents=True, exist_ok=True)
            info = json.loads(run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=self.src))
            upstream = Path(info["GoMod"]).read_text()
            wdir = self.wrapper(f"{comp}-{version}", {module: version, **(extra_requires or {})}, [], go_directive(upstream))
            env = self.go_env(toolchain_for(upstream))
            flags = ["-trimpath", "-ldflags", " ".join(["-s", "-w"] + ldflags)]
            if len(outputs) > 1 and all(pkg.rsplit("/", 1)[-1] == out for out, pkg in outputs.items()):
                run(["go", "build", *flags, "-o", str(dest) + "/", *outputs.values()], cwd=wdir, env=env)
            else:
                for out, pkg in outputs.items():
                    run(["go", "build", *flags, "-o", str(dest / out), pkg], cwd=wdir, env=env)

        return self.cached(f"{comp}-{version}", build)

    def etcd(self) -> Path:
        v = self.plan.versions["etcd"]
        return self.simple("etcd", "go.etcd.io/etcd/server/v3",
                           {"etcd": "go.etcd.io/etcd/server/v3", "etcdctl": "go.etcd.io/etcd/etcdctl/v3"},
                           [], {"go.etcd.io/etcd/etcdctl/v3": v})

    def coredns(self) -> Path:
        return self.simple("coredns", "github.com/coredns/coredns", {"coredns": "github.com/coredns/coredns"}, [])

    def metrics_server(self) -> Path:
        mod = "sigs.k8s.io/metrics-server"
        return self.simple("metrics-server", mod, {"metrics-server": f"{mod}/cmd/metrics-server"},
                           [f"-X {mod}/pkg/version.gitVersion={self.plan.versions['metrics-server']}"])

    def cni(self) -> Path:
        v = self.plan.versions["cni-plugins"]
        mod = "github.com/containernetworking/plugins"
        self.src.mkdir(parents=True, exist_ok=True)
        moddir = Path(json.loads(run(["go", "mod", "download", "-json", f"{mod}@{v}"], cwd=self.src))["Dir"])
        pkgs = {p.name: f"{mod}/plugins/{p.parent.name}/{p.name}" for p in sorted(moddir.glob("plugins/*/*"))
                if p.is_dir() and p.name != "windows" and any(p.glob("*.go"))}
        return self.simple("cni-plugins", mod, pkgs, [f"-X {mod}/pkg/utils/buildversion.BuildVersion={v}"])


# ---------------------------------------------------------------------------------------------
# Laying the files out as the EKS-D site does
# ---------------------------------------------------------------------------------------------

ATTRIBUTION = "Built from upstream Go modules for an offline EKS-D mirror ({what} {version}).\n"


def deterministic_tar(dest: Path, members: list[tuple[str, Path | bytes, int]]) -> None:
    """A gzip tarball with fixed owners and times, so the same inputs give the same digest."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs_done: set[str] = set()
        for name, src, mode in members:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs_done:
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
                    dirs_done.add(d)
            data = src if isinstance(src, bytes) else src.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    with dest.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue())


class Mirror:
    def __init__(self, plan: Plan, root: Path):
        self.plan = plan
        self.root = root
        self.rel_dir = root / f"kubernetes-{plan.channel}" / "releases" / str(plan.number) / "artifacts"
        self.assets: dict[str, list[dict]] = {}

    def url_for(self, path: Path) -> str:
        return f"{EKSD_SITE}/{path.relative_to(self.root).as_posix()}"

    def publish(self, component: str, asset_name: str, path: Path, description: str) -> None:
        digests = {"sha256": sha(path, "sha256"), "sha512": sha(path, "sha512")}
        for algo, hexd in digests.items():
            Path(f"{path}.{algo}").write_text(f"{hexd}  {path.name}\n")
        self.assets.setdefault(component, []).append({
            "arch": [ARCH], "archive": {"uri": self.url_for(path), **digests}, "description": description,
            "name": asset_name, "os": "linux", "type": "Archive"})

    def image(self, component: str, asset_name: str, repo: str, tag: str, files: dict[str, Path], entrypoint: list[str],
              description: str) -> None:
        """An OCI image layout under images/<repo>/<tag>; the lab pushes it to its registry."""
        layout = self.root / "images" / repo / tag
        shutil.rmtree(layout, ignore_errors=True)
        img = oci.build_image({k: str(v) for k, v in files.items()}, entrypoint=entrypoint, arch=ARCH)
        digest = img.write_layout(str(layout), tag=tag)
        self.assets.setdefault(component, []).append({
            "arch": [ARCH], "description": description,
            "image": {"imageDigest": digest, "uri": f"{EKSD_REGISTRY}/{repo}:{tag}"}, "name": asset_name, "os": "linux",
            "type": "Image"})

    def metrics_server_tag(self) -> str:
        """Since the 2025-03 freeze the tag names one fixed build per channel; channels after 1-32 reuse 1-32's."""
        p = self.plan
        version = p.versions["metrics-server"]
        frozen = METRICS_SERVER_FROZEN_BUILDS
        if p.date >= "2025-03-01" and p.channel in frozen:
            return f"{version}-eks-{p.channel}-{frozen[p.channel]}"
        if p.date >= "2025-03-01" and channel_key(p.channel) > channel_key(max(frozen, key=channel_key)):
            last = max(frozen, key=channel_key)
            return f"{version}-eks-{last}-{frozen[last]}"
        return f"{version}-eks-{p.channel}-{p.number}"

    def lay_out(self, kube: Path, etcd: Path, coredns: Path, cni: Path, metrics_server: Path) -> None:
        p, v = self.plan, self.plan.versions
        suffix = f"eks-{p.channel}-{p.number}"
        kdir = self.rel_dir / "kubernetes" / v["kubernetes"]
        bindir = kdir / "bin" / "linux" / ARCH
        bindir.mkdir(parents=True, exist_ok=True)
        legal = [("LICENSES/LICENSE", b"Apache License 2.0 (see upstream projects)\n", 0o644)]
        for cmd in KUBE_COMMANDS:
            dst = bindir / cmd
            shutil.copyfile(kube / cmd, dst)
            dst.chmod(0o755)
            comp = "kube-proxy" if (cmd == "kube-proxy" and p.kube_proxy_split) else "kubernetes"
            self.publish(comp, f"bin/linux/{ARCH}/{cmd}", dst, f"{cmd} binary for linux/{ARCH}")
        for kind, cmds in KUBE_TARBALLS.items():
            name = f"kubernetes-{kind}-linux-{ARCH}.tar.gz"
            members = [(f"kubernetes/{kind}/bin/{c}", kube / c, 0o755) for c in cmds]
            members += [(f"kubernetes/{n}", d, m) for n, d, m in legal]
            members.append(("kubernetes/ATTRIBUTION.txt", ATTRIBUTION.format(what="Kubernetes", version=v["kubernetes"]).encode(), 0o644))
            deterministic_tar(kdir / name, members)
            self.publish("kubernetes", name, kdir / name, f"Kubernetes {kind} tarball for linux/{ARCH}")
        # etcd: files at the tar root, as every EKS-D build since the 2021-10 refactor
        edir = self.rel_dir / "etcd" / v["etcd"]
        edir.mkdir(parents=True, exist_ok=True)
        ename = f"etcd-linux-{ARCH}-{v['etcd']}.tar.gz"
        deterministic_tar(edir / ename, [("etcd", etcd / "etcd", 0o755), ("etcdctl", etcd / "etcdctl", 0o755), *legal,
                                         ("ATTRIBUTION.txt", ATTRIBUTION.format(what="etcd", version=v["etcd"]).encode(), 0o644)])
        self.publish("etcd", ename, edir / ename, f"etcd tarball for linux/{ARCH}")
        cdir = self.rel_dir / "plugins" / v["cni-plugins"]
        cdir.mkdir(parents=True, exist_ok=True)
        cname = f"cni-plugins-linux-{ARCH}-{v['cni-plugins']}.tar.gz"
        plugins = sorted(f for f in cni.iterdir() if f.is_file() and not f.name.startswith("."))
        deterministic_tar(cdir / cname, [(f.name, f, 0o755) for f in plugins] + legal
                          + [("ATTRIBUTION.txt", ATTRIBUTION.format(what="CNI plugins", version=v["cni-plugins"]).encode(), 0o644)])
        self.publish("cni-plugins", cname, cdir / cname, f"cni-plugins tarball for linux/{ARCH}")
        # images a cluster needs; nothing can be pulled here
        self.image("kubernetes", "pause-image", "kubernetes/pause", f"{v['kubernetes']}-{suffix}", {"/pause": kube / "pause"},
                   ["/pause"], "pause container image")
        self.image("coredns", "coredns-image", "coredns/coredns", f"{v['coredns']}-{suffix}", {"/coredns": coredns / "coredns"},
                   ["/coredns"], "coredns container image")
        self.image("metrics-server", "metrics-server-image", "kubernetes-sigs/metrics-server", self.metrics_server_tag(),
                   {"/metrics-server": metrics_server / "metrics-server"}, ["/metrics-server"], "metrics-server container image")

    def manifest(self) -> Path:
        p = self.plan
        git_tags = {"kubernetes": p.versions["kubernetes"], "kube-proxy": p.versions["kubernetes"], "etcd": p.versions["etcd"],
                    "coredns": p.versions["coredns"], "cni-plugins": p.versions["cni-plugins"],
                    "metrics-server": p.versions["metrics-server"]}
        components = []
        for name in sorted(self.assets):
            comp = {"assets": sorted(self.assets[name], key=lambda a: a["name"]), "gitTag": git_tags[name], "name": name}
            components.append(comp)
        doc = {
            "apiVersion": "distro.eks.amazonaws.com/v1alpha1",
            "kind": "Release",
            "metadata": {"creationTimestamp": None, "name": p.name},
            "spec": {"channel": p.channel, "number": p.number},
            "status": {"components": components, "date": f"{p.date}T00:00:00Z"},
        }
        path = self.root / f"kubernetes-{p.channel}" / f"kubernetes-{p.channel}-eks-{p.number}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=True, default_flow_style=False) + "\n")
        return path


# The published form of a channel's ReleaseChannel: aws/eks-distro release/generate_crd.sh strips the comment
# lines of eks-distro-build-tooling's release/config/<channel>/<channel>.yaml (tests/fixtures/eksd/releasechannels)
# and sets latestRelease to the number of the release being published.
RELEASE_CHANNEL = """
---
apiVersion: distro.eks.amazonaws.com/v1alpha1
kind: ReleaseChannel
metadata:
  creationTimestamp: null
  name: {channel}
spec:
  snsTopicARN: "arn:aws:sns:us-east-1:379412251201:eks-distro-updates"
status:
  active: true
  latestRelease: {latest}
"""


def releases_present(mirror_root: Path, channel: str) -> list[int]:
    """Numbers of the channel's releases the mirror holds: a manifest and the stamp written after it."""
    numbers = []
    for manifest in (mirror_root / f"kubernetes-{channel}").glob(f"kubernetes-{channel}-eks-*.yaml"):
        number = manifest.stem.rsplit("-", 1)[1]
        if number.isdigit() and (mirror_root / ".stamps" / f"{manifest.stem}.json").exists():
            numbers.append(int(number))
    return sorted(numbers)


def publish_channel(mirror_root: Path, channel: str) -> str:
    """Write releasechannels/<channel>.yaml with the newest release present (atomically: it may be served);
    remove it when the mirror holds no release of the channel. Returns what was done."""
    path = mirror_root / "releasechannels" / f"{channel}.yaml"
    numbers = releases_present(mirror_root, channel)
    if not numbers:
        path.unlink(missing_ok=True)
        return f"channel {channel}: no release in the mirror, {path.relative_to(mirror_root)} removed"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = RELEASE_CHANNEL.format(channel=channel, latest=numbers[-1])
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return f"channel {channel}: {path.relative_to(mirror_root)} latestRelease {numbers[-1]} (releases {numbers})"


def builder_key() -> str:
    h = hashlib.sha256()
    for f in sorted([HERE / "build_mirror.py", HERE / "substitutions.yml", REPO / "tools/lab/oci.py",
                     HERE / "build_containerd.py", REPO / "roles/preflight/vars/containerd_release.yml"]):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("release")
    ap.add_argument("--force", action="store_true", help="rebuild the mirror tree even if its stamp is current")
    args = ap.parse_args()
    started = time.monotonic()
    root = cache_root()
    plan = Plan(args.release)
    mirror_root = root / "mirror"
    stamp = mirror_root / ".stamps" / f"{plan.name}.json"
    key = builder_key()

    def current() -> bool:
        if args.force or not stamp.exists():
            return False
        info = json.loads(stamp.read_text())
        if info.get("builder") != key:
            return False
        log(f"{plan.name}: mirror is current (built {info['built']}, versions {info['versions']})")
        return True

    # A current release needs no lock: its stamp is written last, once everything is in place, so a release
    # already built is served at once while another one builds. (Its channel file is written under the lock.)
    if current() and (mirror_root / "releasechannels" / f"{plan.channel}.yaml").exists():
        print(mirror_root)
        return 0
    # One builder at a time per mirror (make mirror and a Molecule create may start together; releases share
    # built components and images/); the lock goes with the process.
    stamp.parent.mkdir(parents=True, exist_ok=True)
    lock = open(mirror_root / ".lock", "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    if current():
        log(publish_channel(mirror_root, plan.channel))
        print(mirror_root)
        return 0
    plan.resolve(ModuleProxy(root / "src" / "probe"))
    for note in plan.notes:
        log(f"substitution: {note}")
    log(f"{plan.name}: building {plan.versions}")
    b = Builder(plan, root)
    kube, etcd, coredns, cni, metrics_server = b.kubernetes(), b.etcd(), b.coredns(), b.cni(), b.metrics_server()
    # containerd and runc as release files beside the releases: what hosts install with containerd_install_method
    # archive (the RHEL family and Amazon Linux, and every host from Kubernetes 1.36 on). Built once per version.
    import build_containerd  # noqa: PLC0415  (it imports this module for the Go build helpers)
    build_containerd.publish_for_mirror(root, ARCH)
    rel_root = mirror_root / f"kubernetes-{plan.channel}" / "releases" / str(plan.number)
    # the release is not in the mirror while it is laid out again: its stamp goes first, and the channel
    # stops naming it until it is back
    stamp.unlink(missing_ok=True)
    publish_channel(mirror_root, plan.channel)
    shutil.rmtree(rel_root, ignore_errors=True)
    mirror = Mirror(plan, mirror_root)
    mirror.lay_out(kube, etcd, coredns, cni, metrics_server)
    manifest = mirror.manifest()
    written = sum(f.stat().st_size for f in rel_root.rglob("*") if f.is_file()) + manifest.stat().st_size
    images = mirror_root / "images"
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"builder": key, "built": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                 "versions": plan.versions, "named": plan.named, "substitutions": plan.notes}, indent=1))
    log(publish_channel(mirror_root, plan.channel))
    for name, took, size in b.stats:
        log(f"  {name:<32} {took:6.0f}s {size / 1e6:8.1f} MB")
    log(f"{plan.name}: manifest {manifest.relative_to(mirror_root)}, {written / 1e6:.1f} MB of artifacts, "
        f"images under {images.relative_to(mirror_root)}, {time.monotonic() - started:.0f}s in all")
    print(mirror_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
