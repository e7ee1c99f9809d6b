# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this module_utils file is internal to eksd.distro and is NOT public API.
# It may change or disappear in any release without notice; use the
# eksd.distro.release_info module or the eksd.distro.artifact/image lookups instead.
"""EKS Distro ``Release`` manifest model: parse, validate, index, select, rewrite.

Pure functions over text and dicts; fetching and caching live in ``_fetch``.
Everything that goes wrong raises :class:`ManifestError`, whose message names the bad
input and what was expected.  Importable on Python 3.7 (annotations are not evaluated).
"""

from __future__ import annotations

import datetime
import difflib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    import yaml

    _YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
    HAS_YAML = True
    YAML_IMPORT_ERROR: ImportError | None = None
except ImportError as exc:  # pragma: no cover - depends on the target's Python
    yaml = None
    _YAML_LOADER = None
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

API_VERSION = "distro.eks.amazonaws.com/v1alpha1"
KIND = "Release"
CHANNEL_KIND = "ReleaseChannel"
EKSD_BASE_URL = "https://distro.eks.amazonaws.com"
SUPPORTED_ARCHES = ("amd64", "arm64")
SUPPORTED_OSES = ("linux", "windows", "darwin")
ASSET_TYPES = ("Archive", "Image")

_RELEASE_ID_RE = re.compile(
    r"^(?:kubernetes-|v)?(?P<major>[1-9][0-9]*)[-.](?P<minor>0|[1-9][0-9]*)-(?:eks-)?(?P<number>[1-9][0-9]*)$"
)
_CHANNEL_ID_RE = re.compile(r"^(?:kubernetes-|v)?(?P<major>[1-9][0-9]*)[-.](?P<minor>0|[1-9][0-9]*)$")
_CHANNEL_NAME_RE = re.compile(r"^[1-9][0-9]*-(?:0|[1-9][0-9]*)$")
_RELEASE_NAME_RE = re.compile(r"^kubernetes-(?P<channel>[1-9][0-9]*-(?:0|[1-9][0-9]*))-eks-(?P<number>[1-9][0-9]*)$")
_HEX_RE = {64: re.compile(r"^[0-9a-fA-F]{64}$"), 128: re.compile(r"^[0-9a-fA-F]{128}$")}
_IMAGE_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_IMAGE_MIRROR_RE = re.compile(
    r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]+)?(?:/[a-z0-9._-]+)*$"
)


class ManifestError(Exception):
    """The one error of this library: a bad release id, option, location or manifest."""


# --------------------------------------------------------------------------- release ids


@dataclass(frozen=True)
class ReleaseId:
    """A release of a channel, e.g. channel ``1-24`` number ``9``."""

    channel: str
    number: int

    @property
    def name(self) -> str:
        """The canonical name, ``kubernetes-1-24-eks-9`` (a manifest's metadata.name)."""
        return f"kubernetes-{self.channel}-eks-{self.number}"

    def manifest_url(self, base_url: str = EKSD_BASE_URL) -> str:
        """Where the site, or a plain copy of it under ``base_url``, publishes this manifest."""
        return f"{base_url.rstrip('/')}/kubernetes-{self.channel}/{self.name}.yaml"


def parse_release_id(text: Any) -> ReleaseId:
    """Read ``1-24-9``, ``1.24-9``, ``v1-24-eks-9`` or ``kubernetes-1-24-eks-9``."""
    match = _RELEASE_ID_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ManifestError(
            f"release {text!r} is not an EKS-D release id; expected <major>-<minor>-<number> "
            "such as 1-24-9, v1-24-eks-9 or kubernetes-1-24-eks-9"
        )
    return ReleaseId(f"{match.group('major')}-{match.group('minor')}", int(match.group("number")))


def parse_channel_id(text: Any) -> str:
    """Read a channel ``1-36``, ``v1-36``, ``kubernetes-1-36`` or ``1.36``; return ``1-36``."""
    match = _CHANNEL_ID_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ManifestError(
            f"channel {text!r} is not an EKS-D release channel; expected <major>-<minor> "
            "such as 1-36, v1-36, kubernetes-1-36 or 1.36"
        )
    return f"{match.group('major')}-{match.group('minor')}"


