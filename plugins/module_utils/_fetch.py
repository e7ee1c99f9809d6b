# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this module_utils file is internal to eksd.distro and is NOT public API.
# It may change or disappear in any release without notice; use the
# eksd.distro.release_info module or the eksd.distro.artifact/image lookups instead.
"""Read a Release manifest (local path, ``file://`` or ``http(s)://`` URL, optional cache) and
resolve the shared release options into the ``release`` dict.

``resolve_release`` is what the release_info module and the artifact/image lookups call;
``RELEASE_ARGUMENT_SPEC`` is the argument spec matching the ``release_options`` doc fragment.
Every failure is a :class:`ManifestError`.
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
    EKSD_BASE_URL,
    SUPPORTED_ARCHES,
    SUPPORTED_OSES,
    ManifestError,
    Release,
    ReleaseId,
    check_platform,
    check_release_id,
    check_url,
    normalize_artifact_mirror,
    normalize_image_mirror,
    parse_manifest,
    parse_release_id,
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


# --------------------------------------------------------------------------- where


def manifest_location(options: Mapping[str, Any]) -> tuple[str, ReleaseId | None]:
    """The manifest to read and the release it must be.

    ``manifest`` wins; otherwise the URL is derived from ``release`` under ``base_url``, or under
    ``artifact_mirror`` when only that is set (an air-gapped user has only the mirror), or under
    the EKS-D site.
    """
    release = options.get("release")
    wanted = parse_release_id(release) if release not in (None, "") else None
    manifest = options.get("manifest")
    if manifest:
        return manifest, wanted
    if wanted is None:
        raise ManifestError(
            "neither release nor manifest is set; expected a release id such as 1-24-9 or a manifest URL or path"
        )
    base = options.get("base_url") or options.get("artifact_mirror") or EKSD_BASE_URL
    return wanted.manifest_url(base), wanted


def _is_http(location: str) -> bool:
    return location[:8].lower().startswith(("http://", "https://"))


# --------------------------------------------------------------------------- read


def _read_file(path: str, location: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(f"manifest file {location} does not exist; expected a Release manifest there") from None
    except OSError as exc:
        raise ManifestError(f"manifest file {location} cannot be read ({exc.strerror or exc})") from None
    return _bounded(data, location)


def _bounded(data: bytes, location: str) -> bytes:
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"manifest {location} is larger than {MAX_MANIFEST_BYTES} bytes; expected a Release manifest"
        )
    return data


def _http_get(url: str, validate_certs: bool, timeout: int) -> bytes:
    try:
        response = open_url(url, validate_certs=validate_certs, timeout=timeout, http_agent=_HTTP_AGENT)
        try:
            data = response.read(MAX_MANIFEST_BYTES + 1)
        finally:
            response.close()
    except HTTPError as exc:
        if exc.code == 404:
            raise ManifestError(
                f"manifest {url} was not found (HTTP 404); expected a published release: "
                "check release, base_url and artifact_mirror"
            ) from None
        raise ManifestError(f"manifest {url} could not be fetched: HTTP {exc.code} {exc.reason}") from None
    except URLError as exc:
        raise ManifestError(f"manifest {url} is unreachable ({exc.reason})") from None
    except (UrlsConnectionError, http.client.HTTPException, OSError, ValueError) as exc:
        raise ManifestError(f"manifest {url} is unreachable ({exc})") from None
    return _bounded(data, url)


def read_manifest(location: str, validate_certs: bool = True, allow_http: bool = False, timeout: int = TIMEOUT) -> bytes:
    """The bytes at ``location``: an http(s) or file URL, or a local path."""
    if _is_http(location):
        check_url(location, "manifest URL", allow_http)
        return _http_get(location, validate_certs, timeout)
    if "://" in location:
        parts = urlsplit(location)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            raise ManifestError(
                f"manifest {location!r} is not a supported location; "
                "expected an https:// (or, with allow_http, http://) or file:// URL, or a local path"
            )
        return _read_file(unquote(parts.path), location)
    return _read_file(os.path.expanduser(location), location)


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


# --------------------------------------------------------------------------- resolve


def load_release(
    location: str,
    wanted: ReleaseId | None = None,
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
    location, wanted = manifest_location(options)
    release = load_release(
        location,
        wanted,
        validate_certs=bool(option("validate_certs")),
        allow_http=allow_http,
        cache_dir=option("cache_dir"),
    )
    return release_facts(release, arch, os_name, artifact_mirror, image_mirror, allow_http, manifest_url=location)
