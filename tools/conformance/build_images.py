#!/usr/bin/env python3
"""Build the test images Kubernetes' [Conformance] tests use, offline, push them to a registry and write the
KUBE_TEST_REPO_LIST file that points e2e.test at it.

The release's Kubernetes version and the upstream image names come from build_e2e.py (its build.json,
built first if missing). Images are built without a container engine with tools/lab/oci.py (single layer):

  agnhost       k8s.io/kubernetes/test/images/agnhost from the same module version (CGO_ENABLED=0), on a root
                made from Debian packages (dash as /bin/sh, bash, netcat-openbsd, curl, dig, iproute2, ping,
                iperf: what upstream's Alpine base adds) plus busybox applets for the other commands; when the
                source VERSION differs from the tag the suite names, the source version is tagged with the
                suite's tag and the record says so
  jessie-dnsutils, glibc-dns-testing   the same Debian root (dig, getent, a shell that honours PATH)
  busybox       busybox built here from its upstream release tarball (static, defconfig; BUSYBOX_SOURCE) with its
                applet links (busybox --list-full), ash as /bin/sh as upstream's busybox image
  nonroot       busybox, USER 1234 (upstream: busybox + USER 1234)
  nginx, httpd  busybox's httpd serving an index.html on port 80 (NOT nginx/httpd: what the conformance tests
                need is a process serving HTTP on :80; config files and nginx/httpd binaries are absent)
  kitten, nautilus  agnhost with CMD test-webserver (as upstream) and an index.html naming the image
  pause         build/pause/linux/pause.c of the same module, gcc -static

Output, cached by Kubernetes version:
    $EKSD_CACHE/conformance/<k8s version>/images/<name>-<tag>/   OCI image layout of each image
    $EKSD_CACHE/conformance/<k8s version>/images/images.json      what each is, how built, digest, notes
    $EKSD_CACHE/conformance/<k8s version>/images/repo-list-<registry>.yaml   KUBE_TEST_REPO_LIST

Usage: build_images.py RELEASE [--registry HOST:PORT [--name REGISTRY[/PATH]]] [--force]
The last line printed is the KUBE_TEST_REPO_LIST file (with --registry) or the images directory.
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
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tools" / "lab"))
sys.path.insert(0, str(REPO / "tools" / "mirror"))
import build_containerd  # noqa: E402  (fetch_checked: a download checked against a recorded sha256)
import build_e2e as be  # noqa: E402  (release -> version, wrapper module, image list)
import oci  # noqa: E402  (single-layer OCI images, registry API v2)

bm = be.bm
# registries of the suite that must stay as they are: the tests using them expect the pull to fail
KEEP_REGISTRIES = ("invalidRegistry", "privateRegistry", "gcAuthenticatedRegistry")
# bumped when an image's recipe changes: cached images of an older recipe are rebuilt
RECIPE = 8
# constant name in manifest.go -> kind of image built here
KINDS = {
    "Agnhost": "agnhost", "AgnhostPrev": "agnhost", "BusyBox": "busybox", "NonRoot": "nonroot",
    "Nginx": "httpd", "NginxNew": "httpd", "Httpd": "httpd", "HttpdNew": "httpd",
    "Kitten": "webserver", "Nautilus": "webserver", "Pause": "pause", "Nonewprivs": "nonewprivs",
    "JessieDnsutils": "dnsutils", "GlibcDnsTesting": "dnsutils", "APIServer": "sample-apiserver", "Etcd": "etcd",
}
# Debian packages (with their dependencies) under agnhost and the DNS images: upstream's agnhost adds bind-tools,
# curl, netcat-openbsd, iproute2, iperf and bash to Alpine; the tests exec `nc -v -t -w 2 ...`, `curl`, `dig`,
# `getent hosts`, `ip`, `ping` in their pods, through `sh -c` (dash, as Debian's own tools expect of /bin/sh)
DEBIAN_PACKAGES = ("dash", "bash", "netcat-openbsd", "curl", "bind9-dnsutils", "bind9-host", "iproute2",
                   "iputils-ping", "iperf", "libc-bin", "mawk")
# links that the packages' maintainer scripts would make (update-alternatives), not part of their files
ALTERNATIVES = {"/bin/nc": "nc.openbsd", "/bin/netcat": "nc.openbsd", "/usr/bin/awk": "mawk"}
# commands checked in the Debian root (chroot) before it is used: a missing library fails the build here
DEBIAN_CHECKS = ('case "$(nc -h 2>&1)" in *OpenBSD*) ;; *) exit 1;; esac', "curl --version", "dig -v", "host -V",
                 "ip -V", "ping -V", "getent passwd root", "bash --version",
                 'case "$(iperf -v 2>&1)" in *"iperf version"*) ;; *) exit 1;; esac', "awk 'BEGIN{}'")
# busybox from upstream's release tarball, as the mirror Debian keeps of it (Debian's orig tarball is upstream's,
# byte for byte; the digest is the one in Debian's busybox_1.35.0-4+deb12u1.dsc). Not Debian's busybox-static: Debian
# patches ash to drop environment variables whose names are not identifiers (ConfigMap key "data-1" through envFrom,
# which the "consumable via the environment" tests print with `sh -c env`); upstream's ash passes them on. And ash, not
# bash, as /bin/sh: "should not write to root filesystem" expects ash's "/bin/sh: can't create /file: ..." message.
BUSYBOX_SOURCE = {
    "version": "1.35.0",
    "url": "http://deb.debian.org/debian/pool/main/b/busybox/busybox_1.35.0.orig.tar.bz2",
    "sha256": "faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694",
}
# defconfig, static; tc left out (it does not build against newer kernel headers and no test uses it)
BUSYBOX_CONFIG = {"CONFIG_STATIC": "y", "CONFIG_TC": None}
PATH_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin")


def log(msg: str) -> None:
    print(f"[conformance-images] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Pure functions (unit tested)
# ---------------------------------------------------------------------------------------------

def registry_defaults(manifest_go: str) -> dict[str, str]:
    """{yaml key of RegistryList: default} from test/utils/image/manifest.go (the keys differ by version)."""
    keys = dict(re.findall(r'^\s*(\w+)\s+string\s+`yaml:"(\w+)"`', manifest_go, re.M))
    block = re.search(r"initRegistry = RegistryList\{(.*?)\n\s*\}", manifest_go, re.S)
    if not keys or not block:
        raise ValueError("manifest.go: no RegistryList")
    values = dict(re.findall(r'^\s*(\w+):\s+"([^"]*)"', block.group(1), re.M))
    return {keys[f]: v for f, v in values.items() if f in keys}


def repo_list(defaults: dict[str, str], registry: str) -> dict[str, str]:
    """KUBE_TEST_REPO_LIST content: every registry moved to `registry` with its path kept
    (k8s.gcr.io/e2e-test-images -> HOST:PORT/e2e-test-images), except those meant to fail to pull."""
    out = {}
    for key, default in sorted(defaults.items()):
        if key in KEEP_REGISTRIES:
            out[key] = default
        else:
            path = default.split("/", 1)[1] if "/" in default else ""
            out[key] = f"{registry}/{path}" if path else registry
    return out


def pushed_repo(name: str, repo: str) -> str:
    """The repository in the registry pushed to of the image the suite names `name`/`repo`: `name`'s own path, if
    any, comes first (public.ecr.aws/eks-distro/conformance, e2e-test-images/agnhost ->
    eks-distro/conformance/e2e-test-images/agnhost)."""
    prefix = name.split("/", 1)[1].strip("/") if "/" in name else ""
    return f"{prefix}/{repo}" if prefix else repo


def split_image(image: str) -> tuple[str, str, str]:
    """(host, repository, tag) of registry/path/name:tag."""
    host, rest = image.split("/", 1)
    repo, tag = rest.rsplit(":", 1)
    return host, repo, tag


def busybox_links(list_full: str) -> list[str]:
    """Applet paths (/bin/sh, /usr/bin/wget, ...) from `busybox --list-full`, without /bin/busybox itself."""
    return sorted("/" + p.strip().lstrip("/") for p in list_full.splitlines()
                  if p.strip() and p.strip().lstrip("/") != "bin/busybox")


def ldd_paths(ldd_output: str) -> list[str]:
    """Absolute paths of the shared libraries `ldd` lists (the loader included, the vDSO not)."""
    paths = []
    for line in ldd_output.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s*\(", line)
        if m:
            paths.append(m.group(1))
    return sorted(set(paths))


def apt_closure(simulate_output: str) -> list[tuple[str, str]]:
    """(package, version) of each `Inst` line of `apt-get -s install` (against an empty dpkg status: every
    package the requested ones need), sorted."""
    return sorted(set(re.findall(r"^Inst (\S+) \((\S+) ", simulate_output, re.M)))


def applet_links(links: list[str], provided: set[str]) -> list[str]:
    """Busybox applet paths whose command name no file of the Debian root provides in any PATH directory
    (`/usr/bin/nc` is dropped when Debian has `/bin/nc`: /usr/bin comes first in PATH)."""
    return [link for link in links if link.rsplit("/", 1)[-1] not in provided]


def wanted(record: dict) -> dict[str, str]:
    """{constant: upstream image} of the conformance tests' images that this builder knows how to make."""
    imgs = record.get("conformance_package_images") or {}
    return {k: v for k, v in sorted(imgs.items()) if k in KINDS and v}


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------