def parse_release_request(text: Any) -> ReleaseId | str:
    """Read the ``release`` option: a release (a :class:`ReleaseId`) or a channel (its id, ``1-36``)."""
    if isinstance(text, str) and _CHANNEL_ID_RE.match(text.strip()):
        return parse_channel_id(text)
    if isinstance(text, str) and _RELEASE_ID_RE.match(text.strip()):
        return parse_release_id(text)
    raise ManifestError(
        f"release {text!r} is not an EKS-D release id or channel; expected a release such as 1-24-9, "
        "v1-24-eks-9 or kubernetes-1-24-eks-9, or a channel such as 1-36 (its latest release)"
    )


def channel_key(channel: str) -> tuple[int, int]:
    """Sort key of a channel id: ``1-9`` before ``1-10``."""
    major, minor = channel.split("-")
    return int(major), int(minor)


def channel_url(channel: str, base_url: str = EKSD_BASE_URL) -> str:
    """Where the site, or a plain copy of it under ``base_url``, publishes a channel's ReleaseChannel."""
    return f"{base_url.rstrip('/')}/releasechannels/{channel}.yaml"


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Asset:
    """One entry of a component's ``assets`` list."""

    name: str
    type: str  # Archive or Image
    component: str
    os: str | None  # absent on kubernetes-src.tar.gz
    arch: tuple[str, ...]
    description: str
    uri: str
    sha256: str | None = None  # Archive only, lower-case hex
    sha512: str | None = None  # Archive only, lower-case hex
    image_digest: str | None = None  # Image only and optional: sha256:<hex>

    def is_for(self, arch: str, os: str) -> bool:
        return self.os == os and arch in self.arch


@dataclass(frozen=True)
class Component:
    name: str
    version: str  # the component's gitTag
    commit: str | None
    assets: tuple[str, ...]  # asset names, manifest order


@dataclass(frozen=True)
class Release:
    """A validated Release document, its components and assets indexed by name."""

    name: str
    channel: str
    number: int
    date: str | None
    components: dict[str, Component]
    assets: dict[str, Asset]
    source: str

    @property
    def release_id(self) -> ReleaseId:
        return ReleaseId(self.channel, self.number)

    @property
    def kubernetes_version(self) -> str:
        return self.components["kubernetes"].version

    def platforms(self) -> list[str]:
        """The ``os/arch`` pairs that have Archive assets, sorted."""
        found = set()
        for asset in self.assets.values():
            if asset.type == "Archive" and asset.os:
                found.update(f"{asset.os}/{arch}" for arch in asset.arch)
        return sorted(found)


# --------------------------------------------------------------------------- parsing


def _fail(source: str, problem: str) -> ManifestError:
    return ManifestError(f"manifest {source}: {problem}")


def _require(mapping: Mapping[str, Any], key: str, kind: type, path: str, source: str, expected: str) -> Any:
    value = mapping.get(key)
    if value is None:
        raise _fail(source, f"{path} is missing; expected {expected}")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _fail(source, f"{path} is {value!r} ({type(value).__name__}); expected {expected}")
    return value


def _hex(value: Any, length: int, path: str, source: str) -> str:
    if not isinstance(value, str) or not _HEX_RE[length].match(value):
        raise _fail(source, f"{path} is {value!r}; expected {length} hex digits")
    return value.lower()


def load_yaml(text: str | bytes, source: str, what: str = "manifest", expected: str = KIND) -> Any:
    """Parse one YAML document; a leading ``---``, comments and any list indent are fine."""
    if not HAS_YAML:
        raise ManifestError(f"reading {what} {source} needs the Python library PyYAML, which is not installed")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{what} {source} is not UTF-8 text ({exc}); expected a YAML document") from None
    try:
        return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader (C or pure Python)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ManifestError(
            f"{what} {source} is not valid YAML ({detail}); expected one {expected} document"
        ) from None


