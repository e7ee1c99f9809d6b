# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this module_utils file is internal to eksd.distro and is NOT public API.
# It may change or disappear in any release without notice; use the
# eksd.distro.release_info module or the eksd.distro.artifact/image lookups instead.
"""Read a Release manifest (local path, ``file://`` or ``http(s)://`` URL, optional cache) and
resolve the shared release options into the ``release`` dict; read ReleaseChannel documents.

``resolve_release`` is what the release_info module and the artifact/image lookups call;
``RELEASE_ARGUMENT_SPEC`` is the argument spec matching the ``release_options`` doc fragment.
``load_release_channel`` and ``probe_release_channels`` read the channels (never cached: a
channel's latest release changes). Every failure is a :class:`ManifestError`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
from collections.abc import Mapping
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.eksd.distro.plugins.module_utils._manifest import (
    API_VERSION,
    CHANNEL_KIND,
    EKSD_BASE_URL,
    SUPPORTED_ARCHES,
    SUPPORTED_OSES,
    ManifestError,
    Release,
    ReleaseChannel,
    ReleaseId,
    channel_key,
    channel_url,
    check_platform,
    check_release_id,
    check_url,
    normalize_artifact_mirror,
    normalize_image_mirror,
    parse_channel_id,
    parse_manifest,
    parse_release_channel,
    parse_release_request,
    release_facts,
)

# The options shared by release_info and the lookups; the doc fragment
# plugins/doc_fragments/release_options.py documents exactly these.
RELEASE_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "release": {"type": "str"},
    "manifest": {"type": "str"},
    "base_url": {"type": "str"},
    "artifact_mirror": {"type": "str"},
    "image_mirror": {"type": "str"},
    "arch": {"type": "str", "default": "amd64", "choices": list(SUPPORTED_ARCHES)},
    "os": {"type": "str", "default": "linux", "choices": list(SUPPORTED_OSES)},
    "validate_certs": {"type": "bool", "default": True},
    "cache_dir": {"type": "path"},
    "allow_http": {"type": "bool", "default": False},
}
RELEASE_OPTION_NAMES = tuple(RELEASE_ARGUMENT_SPEC)

MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # published manifests are about 40 KiB
TIMEOUT = 30
_HTTP_AGENT = "eksd.distro"
FIRST_CHANNEL = "1-18"  # EKS-D's first release channel (2020-12)
DEFAULT_MAX_MISSES = 12


class NotPublished(ManifestError):
    """The location does not exist (HTTP 404, or no such file): nothing is published there."""


# --------------------------------------------------------------------------- where


def base_location(options: Mapping[str, Any]) -> str:
    """Where manifests and channels are published: ``base_url``, else ``artifact_mirror`` (an air-gapped
    user has only the mirror), else the EKS-D site."""
    return options.get("base_url") or options.get("artifact_mirror") or EKSD_BASE_URL


def manifest_location(options: Mapping[str, Any]) -> tuple[str, ReleaseId | str | None]:
    """The manifest to read and the release it must be (or, for a channel id, the channel it must be of).

    ``manifest`` wins; otherwise the URL is derived from ``release`` under :func:`base_location`.
    A channel's latest release needs its ReleaseChannel: :func:`resolve_release` reads that first.
    """
    release = options.get("release")
    wanted = parse_release_request(release) if release not in (None, "") else None
    manifest = options.get("manifest")
    if manifest:
        return manifest, wanted
    if wanted is None:
        raise ManifestError(
            "neither release nor manifest is set; expected a release id such as 1-24-9, a channel such as 1-36, "
            "or a manifest URL or path"
        )
    if isinstance(wanted, str):
        raise ManifestError(
            f"release {release!r} is channel {wanted}, whose latest release is read from "
            f"{channel_url(wanted, base_location(options))}; expected a release id here"
        )
    return wanted.manifest_url(base_location(options)), wanted


def _is_http(location: str) -> bool:
    return location[:8].lower().startswith(("http://", "https://"))


# --------------------------------------------------------------------------- read


class _Document:
    """What is being read, for the messages: ``manifest`` (a Release) or ``release channel``."""

    def __init__(self, what: str, expected: str, missing_file: str, missing_url: str):
        self.what = what
        self.expected = expected
        self.missing_file = missing_file  # formatted with location
        self.missing_url = missing_url  # formatted with url


_MANIFEST = _Document(
    "manifest",
    "a Release manifest",
    "manifest file {location} does not exist; expected a Release manifest there",
    "manifest {url} was not found (HTTP 404); expected a published release: check release, base_url and artifact_mirror",
)


def _channel_document(channel: str) -> _Document:
    expected = f"a ReleaseChannel document (apiVersion {API_VERSION}, kind {CHANNEL_KIND}, metadata.name {channel})"
    return _Document(
        "release channel",
        "a ReleaseChannel document",
        f"channel {channel} is not published at {{location}} (no such file); expected {expected} there",
        f"channel {channel} is not published at {{url}} (HTTP 404); expected {expected} there: "
        "check the channel, base_url and artifact_mirror",
    )


def _read_file(path: str, location: str, doc: _Document = _MANIFEST) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise NotPublished(doc.missing_file.format(location=location)) from None
    except OSError as exc:
        raise ManifestError(f"{doc.what} file {location} cannot be read ({exc.strerror or exc})") from None
    return _bounded(data, location, doc)


def _bounded(data: bytes, location: str, doc: _Document = _MANIFEST) -> bytes:
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{doc.what} {location} is larger than {MAX_MANIFEST_BYTES} bytes; expected {doc.expected}")
    return data


def _http_get(url: str, validate_certs: bool, timeout: int, doc: _Document = _MANIFEST) -> bytes:
    try:
        response = open_url(url, validate_certs=validate_certs, timeout=timeout, http_agent=_HTTP_AGENT)
        try:
            data = response.read(MAX_MANIFEST_BYTES + 1)
        finally:
            response.close()
    except HTTPError as exc:
        if exc.code == 404:
            raise NotPublished(doc.missing_url.format(url=url)) from None
        raise ManifestError(f"{doc.what} {url} could not be fetched: HTTP {exc.code} {exc.reason}") from None
    except URLError as exc:
        raise ManifestError(f"{doc.what} {url} is unreachable ({exc.reason})") from None
    except (UrlsConnectionError, http.client.HTTPException, OSError, ValueError) as exc:
        raise ManifestError(f"{doc.what} {url} is unreachable ({exc})") from None
    return _bounded(data, url, doc)


def _local_path(location: str, doc: _Document = _MANIFEST) -> str:
    """The file a location that is not http(s) names: a file:// URL on this machine or a path."""
    if "://" in location:
        parts = urlsplit(location)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            raise ManifestError(
                f"{doc.what} {location!r} is not a supported location; "
                "expected an https:// (or, with allow_http, http://) or file:// URL, or a local path"
            )
        return unquote(parts.path)
    return os.path.expanduser(location)


