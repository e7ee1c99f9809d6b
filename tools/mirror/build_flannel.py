#!/usr/bin/env python3
"""Build flannel (flanneld and its CNI plugin) from Go modules into the mirror and an image layout.

`cni_provider: flannel` runs flanneld as a DaemonSet from an image and installs the flannel CNI plugin on
every node from the artifact mirror (the cni role, through the download role, checked by sha512):

    <mirror>/flannel-cni-plugin/v<v>/flannel-<arch>       (.sha256, .sha512 sidecars)
    <mirror>/oci/flannel/flannel/v<v>/                    OCI image layout of docker.io/flannel/flannel:v<v>;
                                                          tools/lab/lab-up.sh pushes every layout under
                                                          <mirror>/oci/<repo>/<tag> to the lab registry as <repo>:<tag>

The image holds /opt/bin/flanneld (github.com/flannel-io/flannel, where upstream's image has it, so that
upstream's image is a drop-in) and the iptables (nft) of this machine's Debian with the libraries it loads:
flanneld runs iptables for its masquerade and forward rules. flanneld is built without cgo, from a copy of
the module's main.go without two backends: Tencent Cloud VPC (its SDK module is not served here) and UDP (it
needs cgo); every other backend, vxlan among them, is in.

The flannel CNI plugin's own module, github.com/flannel-io/cni-plugin, is not served by the Go module proxy
here (every version asked for is refused), so the plugin is built from the module it was moved out of,
github.com/containernetworking/plugins, plugins/meta/flannel, at its last version there (v0.9.1): the same
plugin (it reads /run/flannel/subnet.env and delegates to the bridge and host-local plugins of the release).

Versions come from roles/preflight/vars/flannel_release.yml; --record writes the built plugin's sha512 and
the image's digest there (the one place they are pinned; the collection pulls the image by that digest).
The image's digest depends on this machine's iptables package (its files go into the image): rebuild with
--record after an iptables or libc update.

Usage: build_flannel.py [--record]       (linux/amd64 only: the image takes this machine's iptables)

Binaries are cached under $EKSD_CACHE/build/<component>-v<version>-<arch>. The last line printed is the
mirror's root directory.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RELEASE_FILE = REPO / "roles" / "preflight" / "vars" / "flannel_release.yml"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tools" / "lab"))
from build_containerd import build, cache_root, go_env, publish, wrapper  # noqa: E402  (the same Go build helpers)
from build_mirror import run  # noqa: E402
from oci import build_image  # noqa: E402

FLANNEL_MODULE = "github.com/flannel-io/flannel"
PLUGIN_MODULE = "github.com/containernetworking/plugins"
PLUGIN_PACKAGE = PLUGIN_MODULE + "/plugins/meta/flannel"
IMAGE_REPO = "flannel/flannel"  # docker.io/flannel/flannel, as upstream names it
# iptables of this machine: the multi-call binary under every name flanneld (go-iptables) runs
XTABLES = Path("/usr/sbin/xtables-nft-multi")
XTABLES_NAMES = ["iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"]
XTABLES_LIBDIR = Path("/usr/lib/x86_64-linux-gnu/xtables")


def log(msg: str) -> None:
    print(f"[flannel] {msg}", flush=True)


def release_versions(text: str | None = None) -> dict:
    """flannel and cni_plugin versions from the data file (a flat YAML file this script also writes)."""
    text = RELEASE_FILE.read_text(encoding="utf-8") if text is None else text
    versions = dict(re.findall(r'^  (flannel|cni_plugin): "([^"]+)"$', text, re.M))
    if set(versions) != {"flannel", "cni_plugin"}:
        raise SystemExit(f"{RELEASE_FILE}: no flannel and cni_plugin versions under _preflight_flannel_release")
    return versions


def record_text(text: str, plugin: dict[str, str], images: dict[str, str]) -> str:
    """The data file with the plugin's sha512 and the image digests per architecture replaced (others kept)."""
    def block(text: str, key: str, values: dict[str, str], value_re: str, fmt) -> str:
        m = re.search(rf"^  {key}:(?: \{{\}})?\n((?:    .*\n)*)", text, re.M)
        if not m:
            raise SystemExit(f"{RELEASE_FILE}: no {key} map")
        known = dict(re.findall(rf"^    (\S+): (?:>-\n      )?({value_re})$", m.group(1), re.M))
        known.update(values)
        body = "".join(fmt(name, known[name]) for name in sorted(known))
        return text[:m.start()] + f"  {key}:" + ("\n" + body if body else " {}\n") + text[m.end():]

    text = block(text, "plugin_sha512", plugin, "[0-9a-f]{128}", lambda k, v: f"    {k}: >-\n      {v}\n")
    return block(text, "image_digest", images, "sha256:[0-9a-f]{64}", lambda k, v: f"    {k}: {v}\n")


# Backends left out of flanneld: Tencent Cloud VPC (its SDK module is not served by the module proxy here) and UDP
# (needs cgo; a legacy backend for debugging, upstream says). Every other backend, vxlan among them, is in.
LEFT_OUT_BACKENDS = ("tencentvpc", "udp")


def flanneld_main(upstream: str) -> str:
    """flanneld's main.go without the blank imports of LEFT_OUT_BACKENDS."""
    for backend in LEFT_OUT_BACKENDS:
        line = f'\t_ "{FLANNEL_MODULE}/pkg/backend/{backend}"\n'
        if line not in upstream:
            raise SystemExit(f"{FLANNEL_MODULE} main.go: no {backend} backend import to leave out")
        upstream = upstream.replace(line, "")
    return upstream