def parse_manifest(text: str | bytes, source: str = "<string>") -> Release:
    """Parse and validate a Release manifest given as YAML text or bytes."""
    return parse_document(load_yaml(text, source), source)


def _date(value: Any, source: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):  # an unquoted timestamp; naive ones are UTC
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", value.utctimetuple())
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise _fail(source, f"status.date is {value!r}; expected an RFC 3339 date string")


def parse_document(doc: Any, source: str = "<document>") -> Release:
    """Validate a parsed Release document and index its components and assets."""
    if doc is None:
        raise ManifestError(f"manifest {source} is empty; expected a Release document")
    if not isinstance(doc, dict):
        raise ManifestError(
            f"manifest {source} is not a mapping (got {type(doc).__name__}); "
            f"expected a Release document (apiVersion {API_VERSION}, kind {KIND})"
        )
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise ManifestError(
            f"manifest {source} has apiVersion {doc.get('apiVersion')!r}, kind {doc.get('kind')!r}; "
            f"expected apiVersion {API_VERSION}, kind {KIND}"
        )
    metadata = _require(doc, "metadata", dict, "metadata", source, "a mapping with name")
    spec = _require(doc, "spec", dict, "spec", source, "a mapping with channel and number")
    status = _require(doc, "status", dict, "status", source, "a mapping with components")

    name = _require(metadata, "name", str, "metadata.name", source, "kubernetes-<channel>-eks-<number>")
    name_match = _RELEASE_NAME_RE.match(name)
    if name_match is None:
        raise _fail(source, f"metadata.name is {name!r}; expected kubernetes-<channel>-eks-<number>")
    want_channel, want_number = name_match.group("channel"), int(name_match.group("number"))
    channel = _require(spec, "channel", str, "spec.channel", source, f"the string {want_channel!r}")
    number = _require(spec, "number", int, "spec.number", source, f"the integer {want_number}")
    if channel != want_channel or number != want_number:
        raise _fail(
            source,
            f"spec.channel {channel!r} / spec.number {number!r} do not match metadata.name {name!r}; "
            f"expected channel {want_channel!r}, number {want_number}",
        )

    raw_components = status.get("components")
    if not isinstance(raw_components, list) or not raw_components:
        state = "missing" if raw_components is None else "empty or not a list"
        raise _fail(source, f"status.components is {state}; expected a non-empty list of components")

    components: dict[str, Component] = {}
    assets: dict[str, Asset] = {}
    for index, raw in enumerate(raw_components):
        path = f"status.components[{index}]"
        if not isinstance(raw, dict):
            raise _fail(source, f"{path} is {raw!r}; expected a mapping with name, gitTag and assets")
        comp_name = _require(raw, "name", str, path + ".name", source, "a component name")
        path = f"{path} ({comp_name})"
        if comp_name in components:
            raise _fail(source, f"component {comp_name!r} appears twice; expected unique component names")
        git_tag = _require(raw, "gitTag", str, path + ".gitTag", source, "the component's version tag")
        raw_assets = raw.get("assets") or []
        if not isinstance(raw_assets, list):
            raise _fail(source, f"{path}.assets is {raw_assets!r}; expected a list")
        names = []
        for asset_index, raw_asset in enumerate(raw_assets):
            asset = _parse_asset(raw_asset, comp_name, f"{path}.assets[{asset_index}]", source)
            if asset.name in assets:
                raise _fail(
                    source,
                    f"asset {asset.name!r} appears twice (components {assets[asset.name].component} and "
                    f"{comp_name}); expected unique asset names",
                )
            assets[asset.name] = asset
            names.append(asset.name)
        commit = raw.get("gitCommit")
        components[comp_name] = Component(comp_name, git_tag, commit if isinstance(commit, str) else None, tuple(names))

    if "kubernetes" not in components:
        raise _fail(
            source, "status.components has no component named kubernetes; expected one (its gitTag is the Kubernetes version)"
        )
    return Release(name, channel, number, _date(status.get("date"), source), components, assets, source)