def _read(location: str, validate_certs: bool, allow_http: bool, timeout: int, doc: _Document) -> bytes:
    if _is_http(location):
        check_url(location, f"{doc.what} URL", allow_http)
        return _http_get(location, validate_certs, timeout, doc)
    return _read_file(_local_path(location, doc), location, doc)


def read_manifest(location: str, validate_certs: bool = True, allow_http: bool = False, timeout: int = TIMEOUT) -> bytes:
    """The bytes at ``location``: an http(s) or file URL, or a local path."""
    return _read(location, validate_certs, allow_http, timeout, _MANIFEST)


# --------------------------------------------------------------------------- cache


def cache_path(cache_dir: str, url: str) -> str:
    """Cache file of a manifest URL: ``<cache_dir>/<sha256 of the URL>.yaml``."""
    return os.path.join(os.path.expanduser(cache_dir), hashlib.sha256(url.encode("utf-8")).hexdigest() + ".yaml")


def cache_get(cache_dir: str, url: str) -> bytes | None:
    try:
        with open(cache_path(cache_dir, url), "rb") as handle:
            return handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ManifestError(f"cache_dir {cache_dir} cannot be read ({exc.strerror or exc}); expected a directory") from None


def cache_put(cache_dir: str, url: str, data: bytes) -> None:
    """Store atomically, so a concurrent reader never sees half a manifest."""
    path = cache_path(cache_dir, url)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".yaml")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise ManifestError(f"cache_dir {cache_dir} is not writable ({exc.strerror or exc}); expected a directory") from None


def cache_drop(cache_dir: str, url: str) -> None:
    try:
        os.unlink(cache_path(cache_dir, url))
    except OSError:
        return


# --------------------------------------------------------------------------- load


def load_release(
    location: str,
    wanted: ReleaseId | str | None = None,
    validate_certs: bool = True,
    allow_http: bool = False,
    cache_dir: str | None = None,
    timeout: int = TIMEOUT,
) -> Release:
    """Read, parse and validate the manifest at ``location`` (and check it is ``wanted``).

    With ``cache_dir``, an http(s) manifest is read from the cache when there, and stored
    only after it validated, so nothing from a bad manifest is ever cached.
    """
    cached = bool(cache_dir) and _is_http(location)
    if cached:
        check_url(location, "manifest URL", allow_http)
        data = cache_get(cache_dir, location)
        if data is not None:
            try:
                release = parse_manifest(data, location)
                check_release_id(release, wanted)
            except ManifestError:
                cache_drop(cache_dir, location)  # damaged by hand: fetch it again
            else:
                return release
    data = read_manifest(location, validate_certs, allow_http, timeout)
    release = parse_manifest(data, location)
    check_release_id(release, wanted)
    if cached:
        cache_put(cache_dir, location, data)
    return release