def debian_root(packages: tuple[str, ...], work: Path) -> tuple[Path, list[str]]:
    """A root directory holding `packages` and everything they depend on (apt's own resolution against an
    empty system, no recommends), unpacked with dpkg-deb -x (no maintainer scripts: ALTERNATIVES and a few
    /etc files stand in for them), without documentation. Cached in work/root-<hash of package versions>.
    Returns the root and the `package=version` list."""
    work.mkdir(parents=True, exist_ok=True)
    status = work / "empty-status"
    status.write_text("")
    sim = bm.run(["apt-get", "-s", "-o", f"Dir::State::status={status}", "install", "--no-install-recommends",
                  *packages])
    closure = apt_closure(sim)
    if not closure:
        raise RuntimeError(f"apt-get -s install {' '.join(packages)}: no packages to install (apt-get update?)")
    pins = [f"{name}={version}" for name, version in closure]
    key = hashlib.sha256("\n".join(pins + sorted(f"{k}->{v}" for k, v in ALTERNATIVES.items())).encode()).hexdigest()[:12]
    root, done_file = work / f"root-{key}", work / f"root-{key}.packages"
    if root.is_dir() and done_file.exists():
        return root, pins
    pool = work / "pool"
    pool.mkdir(exist_ok=True)
    missing = [p for p, (name, version) in zip(pins, closure)
               if not list(pool.glob(f"{name.split(':')[0]}_{version.replace(':', '%3a')}_*.deb"))]
    if missing:
        bm.run(["nice", "-n", "19", "apt-get", "download", *missing], cwd=pool)
    shutil.rmtree(root, ignore_errors=True)
    tmp = work / f"root-{key}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, version in closure:
        deb = sorted(pool.glob(f"{name.split(':')[0]}_{version.replace(':', '%3a')}_*.deb"))
        if not deb:
            raise RuntimeError(f"{name} {version}: not downloaded into {pool}")
        bm.run(["dpkg-deb", "-x", str(deb[0]), str(tmp)])
    for sub in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian"):
        shutil.rmtree(tmp / sub, ignore_errors=True)
    for link, target in ALTERNATIVES.items():
        path = tmp / link.lstrip("/")
        if path.parent.is_dir() and not os.path.lexists(path):
            path.symlink_to(target)
    etc = tmp / "etc"
    for name, text in (("nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\n"),
                       ("passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"),
                       ("group", "root:x:0:\nnogroup:x:65534:\n")):
        if not (etc / name).exists():
            (etc / name).write_text(text)
    (tmp / "tmp").mkdir(exist_ok=True)
    os.chmod(tmp / "tmp", 0o1777)
    if os.geteuid() == 0:
        for check in DEBIAN_CHECKS:
            done = subprocess.run(["chroot", str(tmp), "/bin/sh", "-c", check], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"Debian root: `{check}` failed in chroot: {(done.stderr or done.stdout).strip()}")
    else:
        log("not root: the Debian root's commands are not checked in a chroot")
    os.replace(tmp, root)
    done_file.write_text("\n".join(pins) + "\n")
    return root, pins