def _parse_asset(raw: Any, component: str, path: str, source: str) -> Asset:
    if not isinstance(raw, dict):
        raise _fail(source, f"{path} is {raw!r}; expected a mapping")
    name = _require(raw, "name", str, path + ".name", source, "an asset name")
    path = f"{path} ({name})"
    kind = raw.get("type")
    if kind not in ASSET_TYPES:
        raise _fail(source, f"{path}.type is {kind!r}; expected Archive or Image")
    os_name = raw.get("os")
    if os_name is not None and not isinstance(os_name, str):
        raise _fail(source, f"{path}.os is {os_name!r}; expected a string such as linux")
    arch = raw.get("arch") or []
    if not isinstance(arch, list) or not all(isinstance(item, str) for item in arch):
        raise _fail(source, f"{path}.arch is {arch!r}; expected a list such as [amd64]")
    description = raw.get("description")
    description = description if isinstance(description, str) else ""
    if kind == "Archive":
        archive = _require(raw, "archive", dict, path + ".archive", source, "a mapping with uri, sha256 and sha512")
        uri = _require(archive, "uri", str, path + ".archive.uri", source, "an https URL")
        parts = urlsplit(uri)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise _fail(source, f"{path}.archive.uri is {uri!r}; expected an https URL")
        for digest in ("sha256", "sha512"):
            if archive.get(digest) is None:
                raise _fail(source, f"{path}.archive has no {digest}; expected both sha256 and sha512 digests")
        sha256 = _hex(archive["sha256"], 64, path + ".archive.sha256", source)
        sha512 = _hex(archive["sha512"], 128, path + ".archive.sha512", source)
        return Asset(name, kind, component, os_name, tuple(arch), description, uri, sha256=sha256, sha512=sha512)
    image = _require(raw, "image", dict, path + ".image", source, "a mapping with uri")
    uri = _require(image, "uri", str, path + ".image.uri", source, "an image reference")
    digest = image.get("imageDigest")
    if digest is not None and (not isinstance(digest, str) or not _IMAGE_DIGEST_RE.match(digest)):
        raise _fail(source, f"{path}.image.imageDigest is {digest!r}; expected sha256:<64 hex digits>")
    return Asset(name, kind, component, os_name, tuple(arch), description, uri, image_digest=digest)


def check_release_id(release: Release, wanted: ReleaseId | str | None) -> None:
    """Fail unless the manifest is the release that was asked for (or, for a channel id, one of its releases)."""
    if isinstance(wanted, str):
        if release.channel != wanted:
            raise ManifestError(
                f"manifest {release.source} is release {release.name} (channel {release.channel}); "
                f"expected a release of the requested channel {wanted}"
            )
        return
    if wanted is not None and release.name != wanted.name:
        raise ManifestError(
            f"manifest {release.source} is release {release.name} (channel {release.channel}, "
            f"number {release.number}); expected the requested release {wanted.name}"
        )


# --------------------------------------------------------------------------- release channels


@dataclass(frozen=True)
class ReleaseChannel:
    """A validated ReleaseChannel document: the channel, whether it is active, its latest release number."""

    name: str
    active: bool
    latest_release: int
    source: str

    @property
    def latest(self) -> ReleaseId:
        return ReleaseId(self.name, self.latest_release)

    def release_names(self) -> list[str]:
        """The names of releases 1 to the latest, oldest first."""
        return [ReleaseId(self.name, number).name for number in range(1, self.latest_release + 1)]


def _channel_fail(source: str, problem: str) -> ManifestError:
    return ManifestError(f"release channel {source}: {problem}")


def parse_release_channel(text: str | bytes, source: str = "<string>", channel: str | None = None) -> ReleaseChannel:
    """Parse and validate a ReleaseChannel given as YAML text or bytes (and check it is ``channel``)."""
    return parse_channel_document(load_yaml(text, source, what="release channel", expected=CHANNEL_KIND), source, channel)