# --------------------------------------------------------------------------- channels


def load_release_channel(
    channel: str,
    base_url: str = EKSD_BASE_URL,
    validate_certs: bool = True,
    allow_http: bool = False,
    timeout: int = TIMEOUT,
) -> ReleaseChannel:
    """Read and validate ``<base_url>/releasechannels/<channel>.yaml``; never cached.

    Raises :class:`NotPublished` when the channel is not there (HTTP 404 or no such file).
    """
    channel = parse_channel_id(channel)
    location = channel_url(channel, base_url)
    data = _read(location, validate_certs, allow_http, timeout, _channel_document(channel))
    return parse_release_channel(data, location, channel)


def probe_release_channels(
    base_url: str = EKSD_BASE_URL,
    validate_certs: bool = True,
    allow_http: bool = False,
    timeout: int = TIMEOUT,
    max_misses: int = DEFAULT_MAX_MISSES,
    first: str = FIRST_CHANNEL,
) -> list[ReleaseChannel]:
    """Every channel published under ``base_url``, found by reading channels upward from ``first``.

    Gaps are fine (a mirror may hold 1-24, 1-35 and 1-36 only): probing stops after ``max_misses``
    channels in a row that are not published, counted from the last one found (or from ``first``).
    Any other failure (a bad document, HTTP 500, unreachable) stops it with that error.
    """
    if isinstance(max_misses, bool) or not isinstance(max_misses, int) or max_misses < 1:
        raise ManifestError(f"max_misses is {max_misses!r}; expected a whole number of 1 or more")
    major, minor = channel_key(parse_channel_id(first))
    found: list[ReleaseChannel] = []
    misses = 0
    while misses < max_misses:
        try:
            found.append(load_release_channel(f"{major}-{minor}", base_url, validate_certs, allow_http, timeout))
            misses = 0
        except NotPublished:
            misses += 1
        minor += 1
    if not found:
        raise NotPublished(
            f"no release channel is published under {channel_url('<channel>', base_url)} "
            f"(channels {first} to {major}-{minor - 1} probed); expected at least one: "
            "check base_url and artifact_mirror, name the channels, or raise max_misses"
        )
    return found


# --------------------------------------------------------------------------- resolve


def resolve_release(options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``release`` dict for the shared options (see RELEASE_ARGUMENT_SPEC).

    A ``release_data`` option (lookups only) that is set is returned as it is: it was resolved before.
    The whole registered result of release_info is accepted too (its ``release`` is used).
    """
    release_data = options.get("release_data")
    if release_data:
        if not isinstance(release_data, Mapping):
            raise ManifestError(
                f"release_data is a {type(release_data).__name__}; expected the release dict returned by "
                "eksd.distro.release_info"
            )
        inner = release_data.get("release")
        if "artifacts" not in release_data and isinstance(inner, Mapping):
            release_data = inner
        return dict(release_data)

    def option(name: str) -> Any:
        value = options.get(name)
        return RELEASE_ARGUMENT_SPEC[name].get("default") if value is None else value

    arch, os_name, allow_http = option("arch"), option("os"), bool(option("allow_http"))
    check_platform(arch, os_name)  # fail on bad options before any fetch
    artifact_mirror = normalize_artifact_mirror(option("artifact_mirror"), allow_http)
    image_mirror = normalize_image_mirror(option("image_mirror"))
    requested = options.get("release") or None
    latest_of_channel = None
    if requested is not None and not options.get("manifest"):
        channel = parse_release_request(requested)
        if isinstance(channel, str):  # a channel: its latest release, read now (a channel is never cached)
            found = load_release_channel(
                channel, base_location(options), bool(option("validate_certs")), allow_http
            )
            options = dict(options, release=found.latest.name)
            latest_of_channel = found.name
    location, wanted = manifest_location(options)
    cache_dir = option("cache_dir")
    release = load_release(
        location,
        wanted,
        validate_certs=bool(option("validate_certs")),
        allow_http=allow_http,
        cache_dir=cache_dir,
    )
    if not _is_http(location):
        manifest_file: str | None = os.path.abspath(_local_path(location))
    else:
        manifest_file = cache_path(cache_dir, location) if cache_dir else None
    return release_facts(
        release,
        arch,
        os_name,
        artifact_mirror,
        image_mirror,
        allow_http,
        manifest_url=location,
        requested=requested,
        latest_of_channel=latest_of_channel,
        manifest_file=manifest_file,
    )
