# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which of the download role's artifacts the controller cache still lacks, decided in one pass.

The role fetches each artifact with get_url (checksum from the release manifest) and unpacks each
archive with unarchive, one module run per artifact each, even when the cache already holds them.
These filters read the cache in this process and return only the entries those modules could change:
an artifact whose file is missing or whose sha512 is not the manifest's, and an archive whose tree
was not (completely) unpacked from that very file. The modules then run on those alone, as before.
"""

from __future__ import annotations

import hashlib

from ansible.errors import AnsibleFilterError

_CHUNK = 1024 * 1024


def _entries(items, fields: tuple[str, ...], name: str) -> list[dict]:
    items = list(items or [])
    for item in items:
        if not isinstance(item, dict) or any(field not in item for field in fields):
            raise AnsibleFilterError(f"{name}: every entry must be a dict with {', '.join(fields)}; got {item!r:.200}")
    return items


def _sha512(item: dict) -> str:
    digest = (item.get("artifact") or {}).get("sha512")
    if not isinstance(digest, str) or not digest:
        raise AnsibleFilterError(f"download: {item.get('file')}: the entry has no artifact.sha512 from the release manifest")
    return digest.lower()


def _file_sha512(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            digest = hashlib.sha512()
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
            return digest.hexdigest()
    except OSError:
        return None


def download_unverified(items):
    """The entries ({file, artifact: {sha512}}) whose cached file is missing or whose sha512 is not the manifest's."""
    return [item for item in _entries(items, ("file", "artifact"), "download_unverified")
            if _file_sha512(item["file"]) != _sha512(item)]


def download_unpack_due(items):
    """The archive entries ({archive, unpack_stamp, artifact: {sha512}}) whose stamp does not say their tree was
    unpacked from a file with the manifest's sha512 (the role writes the stamp after unpacking)."""
    due = []
    for item in _entries(items, ("archive", "unpack_stamp", "artifact"), "download_unpack_due"):
        if not item["archive"]:
            continue
        try:
            with open(item["unpack_stamp"], encoding="ascii") as handle:
                stamp = handle.read().strip().lower()
        except (OSError, UnicodeDecodeError):
            stamp = ""
        if stamp != _sha512(item):
            due.append(item)
    return due


class FilterModule:
    def filters(self):
        return {"download_unverified": download_unverified, "download_unpack_due": download_unpack_due}