def build_flanneld(root: Path, version: str, arch: str) -> Path:
    def make(dest: Path) -> None:
        wdir, _ = wrapper(root / "src", f"flannel-v{version}", FLANNEL_MODULE, f"v{version}")
        # flanneld is the module's root package (main): built from a copy of its main.go in the wrapper
        info = json.loads(run(["go", "mod", "download", "-json", f"{FLANNEL_MODULE}@v{version}"], cwd=wdir))
        (wdir / "main.go").write_text(flanneld_main((Path(info["Dir"]) / "main.go").read_text(encoding="utf-8")))
        ldflags = f"-s -w -X {FLANNEL_MODULE}/pkg/version.Version=v{version}"
        run(["nice", "-n", "19", "go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(dest / "flanneld"), "."],
            cwd=wdir, env=go_env(arch, cgo=False))

    return build(root / "build" / f"flannel-v{version}-{arch}", f"{FLANNEL_MODULE}@v{version}", make, log)


def build_plugin(root: Path, version: str, arch: str) -> Path:
    def make(dest: Path) -> None:
        wdir, _ = wrapper(root / "src", f"cni-plugins-v{version}-flannel", PLUGIN_MODULE, f"v{version}")
        ldflags = f"-s -w -X {PLUGIN_MODULE}/pkg/utils/buildversion.BuildVersion=v{version}"
        run(["nice", "-n", "19", "go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(dest / "flannel"),
             PLUGIN_PACKAGE], cwd=wdir, env=go_env(arch, cgo=False))

    return build(root / "build" / f"flannel-cni-plugin-v{version}-{arch}", f"{PLUGIN_PACKAGE}@v{version}", make, log)


def shared_libraries(binary: Path) -> list[Path]:
    """The shared libraries (and the dynamic loader) a binary loads, as ldd resolves them here."""
    out = subprocess.run(["ldd", str(binary)], check=True, capture_output=True, text=True).stdout
    return sorted({Path(p) for p in re.findall(r"(/\S+) \(0x", out)})


def stage_rootfs(stage: Path, flanneld: Path) -> Path:
    """The image's root: /opt/bin/flanneld, iptables (nft) with its libraries and extensions, /etc/protocols."""
    if stage.exists():
        shutil.rmtree(stage)
    for d in ("opt/bin", "usr/sbin", "run", "tmp", "etc"):
        (stage / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(flanneld / "flanneld", stage / "opt/bin/flanneld")
    shutil.copy2(XTABLES, stage / "usr/sbin" / XTABLES.name)
    for name in XTABLES_NAMES:
        (stage / "usr/sbin" / name).symlink_to(XTABLES.name)
    libs = set(shared_libraries(XTABLES))
    for ext in sorted(XTABLES_LIBDIR.glob("*.so")):
        libs.update(shared_libraries(ext))
    for lib in sorted(libs):
        real = lib.resolve()
        dest = stage / str(lib).lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real, dest)
    shutil.copytree(XTABLES_LIBDIR, stage / str(XTABLES_LIBDIR).lstrip("/"), symlinks=True)
    for etc in ("protocols", "services", "ethertypes"):
        if Path("/etc", etc).is_file():
            shutil.copy2(Path("/etc", etc), stage / "etc" / etc)
    (stage / "tmp").chmod(0o1777)
    return stage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true",
                        help="write the plugin's sha512 and the image digest into roles/preflight/vars/flannel_release.yml")
    args = parser.parse_args()
    arch = {"x86_64": "amd64"}.get(platform.machine())
    if arch is None or not XTABLES.exists():
        raise SystemExit("build_flannel.py: linux/amd64 with Debian's iptables (nft) only: the image takes this machine's iptables")
    versions = release_versions()
    root = cache_root()
    mirror = root / "mirror"

    flanneld = build_flanneld(root, versions["flannel"], arch)
    plugin = build_plugin(root, versions["cni_plugin"], arch)

    dest = mirror / "flannel-cni-plugin" / f"v{versions['cni_plugin']}" / f"flannel-{arch}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plugin / "flannel", dest)
    dest.chmod(0o755)
    digest = publish(dest)
    log(f"{dest.relative_to(mirror)}: {dest.stat().st_size / 1e6:.1f} MB, sha256 {digest['sha256']}")

    tag = f"v{versions['flannel']}"
    stage = stage_rootfs(root / "build" / f"flannel-image-{tag}-{arch}", flanneld)
    image = build_image(rootfs=str(stage), entrypoint=["/opt/bin/flanneld"], arch=arch,
                        labels={"org.opencontainers.image.source": f"https://{FLANNEL_MODULE}",
                                "org.opencontainers.image.version": tag})
    layout = mirror / "oci" / IMAGE_REPO / tag
    if layout.exists():
        shutil.rmtree(layout)
    image.write_layout(str(layout), tag=tag)
    log(f"image docker.io/{IMAGE_REPO}:{tag}@{image.digest} -> {layout.relative_to(mirror)}")
    print(f"    flannel-{arch}: {digest['sha512']}")
    print(f"    image {arch}: {image.digest}")
    if args.record:
        text = record_text(RELEASE_FILE.read_text(encoding="utf-8"), {f"flannel-{arch}": digest["sha512"]}, {arch: image.digest})
        RELEASE_FILE.write_text(text, encoding="utf-8")
        log(f"recorded flannel-{arch} and the {arch} image digest in {RELEASE_FILE}")
    print(mirror)
    return 0


if __name__ == "__main__":
    sys.exit(main())