def parse_channel_document(doc: Any, source: str = "<document>", channel: str | None = None) -> ReleaseChannel:
    """Validate a parsed ReleaseChannel document.

    The published form (``<site>/releasechannels/<channel>.yaml``) and the repository's copies differ
    only in comments and ``status.latestRelease``, so both are read alike.
    """
    expected = f"a ReleaseChannel document (apiVersion {API_VERSION}, kind {CHANNEL_KIND})"
    if doc is None:
        raise ManifestError(f"release channel {source} is empty; expected {expected}")
    if not isinstance(doc, dict):
        raise ManifestError(f"release channel {source} is not a mapping (got {type(doc).__name__}); expected {expected}")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != CHANNEL_KIND:
        raise ManifestError(
            f"release channel {source} has apiVersion {doc.get('apiVersion')!r}, kind {doc.get('kind')!r}; "
            f"expected apiVersion {API_VERSION}, kind {CHANNEL_KIND}"
        )
    want = channel if channel is not None else "<major>-<minor>"
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise _channel_fail(source, f"metadata is {metadata!r}; expected a mapping with name {want}")
    name = metadata.get("name")
    if not isinstance(name, str) or not _CHANNEL_NAME_RE.match(name):
        raise _channel_fail(source, f"metadata.name is {name!r}; expected the channel id {want}")
    if channel is not None and name != channel:
        raise _channel_fail(source, f"metadata.name is {name!r}; expected the requested channel {channel}")
    status = doc.get("status")
    if not isinstance(status, dict):
        raise _channel_fail(source, f"status is {status!r}; expected a mapping with active and latestRelease")
    latest = status.get("latestRelease")
    if latest is None:
        raise _channel_fail(source, "status.latestRelease is missing; expected the channel's newest release number (1 or more)")
    if not isinstance(latest, int) or isinstance(latest, bool) or latest < 1:
        raise _channel_fail(
            source,
            f"status.latestRelease is {latest!r} ({type(latest).__name__}); "
            "expected the channel's newest release number, an integer of 1 or more",
        )
    active = status.get("active")
    if not isinstance(active, bool):
        raise _channel_fail(source, f"status.active is {active!r}; expected true or false")
    return ReleaseChannel(name, active, latest, source)


def channel_facts(channel: ReleaseChannel, base_url: str = EKSD_BASE_URL) -> dict[str, Any]:
    """What release_channel_info returns for one channel."""
    return {
        "channel": channel.name,
        "active": channel.active,
        "latest_release": channel.latest_release,
        "latest_release_name": channel.latest.name,
        "releases": channel.release_names(),
        "manifest_url": channel.latest.manifest_url(base_url),
        "channel_url": channel.source,
    }


# --------------------------------------------------------------------------- selection


def check_platform(arch: Any, os: Any) -> None:
    if arch not in SUPPORTED_ARCHES:
        raise ManifestError(f"arch {arch!r} is not supported; expected one of {', '.join(SUPPORTED_ARCHES)}")
    if os not in SUPPORTED_OSES:
        raise ManifestError(f"os {os!r} is not supported; expected one of {', '.join(SUPPORTED_OSES)}")


def select_assets(release: Release, arch: str = "amd64", os: str = "linux") -> tuple[list[Asset], list[Asset]]:
    """The Archive and the Image assets of one os/arch, in manifest order.

    Fails when the manifest has no Archive asset for that os/arch.
    """
    check_platform(arch, os)
    archives: list[Asset] = []
    images: list[Asset] = []
    for asset in release.assets.values():
        if asset.is_for(arch, os):
            (archives if asset.type == "Archive" else images).append(asset)
    if not archives:
        raise ManifestError(
            f"manifest {release.source} has no assets for {os}/{arch}; "
            f"expected one of the platforms it has: {', '.join(release.platforms()) or 'none'}"
        )
    return archives, images


# --------------------------------------------------------------------------- rewriting


