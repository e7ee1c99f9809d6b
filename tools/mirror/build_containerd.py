#!/usr/bin/env python3
"""Build containerd and runc from their Go modules into the layout of their upstream release files.

The containerd role installs containerd and runc from release files (containerd_install_method archive, the
default on the RHEL family and Amazon Linux) from the artifact mirror:

    <mirror>/containerd/v<v>/containerd-<v>-linux-<arch>.tar.gz   (bin/containerd, bin/containerd-shim-runc-v2, bin/ctr)
    <mirror>/runc/v<v>/runc.<arch>

each with .sha256 and .sha512 sidecars, as upstream's GitHub releases lay them out. GitHub is out of reach
here, so this builds them from github.com/containerd/containerd/v2 and github.com/opencontainers/runc through
the Go module proxy (a throwaway wrapper module, GOFLAGS=-mod=mod, as build_mirror.py does). The versions
come from roles/preflight/vars/containerd_release.yml; --record writes the built files' sha512 there.

Usage: build_containerd.py [--arch amd64] [--record]

Binaries are cached under $EKSD_CACHE/build/<component>-v<version>-<arch>; the files go under
$EKSD_CACHE/mirror. The tarball is deterministic (fixed owners and times): the same binaries give the same
digest. What differs from upstream's files: containerd is built without cgo (no btrfs or devmapper
snapshotters), runc is linked statically with Debian 12's libseccomp (LIBSECCOMP_DEV; upstream's with its own
build of it), and the tarball holds no containerd-stress; `containerd --version` shows no revision where the module proxy gives no
VCS origin (it did not for v2.3.7). The last line printed is the mirror's root directory.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RELEASE_FILE = REPO / "roles" / "preflight" / "vars" / "containerd_release.yml"
sys.path.insert(0, str(HERE))
from build_mirror import deterministic_tar, run, sha  # noqa: E402  (the mirror builder's helpers)

CONTAINERD_MODULE = "github.com/containerd/containerd/v2"
RUNC_MODULE = "github.com/opencontainers/runc"
CONTAINERD_COMMANDS = ["containerd", "containerd-shim-runc-v2", "ctr"]
# runc enforces seccomp profiles (RuntimeDefault, Localhost) only when built with libseccomp; without it runc refuses
# every container that asks for one. libseccomp.a and its headers come from Debian 12's libseccomp-dev, fetched from
# Debian's pool and checked here, and runc links it statically.
LIBSECCOMP_DEV = {
    "amd64": {
        "version": "2.5.4-1+deb12u1",
        "url": "http://deb.debian.org/debian/pool/main/libs/libseccomp/libseccomp-dev_2.5.4-1%2Bdeb12u1_amd64.deb",
        "sha256": "5fb305f3aeb293e2b78a4cfcb58c0f42179703c371a408d002c8454661e6b7b2",
        "multiarch": "x86_64-linux-gnu",
    },
}


def log(msg: str) -> None:
    print(f"[containerd] {msg}", flush=True)


def fetch_checked(url: str, sha256: str, dest: Path) -> Path:
    """dest holding url's bytes, whose sha256 must be the given one; fetched only when dest is missing or differs."""
    if dest.exists() and sha(dest, "sha256") == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    log(f"fetching {url}")
    with urllib.request.urlopen(url, timeout=120) as resp:
        dest.write_bytes(resp.read())
    got = sha(dest, "sha256")
    if got != sha256:
        dest.unlink()
        raise SystemExit(f"{url}: sha256 {got}, expected {sha256}")
    return dest


def cache_root() -> Path:
    return Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))


def release_versions() -> dict:
    """containerd and runc versions from the data file (a flat YAML file this script also writes)."""
    text = RELEASE_FILE.read_text(encoding="utf-8")
    versions = dict(re.findall(r'^  (containerd|runc): "([^"]+)"$', text, re.M))
    if set(versions) != {"containerd", "runc"}:
        raise SystemExit(f"{RELEASE_FILE}: no containerd and runc versions under _preflight_containerd_release")
    return versions


