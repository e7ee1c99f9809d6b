#!/usr/bin/env python3
"""Build small single-layer OCI images and push them to a registry, with the standard library only.

No container engine, no skopeo: the image is built in memory (a deterministic tar layer, a config
blob, a manifest) and pushed with the registry HTTP API v2 (monolithic blob uploads, manifest PUT).
The lab uses it to publish pause, CoreDNS and test images into its local registry.

CLI
---
  # build and push: files are DEST_IN_IMAGE=LOCAL_PATH (a local directory is added recursively)
  python3 tools/lab/oci.py push --registry 10.89.64.1:5000 --repo eks-distro/kubernetes/pause \\
      --tag v1.29.0-eks-1-29-3 --file /pause=/path/to/pause --entrypoint /pause

  # start from a root filesystem (directory or .tar/.tar.gz), then add files on top
  python3 tools/lab/oci.py push --registry HOST:PORT --repo eks-distro/test/busybox --tag v1 \\
      --file /bin/busybox=/bin/busybox --entrypoint '["/bin/busybox","sh"]'

  # write an OCI image layout directory instead (skopeo/podman can read it as oci:DIR:TAG)
  python3 tools/lab/oci.py build --output /tmp/img --tag v1 --file /pause=./pause --entrypoint /pause

  # push an existing OCI layout; show what a registry serves
  python3 tools/lab/oci.py push --registry HOST:PORT --repo R --tag T --layout /tmp/img
  python3 tools/lab/oci.py inspect --registry HOST:PORT --repo R --tag T

Options shared by build/push: --entrypoint and --cmd take a JSON array or a shell-like string;
--env K=V, --label K=V, --workdir, --user, --arch (default: this machine's), --format oci|docker
(OCI image manifest, default, or Docker image manifest v2 schema 2), --tag may be repeated.
Registries are spoken to over plain HTTP unless --scheme https; proxies from the environment are
ignored (the lab registry is local). Prints the manifest digest (sha256:...).

Python API
----------
  from oci import build_image
  img = build_image({"/pause": "/path/to/pause"}, entrypoint=["/pause"])
  digest = img.push("10.89.64.1:5000", "eks-distro/kubernetes/pause", "v1")
  img.write_layout("/tmp/pause-oci", tag="v1")
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import shlex
import stat
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canon(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------------
# layer
# --------------------------------------------------------------------------------------------------
class _Layer:
    """Collects entries by path (later ones win) and writes a deterministic tar."""

    def __init__(self, mtime: int = 0):
        self.mtime = mtime
        self.entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}

    @staticmethod
    def _norm(path: str) -> str:
        path = os.path.normpath("/" + path.strip()).lstrip("/")
        if not path or path.startswith(".."):
            raise ValueError(f"bad path in image: {path!r}")
        return path

    def _info(self, name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.mtime = self.mtime
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    def _parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.entries:
                self.entries[d] = (self._info(d, tarfile.DIRTYPE, 0o755), None)

    def add_bytes(self, path: str, data: bytes, mode: int = 0o644) -> None:
        name = self._norm(path)
        self._parents(name)
        ti = self._info(name, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.entries[name] = (ti, data)

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        name = self._norm(path)
        self._parents(name)
        self.entries[name] = (self._info(name, tarfile.DIRTYPE, mode), None)

    def add_symlink(self, path: str, target: str) -> None:
        name = self._norm(path)
        self._parents(name)
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.entries[name] = (ti, None)

    def add_local(self, path: str, local: str, mode: int | None = None) -> None:
        """Add a local file, symlink or directory (recursively) at `path` in the image."""
        st = os.lstat(local)
        if stat.S_ISLNK(st.st_mode):
            self.add_symlink(path, os.readlink(local))
        elif stat.S_ISDIR(st.st_mode):
            self.add_dir(path, stat.S_IMODE(st.st_mode))
            for child in sorted(os.listdir(local)):
                self.add_local(path.rstrip("/") + "/" + child, os.path.join(local, child))
        elif stat.S_ISREG(st.st_mode):
            with open(local, "rb") as f:
                self.add_bytes(path, f.read(), stat.S_IMODE(st.st_mode) if mode is None else mode)
        # sockets, fifos and device nodes are skipped: a container runtime provides /dev.

    def add_tarball(self, tar_path: str) -> None:
        with tarfile.open(tar_path, "r:*") as tf:
            for m in tf:
                name = m.name
                if name in (".", "./", ""):
                    continue
                if m.isdir():
                    self.add_dir(name, m.mode)
                elif m.issym():
                    self.add_symlink(name, m.linkname)
                elif m.islnk():
                    src = tf.extractfile(tf.getmember(m.linkname))
                    self.add_bytes(name, src.read() if src else b"", m.mode)
                elif m.isreg():
                    f = tf.extractfile(m)
                    self.add_bytes(name, f.read() if f else b"", m.mode)

    def chmod(self, path: str, mode: int) -> None:
        name = self._norm(path)
        if name in self.entries and self.entries[name][0].type == tarfile.REGTYPE:
            self.entries[name][0].mode = mode

    def tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for name in sorted(self.entries):
                ti, data = self.entries[name]
                tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# image
# --------------------------------------------------------------------------------------------------
class Image:
    """A built image: blobs by digest plus its manifest."""

    def __init__(self, manifest: bytes, blobs: dict[str, bytes]):
        self.manifest = manifest
        self.blobs = blobs
        self.manifest_json = json.loads(manifest)
        self.media_type = self.manifest_json.get("mediaType", OCI_MANIFEST)

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def config(self) -> dict:
        return json.loads(self.blobs[self.manifest_json["config"]["digest"]])

    def write_layout(self, directory: str, tag: str | None = None) -> str:
        """Write (or add to) an OCI image layout directory; returns the manifest digest."""
        blobdir = os.path.join(directory, "blobs", "sha256")
        os.makedirs(blobdir, exist_ok=True)
        with open(os.path.join(directory, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        for digest, data in list(self.blobs.items()) + [(self.digest, self.manifest)]:
            p = os.path.join(blobdir, digest.split(":", 1)[1])
            if not os.path.exists(p):
                with open(p + ".tmp", "wb") as f:
                    f.write(data)
                os.replace(p + ".tmp", p)
        index_path = os.path.join(directory, "index.json")
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        if os.path.exists(index_path):
            with open(index_path) as f:
                index = json.load(f)
        desc = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.manifest)}
        cfg = self.config
        desc["platform"] = {"architecture": cfg["architecture"], "os": cfg["os"]}
        if tag:
            desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
        index["manifests"] = [
            m for m in index.get("manifests", [])
            if not (tag and m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
            and m.get("digest") != self.digest
        ] + [desc]
        with open(index_path, "w") as f:
            json.dump(index, f, indent=1)
        return self.digest

    def push(self, registry: str, repo: str, tag: str, scheme: str = "http") -> str:
        return push(self, registry, repo, tag, scheme=scheme)


def _split_command(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return list(value)
    value = value.strip()
    if value.startswith("["):
        return list(json.loads(value))
    return shlex.split(value)


def build_image(
    rootfs_files: dict[str, str] | None = None,
    entrypoint=None,
    cmd=None,
    *,
    rootfs: str | None = None,
    env: dict[str, str] | list[str] | None = None,
    workdir: str | None = None,
    user: str | None = None,
    labels: dict[str, str] | None = None,
    arch: str | None = None,
    os_name: str = "linux",
    fmt: str = "oci",
    created: str = "1970-01-01T00:00:00Z",
    mtime: int = 0,
) -> Image:
    """Build a single-layer image.

    rootfs_files maps a path in the image to a local file or directory; `rootfs` (a directory or a
    .tar/.tar.gz) is laid down first. The entrypoint's file is made executable. Output is
    deterministic: the same inputs give the same digests.
    """
    layer = _Layer(mtime=mtime)
    if rootfs:
        if os.path.isdir(rootfs):
            for child in sorted(os.listdir(rootfs)):
                layer.add_local("/" + child, os.path.join(rootfs, child))
        else:
            layer.add_tarball(rootfs)
    for dest, local in (rootfs_files or {}).items():
        layer.add_local(dest, local)
    entrypoint = _split_command(entrypoint)
    cmd = _split_command(cmd)
    if entrypoint and entrypoint[0].startswith("/"):
        layer.chmod(entrypoint[0], 0o755)
    if not layer.entries:
        raise ValueError("empty image: give files or a rootfs")

    raw = layer.tar()
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    arch = arch or _ARCH.get(platform.machine().lower(), platform.machine().lower())

    if isinstance(env, dict):
        env_list = [f"{k}={v}" for k, v in env.items()]
    else:
        env_list = list(env or [])
    if not any(e.startswith("PATH=") for e in env_list):
        env_list.insert(0, DEFAULT_PATH)
    container_config: dict = {"Env": env_list}
    if entrypoint:
        container_config["Entrypoint"] = entrypoint
    if cmd:
        container_config["Cmd"] = cmd
    if workdir:
        container_config["WorkingDir"] = workdir
    if user:
        container_config["User"] = user
    if labels:
        container_config["Labels"] = dict(labels)
    config = {
        "architecture": arch,
        "os": os_name,
        "created": created,
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": [sha256(raw)]},
        "history": [{"created": created, "created_by": "tools/lab/oci.py"}],
    }
    config_blob = _canon(config)
    if fmt == "docker":
        mt_manifest, mt_config, mt_layer = DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER
    elif fmt == "oci":
        mt_manifest, mt_config, mt_layer = OCI_MANIFEST, OCI_CONFIG, OCI_LAYER
    else:
        raise ValueError(f"unknown format {fmt!r} (oci or docker)")
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt_manifest,
        "config": {"mediaType": mt_config, "digest": sha256(config_blob), "size": len(config_blob)},
        "layers": [{"mediaType": mt_layer, "digest": sha256(gz), "size": len(gz)}],
    }
    return Image(_canon(manifest), {sha256(config_blob): config_blob, sha256(gz): gz})


def read_layout(directory: str, tag: str | None = None) -> Image:
    """Load one image manifest (by tag, or the only one) from an OCI image layout."""
    with open(os.path.join(directory, "index.json")) as f:
        index = json.load(f)
    manifests = index.get("manifests", [])
    if tag:
        manifests = [m for m in manifests
                     if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag] or manifests
    if len(manifests) != 1:
        raise ValueError(f"{directory}: expected one manifest (tag {tag!r}), found {len(manifests)}")

    def blob(digest: str) -> bytes:
        with open(os.path.join(directory, "blobs", *digest.split(":", 1)), "rb") as f:
            return f.read()

    manifest = blob(manifests[0]["digest"])
    mj = json.loads(manifest)
    if "layers" not in mj:
        raise ValueError(f"{directory}: {mj.get('mediaType')} is not a single-platform image manifest")
    digests = [mj["config"]["digest"]] + [layer["digest"] for layer in mj["layers"]]
    return Image(manifest, {d: blob(d) for d in digests})


# --------------------------------------------------------------------------------------------------
# registry API v2
# --------------------------------------------------------------------------------------------------
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RegistryError(RuntimeError):
    pass


def _request(method: str, url: str, data: bytes | None = None, headers: dict | None = None,
             ok=(200,), timeout: float = 120):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        resp = _opener.open(req, timeout=timeout)
        body = resp.read()
        status, rheaders = resp.status, resp.headers
    except urllib.error.HTTPError as e:
        body, status, rheaders = e.read(), e.code, e.headers
    except urllib.error.URLError as e:
        raise RegistryError(f"{method} {url}: {e.reason}") from None
    if status not in ok:
        raise RegistryError(f"{method} {url}: HTTP {status}: {body[:500].decode(errors='replace')}")
    return status, rheaders, body


def push(image: Image, registry: str, repo: str, tag: str, scheme: str = "http") -> str:
    """Push `image` as registry/repo:tag; returns the manifest digest."""
    base = f"{scheme}://{registry}/v2/{repo}"
    for digest, data in image.blobs.items():
        status, _, _ = _request("HEAD", f"{base}/blobs/{digest}", ok=(200, 404))
        if status == 200:
            continue
        _, headers, _ = _request("POST", f"{base}/blobs/uploads/", data=b"", ok=(202,))
        location = headers.get("Location")
        if not location:
            raise RegistryError("registry gave no upload location")
        location = urllib.parse.urljoin(f"{scheme}://{registry}/", location)
        sep = "&" if "?" in location else "?"
        _request("PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", data=data,
                 headers={"Content-Type": "application/octet-stream",
                          "Content-Length": str(len(data))}, ok=(201,))
    _, headers, _ = _request("PUT", f"{base}/manifests/{tag}", data=image.manifest,
                             headers={"Content-Type": image.media_type}, ok=(201,))
    served = headers.get("Docker-Content-Digest")
    if served and served != image.digest:
        raise RegistryError(f"registry stored manifest {served}, expected {image.digest}")
    return image.digest


def fetch_manifest(registry: str, repo: str, ref: str, scheme: str = "http") -> tuple[str, bytes]:
    accept = f"{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, {DOCKER_LIST}"
    _, headers, body = _request("GET", f"{scheme}://{registry}/v2/{repo}/manifests/{ref}",
                                headers={"Accept": accept})
    return headers.get("Content-Type", ""), body


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------
def _kv(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for v in values or []:
        if "=" not in v:
            raise SystemExit(f"{what} wants KEY=VALUE, got {v!r}")
        k, val = v.split("=", 1)
        out[k] = val
    return out


def _image_from_args(args) -> Image:
    if getattr(args, "layout", None):
        return read_layout(args.layout, args.tag[0] if args.tag else None)
    files = _kv(args.file, "--file")
    for dest, local in files.items():
        if not os.path.lexists(local):
            raise SystemExit(f"--file {dest}={local}: no such file")
    return build_image(
        files,
        entrypoint=args.entrypoint,
        cmd=args.cmd,
        rootfs=args.rootfs,
        env=args.env,
        workdir=args.workdir,
        user=args.user,
        labels=_kv(args.label, "--label"),
        arch=args.arch,
        fmt=args.format,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def image_opts(sp, layout_ok: bool):
        sp.add_argument("--file", action="append", metavar="DEST=LOCAL",
                        help="add a local file/dir at DEST in the image (repeatable)")
        sp.add_argument("--rootfs", help="start from this directory or tarball")
        sp.add_argument("--entrypoint", help='JSON array or shell-like string, e.g. /pause')
        sp.add_argument("--cmd", help="JSON array or shell-like string")
        sp.add_argument("--env", action="append", metavar="K=V")
        sp.add_argument("--label", action="append", metavar="K=V")
        sp.add_argument("--workdir")
        sp.add_argument("--user")
        sp.add_argument("--arch", help="image architecture (default: this machine's)")
        sp.add_argument("--format", choices=("oci", "docker"), default="oci")
        sp.add_argument("--tag", action="append", help="tag (repeatable)")
        if layout_ok:
            sp.add_argument("--layout", help="push this OCI layout instead of building")

    b = sub.add_parser("build", help="build into an OCI image layout directory")
    image_opts(b, layout_ok=False)
    b.add_argument("--output", required=True)

    u = sub.add_parser("push", help="build (or load --layout) and push to a registry")
    image_opts(u, layout_ok=True)
    u.add_argument("--registry", required=True, help="HOST:PORT")
    u.add_argument("--repo", required=True)
    u.add_argument("--scheme", choices=("http", "https"), default="http")

    i = sub.add_parser("inspect", help="print the manifest (and config) a registry serves")
    i.add_argument("--registry", required=True)
    i.add_argument("--repo", required=True)
    i.add_argument("--tag", required=True)
    i.add_argument("--scheme", choices=("http", "https"), default="http")

    args = p.parse_args(argv)
    try:
        if args.command == "build":
            img = _image_from_args(args)
            for t in args.tag or [None]:
                img.write_layout(args.output, t)
            print(img.digest)
        elif args.command == "push":
            if not args.tag:
                raise SystemExit("push: --tag is required")
            img = _image_from_args(args)
            for t in args.tag:
                digest = img.push(args.registry, args.repo, t, scheme=args.scheme)
                print(f"pushed {args.registry}/{args.repo}:{t}@{digest}", file=sys.stderr)
            print(img.digest)
        elif args.command == "inspect":
            ctype, body = fetch_manifest(args.registry, args.repo, args.tag, scheme=args.scheme)
            manifest = json.loads(body)
            out = {"mediaType": ctype, "digest": sha256(body), "manifest": manifest}
            if "config" in manifest:
                _, _, cfg = _request(
                    "GET", f"{args.scheme}://{args.registry}/v2/{args.repo}/blobs/{manifest['config']['digest']}")
                out["config"] = json.loads(cfg)
            print(json.dumps(out, indent=2))
    except (RegistryError, ValueError, OSError) as e:
        print(f"oci.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