def check_url(url: str, what: str, allow_http: bool) -> None:
    """Require an https URL with a host, or http when ``allow_http``."""
    parts = urlsplit(url)
    if parts.netloc and (parts.scheme == "https" or (parts.scheme == "http" and allow_http)):
        return
    if parts.netloc and parts.scheme == "http":
        raise ManifestError(
            f"{what} {url} uses plain http; expected https, or set allow_http=true to accept http (meant for a mirror)"
        )
    raise ManifestError(f"{what} {url!r} is not an http(s) URL with a host; expected https://host[:port][/path]")


def normalize_artifact_mirror(mirror: str | None, allow_http: bool) -> str | None:
    """Validate a mirror base URL ``https://host[:port][/prefix]``; return it without a trailing ``/``."""
    if not mirror:
        return None
    check_url(mirror, "artifact_mirror", allow_http)
    parts = urlsplit(mirror)
    if parts.query or parts.fragment:
        raise ManifestError(f"artifact_mirror {mirror!r} has a query or fragment; expected a base URL")
    return mirror.rstrip("/")


def rewrite_artifact_url(uri: str, mirror: str | None) -> str:
    """Move an artifact URL onto ``mirror``, keeping the path below the host.

    ``https://distro.eks.amazonaws.com/kubernetes-1-24/releases/9/artifacts/...`` with mirror
    ``http://10.0.0.1:8080/eksd`` becomes ``http://10.0.0.1:8080/eksd/kubernetes-1-24/releases/9/artifacts/...``,
    so a mirror is a plain copy of the site.
    """
    if not mirror:
        return uri
    parts = urlsplit(uri)
    base = urlsplit(mirror.rstrip("/"))
    return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))


def normalize_image_mirror(mirror: str | None) -> str | None:
    """Validate a registry mirror ``host[:port][/prefix]``; return it without a trailing ``/``."""
    if not mirror:
        return None
    value = mirror.rstrip("/")
    if not _IMAGE_MIRROR_RE.match(value):
        raise ManifestError(
            f"image_mirror {mirror!r} is not a registry; expected host[:port][/path] without a scheme, "
            "such as 10.88.0.1:5000"
        )
    return value


def split_image(uri: str) -> tuple[str, str]:
    """Split an image reference into (registry host, repository path with tag or digest).

    The first path component is a registry when it has a dot or a colon or is localhost, as in
    the Docker reference grammar; ``/kubernetes/pause:...`` (1-19-1, built without a registry)
    has an empty one.
    """
    first, sep, rest = uri.partition("/")
    if sep and (first == "" or "." in first or ":" in first or first == "localhost"):
        return first, rest
    return "", uri


def rewrite_image(uri: str, mirror: str | None) -> str:
    """Move an image reference onto a registry mirror, keeping the repository path.

    ``public.ecr.aws/eks-distro/kubernetes/pause:v1.24.10-eks-1-24-9`` with mirror ``10.88.0.1:5000``
    becomes ``10.88.0.1:5000/eks-distro/kubernetes/pause:v1.24.10-eks-1-24-9``.
    """
    if not mirror:
        return uri
    return f"{mirror.rstrip('/')}/{split_image(uri)[1]}"


# --------------------------------------------------------------------------- facts