def record(versions: dict, digests: dict) -> None:
    """Rewrite the data file's sha512 map with the built files' digests (kept: digests of other files)."""
    text = RELEASE_FILE.read_text(encoding="utf-8")
    head, _, _ = text.partition("  sha512:")
    known = recorded_digests()
    known.update(digests)
    body = "".join(f"    {name}: >-\n      {known[name]}\n" for name in sorted(known))
    RELEASE_FILE.write_text(head + "  sha512:" + ("\n" + body if body else " {}\n"), encoding="utf-8")
    log(f"recorded {', '.join(sorted(digests))} in {RELEASE_FILE}")


def wrapper(src: Path, name: str, module: str, version: str) -> tuple[Path, str]:
    """A module that requires `module` at `version`; returns its directory and the upstream commit."""
    src.mkdir(parents=True, exist_ok=True)
    info = json.loads(run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=src))
    gomod = Path(info["GoMod"]).read_text(encoding="utf-8")
    go = (re.search(r"^go (\d+\.\d+(?:\.\d+)?)", gomod, re.M) or [None, "1.22"])[1]
    wdir = src / name
    wdir.mkdir(parents=True, exist_ok=True)
    text = f"module eksd.local/build/{name}\n\ngo {go}\n\nrequire {module} {version}\n"
    if not (wdir / "go.mod").exists() or (wdir / "go.mod").read_text() != text:
        (wdir / "go.mod").write_text(text)
        (wdir / "go.sum").unlink(missing_ok=True)
    return wdir, info.get("Origin", {}).get("Hash", "")


def build(dest: Path, what: str, make, say=None) -> Path:
    """Run make(dest) once: a stamp file marks a finished build. say: the caller's log function."""
    say = say or log
    stamp = dest / ".done"
    if stamp.exists():
        say(f"{dest.name}: cached")
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    say(f"{dest.name}: building {what} ...")
    make(dest)
    stamp.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    say(f"{dest.name}: built in {time.monotonic() - start:.0f}s")
    return dest


def go_env(arch: str, cgo: bool) -> dict:
    env = dict(os.environ)
    env.update(CGO_ENABLED="1" if cgo else "0", GOTOOLCHAIN="local", GOFLAGS="-mod=mod -buildvcs=false",
               GOOS="linux", GOARCH=arch)
    return env


def build_containerd(root: Path, version: str, arch: str) -> Path:
    def make(dest: Path) -> None:
        wdir, commit = wrapper(root / "src", f"containerd-v{version}", CONTAINERD_MODULE, f"v{version}")
        pkg = f"{CONTAINERD_MODULE}/version"
        ldflags = f"-s -w -X {pkg}.Version=v{version} -X {pkg}.Revision={commit} -X {pkg}.Package={CONTAINERD_MODULE}"
        run(["nice", "-n", "19", "go", "build", "-trimpath", "-tags", "no_btrfs no_devmapper no_zfs", "-ldflags", ldflags,
             "-o", str(dest) + "/"] + [f"{CONTAINERD_MODULE}/cmd/{c}" for c in CONTAINERD_COMMANDS],
            cwd=wdir, env=go_env(arch, cgo=False))

    return build(root / "build" / f"containerd-v{version}-{arch}", f"{CONTAINERD_MODULE}@v{version}", make)


def libseccomp(root: Path, arch: str) -> dict:
    """Environment for cgo to find LIBSECCOMP_DEV's static library: its package unpacked under the build cache."""
    if arch not in LIBSECCOMP_DEV:
        raise SystemExit(f"build_containerd.py: no libseccomp-dev recorded for {arch} (LIBSECCOMP_DEV has "
                         f"{', '.join(LIBSECCOMP_DEV)}); runc without seccomp would refuse seccomp profiles")
    pkg = LIBSECCOMP_DEV[arch]

    def make(dest: Path) -> None:
        deb = fetch_checked(pkg["url"], pkg["sha256"], dest / pkg["url"].rsplit("/", 1)[-1])
        run(["dpkg-deb", "-x", str(deb), str(dest / "root")])

    dest = build(root / "build" / f"libseccomp-dev-{pkg['version']}-{arch}", f"libseccomp-dev {pkg['version']}", make)
    return {"PKG_CONFIG_PATH": str(dest / "root" / "usr" / "lib" / pkg["multiarch"] / "pkgconfig"),
            "PKG_CONFIG_SYSROOT_DIR": str(dest / "root")}