def provided_commands(root: Path) -> set[str]:
    """Names of the files and links in the root's PATH directories."""
    return {p.name for d in PATH_DIRS if (root / d).is_dir() for p in (root / d).iterdir()}


class ImageBuilder:
    def __init__(self, release: str, force: bool = False):
        self.dir = be.build(release)  # e2e.test + build.json (cached)
        self.record = json.loads((self.dir / be.RECORD).read_text())
        self.version = self.record["kubernetes"]["built"]
        self.out = self.dir / "images"
        self.out.mkdir(exist_ok=True)
        self.force = force
        self.gomod = bm.kube_gomod(self.version)
        self.toolchain = bm.toolchain_for(self.gomod)
        b = bm.Builder(None, be.conformance_root())
        self.wdir = b.wrapper(f"e2e-{self.version}", {"k8s.io/kubernetes": self.version},
                              bm.kube_replaces(self.gomod, self.version), bm.go_directive(self.gomod))
        self.env = b.go_env(self.toolchain)
        info = json.loads(bm.run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{self.version}"],
                                 cwd=self.wdir, env=self.env))
        self.moddir = Path(info["Dir"])
        self.bin = self.out / "bin"
        self.bin.mkdir(exist_ok=True)
        self.index_path = self.out / "images.json"
        self.index = json.loads(self.index_path.read_text()) if self.index_path.exists() else {}

    # binaries -----------------------------------------------------------------------------
    def go_command(self, name: str, mode: int = 0o755, package: str = "") -> Path:
        """k8s.io/kubernetes/test/images/<name> (or `package`) of the module version, static (CGO_ENABLED=0), cached
        in bin/."""
        dest = self.bin / name
        if not dest.exists() or self.force:
            t0 = time.monotonic()
            bm.run(["nice", "-n", "19", "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(dest) + ".tmp",
                    package or f"k8s.io/kubernetes/test/images/{name}"], cwd=self.wdir,
                   env={**self.env, "CGO_ENABLED": "0"})
            os.chmod(str(dest) + ".tmp", mode)
            os.replace(str(dest) + ".tmp", dest)
            log(f"{name} built in {time.monotonic() - t0:.0f}s")
        return dest

    def agnhost(self) -> Path:
        return self.go_command("agnhost")

    def busybox_binary(self) -> Path:
        """busybox built from BUSYBOX_SOURCE (digest checked), cached by its version for every Kubernetes version:
        $EKSD_CACHE/conformance/busybox/<version>/busybox."""
        version = BUSYBOX_SOURCE["version"]
        work = bm.cache_root() / "conformance" / "busybox" / version
        dest = work / "busybox"
        if dest.exists() and not self.force:
            return dest
        work.mkdir(parents=True, exist_ok=True)
        tarball = build_containerd.fetch_checked(BUSYBOX_SOURCE["url"], BUSYBOX_SOURCE["sha256"],
                                                 work / BUSYBOX_SOURCE["url"].rsplit("/", 1)[-1])
        src = work / f"busybox-{version}"
        shutil.rmtree(src, ignore_errors=True)
        with tarfile.open(tarball) as tf:
            tf.extractall(work, filter="tar")
        t0 = time.monotonic()
        bm.run(["make", "-s", "defconfig"], cwd=src)
        config = src / ".config"
        lines = [line for line in config.read_text().splitlines()
                 if not any(line.startswith((f"{k}=", f"# {k} is not set")) for k in BUSYBOX_CONFIG)]
        lines += [f"{k}={v}" if v else f"# {k} is not set" for k, v in BUSYBOX_CONFIG.items()]
        config.write_text("\n".join(lines) + "\n")
        bm.run(["nice", "-n", "19", "make", "-s", f"-j{os.cpu_count() or 1}", "busybox"], cwd=src)
        shutil.copy2(src / "busybox", str(dest) + ".tmp")
        os.replace(str(dest) + ".tmp", dest)
        log(f"busybox {version} built in {time.monotonic() - t0:.0f}s")
        return dest

    def busybox(self) -> tuple[Path, list[str]]:
        bb = self.busybox_binary()
        links = busybox_links(subprocess.run([str(bb), "--list-full"], capture_output=True, text=True, check=True).stdout)
        # and every applet in /bin as well, as in upstream's busybox images (the sysctl test runs /bin/sysctl)
        return bb, sorted(set(links) | {"/bin/" + link.rsplit("/", 1)[-1] for link in links})

    def pause(self) -> Path:
        dest = self.bin / "pause"
        if not dest.exists() or self.force:
            tag = split_image(self.record["images"]["Pause"])[2]
            bm.run(["gcc", "-Os", "-static", f"-DVERSION=v{tag}", "-o", str(dest),
                    str(self.moddir / "build/pause/linux/pause.c")])
            bm.run(["strip", str(dest)])
        return dest

    def etcd(self) -> tuple[Path, str]:
        """The etcd binary of the release's own EKS-D etcd tarball in the mirror (build_mirror.py's), and its version."""
        m = re.match(r"kubernetes-(\d+)-(\d+)-eks-(\d+)$", self.record["release"])
        found = sorted(bm.cache_root().joinpath("mirror", f"kubernetes-{m.group(1)}-{m.group(2)}", "releases", m.group(3), "artifacts",
                                 "etcd").glob("*/etcd-linux-amd64-*.tar.gz")) if m else []
        if not found:
            raise RuntimeError(f"no etcd tarball of {self.record['release']} in the mirror: run make mirror RELEASE=...")
        version = found[-1].parent.name
        dest = self.bin / f"etcd-{version}"
        if not dest.exists():
            with tarfile.open(found[-1]) as tf:
                member = next(t for t in tf.getmembers() if t.isfile() and t.name.rsplit("/", 1)[-1] == "etcd")
                dest.write_bytes(tf.extractfile(member).read())
            os.chmod(dest, 0o755)
        return dest, version

    # images -------------------------------------------------------------------------------
    def busybox_files(self) -> tuple[dict[str, str], list[str]]:
        bb, links = self.busybox()
        return {"/bin/busybox": str(bb)}, links

    def make(self, const: str, image: str) -> dict:
        _, repo, tag = split_image(image)
        name = f"{repo.rsplit('/', 1)[-1]}-{tag}"
        layout = self.out / name
        kind = KINDS[const]
        entry = {"upstream": image, "kind": kind, "layout": name, "recipe": RECIPE}
        files, links = self.busybox_files()
        opts: dict = {}
        notes = []
        extra: dict[str, bytes | None] = {}
        base = None
        if kind in ("agnhost", "dnsutils"):
            base, pins = debian_root(DEBIAN_PACKAGES, self.out / "debs")
            links = applet_links(links, provided_commands(base))
            entry["debian_packages"] = pins
            notes.append(f"Debian root ({len(pins)} packages: {', '.join(DEBIAN_PACKAGES)} and their dependencies), "
                         "dash as /bin/sh; busybox applets for the commands Debian's packages do not provide")
        if kind == "agnhost":
            files["/agnhost"] = str(self.agnhost())
            source = (self.moddir / "test/images/agnhost/VERSION").read_text().strip()
            entry["source_version"] = source
            if source != tag:
                notes.append(f"agnhost {source} (the source in k8s.io/kubernetes {self.version}) tagged {tag}: "
                             f"the module version holding {tag} is not used")
            # as upstream's Dockerfile: /agnhost-2 (the entrypoint override tests), porter's TLS pair at / (its
            # https ports, the proxy test), /uploads (netexec), iperf in /usr/local/bin
            files["/agnhost-2"] = "agnhost"
            porter = self.moddir / "test/images/agnhost/porter"
            files["/localhost.crt"] = str(porter / "localhost.crt")
            files["/localhost.key"] = str(porter / "localhost.key")
            extra["/usr/local/bin/iperf"] = None
            opts = {"entrypoint": ["/agnhost"], "cmd": ["pause"]}
        elif kind == "dnsutils":
            opts = {"cmd": ["/bin/sh"]}
        elif kind == "busybox":
            opts = {"cmd": ["sh"]}
            notes.append(f"busybox {BUSYBOX_SOURCE['version']} from its upstream tarball (static, defconfig), ash as "
                         "/bin/sh (upstream's image: busybox 1.29)")
        elif kind == "nonroot":
            opts = {"cmd": ["sh"], "user": "1234"}
        elif kind == "httpd":
            docroot = "/usr/share/nginx/html" if "nginx" in repo else "/usr/local/apache2/htdocs"
            extra[docroot + "/index.html"] = f"<html><body><h1>{repo.rsplit('/', 1)[-1]} {tag} (busybox httpd)</h1></body></html>\n".encode()
            opts = {"entrypoint": ["/bin/busybox", "httpd", "-f", "-v", "-p", "80", "-h", docroot]}
            notes.append(f"busybox httpd on :80 serving {docroot}, not {repo.rsplit('/', 1)[-1]}")
        elif kind == "webserver":
            files["/agnhost"] = str(self.agnhost())
            html = self.moddir / "test/images" / repo.rsplit("/", 1)[-1] / "html"
            for f in sorted(html.iterdir()):  # data.json and <name>.jpg, served from / as upstream's COPY does
                files["/" + f.name] = str(f)
            opts = {"entrypoint": ["/agnhost"], "cmd": ["test-webserver"]}
            notes.append("agnhost test-webserver with the module's html/ (data.json, jpg) as upstream, busybox base")
        elif kind == "nonewprivs":
            files["/usr/local/bin/nnp"] = str(self.go_command("nonewprivs", 0o4755))
            opts = {"cmd": ["nnp"]}
            notes.append("test/images/nonewprivs (nnp) of the module, setuid root, on busybox as upstream")
        elif kind == "sample-apiserver":
            files["/kube-sample-apiserver"] = str(self.go_command(
                "kube-sample-apiserver", package="k8s.io/sample-apiserver"))
            opts = {"entrypoint": ["/kube-sample-apiserver"]}
            notes.append(f"k8s.io/sample-apiserver of k8s.io/kubernetes {self.version} (its staging module), not the "
                         f"{tag} build upstream tagged; busybox base")
        elif kind == "etcd":
            binary, version = self.etcd()
            files["/usr/local/bin/etcd"] = str(binary)
            opts = {"cmd": ["/usr/local/bin/etcd"]}
            entry["source_version"] = version
            notes.append(f"etcd {version} of the EKS-D release (the mirror's tarball), tagged {tag}; busybox base")
        elif kind == "pause":
            files = {"/pause": str(self.pause())}
            links = []
            opts = {"entrypoint": ["/pause"]}
            notes.append("pause.c of the module, gcc -static (glibc)")
        img = build_with_links(files, links, extra, opts, base)
        img.write_layout(str(layout), tag=tag)
        entry.update(digest=img.digest, notes=notes)
        return entry

    def build_all(self) -> dict:
        started = time.monotonic()
        # one builder at a time (make test's prebuild may still be building what a scenario's verify asks for): the
        # second waits, then finds the first one's images in the index
        lock = open(self.out / ".lock", "w")  # noqa: SIM115  (released with the process or the builder)
        fcntl.flock(lock, fcntl.LOCK_EX)
        self.index = json.loads(self.index_path.read_text()) if self.index_path.exists() else {}
        for const, image in wanted(self.record).items():
            cached = self.index.get(const)
            if (cached and not self.force and (self.out / cached["layout"]).exists() and cached["upstream"] == image
                    and cached.get("recipe") == RECIPE):
                continue
            log(f"{const}: {image} ...")
            self.index[const] = self.make(const, image)
            self.index[const]["built"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            self.save()
        missing = sorted(set(self.record.get("conformance_package_images", {})) - set(self.index))
        log(f"{len(self.index)} images ready in {self.out} ({time.monotonic() - started:.0f}s); "
            f"not built: {', '.join(missing)}")
        lock.close()
        return self.index

    def save(self) -> None:
        tmp = self.index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.index, indent=1) + "\n")
        os.replace(tmp, self.index_path)

    def push(self, registry: str, name: str | None = None) -> Path:
        """Push every image to `registry` (HOST:PORT, plain HTTP) and write the KUBE_TEST_REPO_LIST file. The suite
        names the images `name` (default: the registry itself); a `name` with a path of its own (a registry the
        nodes already mirror to `registry`, say public.ecr.aws/eks-distro/conformance) puts the images under that
        path in `registry`, so the nodes pull them through their mirror with no registry setting of their own."""
        name = name or registry
        for const, entry in sorted(self.index.items()):
            _, repo, tag = split_image(entry["upstream"])
            img = oci.read_layout(str(self.out / entry["layout"]), tag)
            digest = img.push(registry, pushed_repo(name, repo), tag)
            entry.setdefault("pushed", {})[name] = f"{name}/{repo}:{tag}@{digest}"
            log(f"{const}: pushed {registry}/{pushed_repo(name, repo)}:{tag} {digest} (the suite's name {name}/{repo})")
        self.save()
        defaults = registry_defaults((self.moddir / "test/utils/image/manifest.go").read_text())
        dest = self.out / f"repo-list-{re.sub(r'[:/]', '_', name)}.yaml"
        dest.write_text(yaml.safe_dump(repo_list(defaults, name), sort_keys=True))
        return dest