def release_facts(
    release: Release,
    arch: str = "amd64",
    os: str = "linux",
    artifact_mirror: str | None = None,
    image_mirror: str | None = None,
    allow_http: bool = False,
    manifest_url: str | None = None,
    requested: str | None = None,
    latest_of_channel: str | None = None,
    manifest_file: str | None = None,
) -> dict[str, Any]:
    """The ``release`` dict that release_info returns and the lookups read.

    Artifact URLs and image references are moved onto the mirrors; every artifact URL must
    then be https unless ``allow_http``. ``requested`` is the release option as given and
    ``latest_of_channel`` the channel when that named a channel (this is then its latest release).
    ``manifest_file`` is a local file holding the very bytes that were validated (a path manifest, or the
    cache's copy of a fetched one), so that a later step can read the manifest without fetching it again.
    """
    artifact_mirror = normalize_artifact_mirror(artifact_mirror, allow_http)
    image_mirror = normalize_image_mirror(image_mirror)
    archives, images = select_assets(release, arch, os)

    artifacts: dict[str, dict[str, Any]] = {}
    for asset in archives:
        url = rewrite_artifact_url(asset.uri, artifact_mirror)
        check_url(url, f"artifact {asset.name} URL", allow_http)
        artifacts[asset.name] = {"url": url, "sha256": asset.sha256, "sha512": asset.sha512, "component": asset.component}

    image_uris: dict[str, str] = {}
    image_digests: dict[str, str] = {}
    images_of: dict[str, list[str]] = {}
    for asset in images:
        image_uris[asset.name] = rewrite_image(asset.uri, image_mirror)
        if asset.image_digest:
            image_digests[asset.name] = asset.image_digest
        images_of.setdefault(asset.component, []).append(asset.name)

    components = {
        name: {"version": release.components[name].version, "images": images_of.get(name, [])}
        for name in sorted(release.components)
    }
    return {
        "name": release.name,
        "requested": requested,
        "latest_of_channel": latest_of_channel,
        "channel": release.channel,
        "number": release.number,
        "kubernetes_version": release.kubernetes_version,
        "date": release.date,
        "manifest_url": release.source if manifest_url is None else manifest_url,
        "manifest_file": manifest_file,
        "arch": arch,
        "os": os,
        "components": components,
        "artifacts": artifacts,
        "images": image_uris,
        "image_digests": image_digests,
    }


# --------------------------------------------------------------------------- lookups over facts


def _release_part(release: Any, key: str) -> Mapping[str, Any]:
    part = release.get(key) if isinstance(release, Mapping) else None
    if not isinstance(part, Mapping):
        raise ManifestError(
            f"release_data has no {key} mapping; expected a release dict as returned by eksd.distro.release_info"
        )
    return part


def _some(names: Iterable[str], near: Any) -> str:
    """A few of ``names``: those closest to ``near`` first, then the count."""
    names = sorted(names)
    if not names:
        return "none (the release has none)"
    close = difflib.get_close_matches(near, names, n=3, cutoff=0.5) if isinstance(near, str) else []
    shown = close or names[:3]
    return f"{', '.join(shown)} ({len(names)} in all)"


def find_artifact(release: Mapping[str, Any], name: Any) -> dict[str, Any]:
    """One artifact of a resolved release, with ``checksum`` ready for ansible.builtin.get_url."""
    artifacts = _release_part(release, "artifacts")
    entry = artifacts.get(name) if isinstance(name, str) else None
    if not isinstance(entry, Mapping) or not entry.get("sha512"):
        raise ManifestError(
            f"release {release.get('name')} has no artifact {name!r} for {release.get('os')}/{release.get('arch')}; "
            f"expected an asset name such as {_some(artifacts, name)}"
        )
    result = dict(entry)
    result["checksum"] = f"sha512:{entry['sha512']}"
    return result


def find_image(release: Mapping[str, Any], term: Any) -> str:
    """An image of a resolved release, by asset name (``coredns-image``) or component (``coredns``, ``pause``).

    Tried in order: the asset name itself, ``<term>-image``, then the only image of component ``<term>``
    (so ``kube-proxy`` is found whether it is an asset of component kubernetes or a component of its own).
    """
    images = _release_part(release, "images")
    if isinstance(term, str):
        for candidate in (term, term + "-image"):
            if isinstance(images.get(candidate), str):
                return images[candidate]
        components = release.get("components")
        component = components.get(term) if isinstance(components, Mapping) else None
        names = component.get("images") if isinstance(component, Mapping) else None
        if isinstance(names, list) and len(names) == 1 and names[0] in images:
            return images[names[0]]
        if isinstance(names, list) and len(names) > 1:
            raise ManifestError(
                f"component {term!r} of release {release.get('name')} has several images ({', '.join(names)}); "
                "expected one of those asset names"
            )
    raise ManifestError(
        f"release {release.get('name')} has no image {term!r} for {release.get('arch')}; "
        f"expected an image asset or component name such as {_some(images, term)}"
    )