def build_runc(root: Path, version: str, arch: str) -> Path:
    def make(dest: Path) -> None:
        wdir, commit = wrapper(root / "src", f"runc-v{version}", RUNC_MODULE, f"v{version}")
        # runc's nsenter and seccomp are C: cgo, linked statically so that the binary runs on any glibc.
        # no Go build ID: cgo folds the flags pkg-config gives (absolute paths under the cache) into it, and the
        # linker derives the GNU build ID from it, so the digest would depend on where EKSD_CACHE is
        ldflags = f"-s -w -buildid= -X main.version={version} -X main.gitCommit={commit} -extldflags -static"
        run(["nice", "-n", "19", "go", "build", "-trimpath", "-buildmode=default", "-tags", "seccomp netgo osusergo",
             "-ldflags", ldflags, "-o", str(dest / "runc"), RUNC_MODULE], cwd=wdir,
            env=go_env(arch, cgo=True) | libseccomp(root, arch))

    # the directory names the recipe: a runc cached by an older recipe (with a Go build ID) is not reused
    return build(root / "build" / f"runc-v{version}-{arch}-seccomp-nobuildid", f"{RUNC_MODULE}@v{version} (seccomp)", make)


def publish(path: Path) -> dict:
    digests = {"sha256": sha(path, "sha256"), "sha512": sha(path, "sha512")}
    for algo, hexd in digests.items():
        Path(f"{path}.{algo}").write_text(f"{hexd}  {path.name}\n")
    return digests


def recorded_digests() -> dict:
    """sha512 per file name, as containerd_release.yml records them."""
    text = RELEASE_FILE.read_text(encoding="utf-8")
    return dict(re.findall(r"^    (\S+): >-\n      ([0-9a-f]{128})$", text, re.M))


def publish_release_files(root: Path, arch: str) -> dict:
    """containerd's tarball and runc under <root>/mirror, with sidecars; returns sha512 per file name."""
    versions = release_versions()
    mirror = root / "mirror"
    cbin = build_containerd(root, versions["containerd"], arch)
    rbin = build_runc(root, versions["runc"], arch)

    tarball = mirror / "containerd" / f"v{versions['containerd']}" / f"containerd-{versions['containerd']}-linux-{arch}.tar.gz"
    tarball.parent.mkdir(parents=True, exist_ok=True)
    deterministic_tar(tarball, [(f"bin/{c}", cbin / c, 0o755) for c in CONTAINERD_COMMANDS])
    runc = mirror / "runc" / f"v{versions['runc']}" / f"runc.{arch}"
    runc.parent.mkdir(parents=True, exist_ok=True)
    runc.write_bytes((rbin / "runc").read_bytes())
    runc.chmod(0o755)

    digests = {}
    for path in (tarball, runc):
        digest = publish(path)
        digests[path.name] = digest["sha512"]
        log(f"{path.relative_to(mirror)}: {path.stat().st_size / 1e6:.1f} MB, sha256 {digest['sha256']}")
    return digests


def publish_for_mirror(root: Path, arch: str) -> None:
    """The mirror builder's step: the files, which must be the ones whose digests the collection records (the
    containerd role checks every download against them)."""
    digests = publish_release_files(root, arch)
    known = recorded_digests()
    stale = [name for name, digest in digests.items() if known.get(name) != digest]
    if stale:
        raise SystemExit(f"{RELEASE_FILE}: the sha512 recorded for {', '.join(stale)} is not that of the files built "
                         "here; if the build is meant to change, run tools/mirror/build_containerd.py --record")
    log(f"containerd and runc: {', '.join(sorted(digests))} match their recorded sha512")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="amd64", choices=["amd64", "arm64"])
    parser.add_argument("--record", action="store_true",
                        help="write the built files' sha512 into roles/preflight/vars/containerd_release.yml")
    args = parser.parse_args()
    root = cache_root()
    digests = publish_release_files(root, args.arch)
    for name, digest in digests.items():
        print(f"    {name}: {digest}")
    if args.record:
        record(release_versions(), digests)
    print(root / "mirror")
    return 0


if __name__ == "__main__":
    sys.exit(main())