def build_with_links(files: dict[str, str], links: list[str], extra: dict[str, bytes | None], opts: dict,
                     base: Path | None = None) -> oci.Image:
    """oci.build_image with busybox applet symlinks and small generated files: laid out in a staging root
    directory (oci.build_image's rootfs; a copy of `base` first, when given), the binaries added on top."""
    with tempfile.TemporaryDirectory(prefix="eksd-img-") as root:
        if base is not None:
            shutil.copytree(base, root, symlinks=True, dirs_exist_ok=True)
        for link in links:
            if link in files or os.path.lexists(Path(root) / link.lstrip("/")):
                continue
            path = Path(root) / link.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to("/bin/busybox")
        for dest, data in extra.items():
            path = Path(root) / dest.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            if data is None:  # a link to the Debian command of the same name
                path.symlink_to("/usr/bin/" + path.name)
            else:
                path.write_bytes(data)
        for dest, target in list(files.items()):
            if "/" not in target:  # a relative symlink (agnhost-2 -> agnhost)
                path = Path(root) / dest.lstrip("/")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.symlink_to(target)
                del files[dest]
        if "/agnhost" in files:
            (Path(root) / "uploads").mkdir(exist_ok=True)
        (Path(root) / "tmp").mkdir(exist_ok=True)
        os.chmod(Path(root) / "tmp", 0o1777)
        os.chmod(root, 0o755)
        return oci.build_image(files, rootfs=root, **opts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("release")
    ap.add_argument("--registry", help="HOST:PORT to push to (plain HTTP); writes the KUBE_TEST_REPO_LIST file")
    ap.add_argument("--name", help="the registry (and path) the suite names the images by, when the nodes reach "
                    "--registry under another name (a mirror); default: --registry itself")
    ap.add_argument("--force", action="store_true", help="rebuild the images even if cached")
    args = ap.parse_args()
    b = ImageBuilder(args.release, args.force)
    b.build_all()
    if args.registry:
        print(b.push(args.registry, args.name))
    else:
        print(b.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
