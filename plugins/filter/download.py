# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which of the download role's artifacts the controller cache still lacks, decided in one pass.

The role fetches each artifact with get_url (checksum from the release manifest) and unpacks each
archive with unarchive, one module run per artifact each, even when the cache already holds them.
These filters read the cache in this process and return only the entries those modules could change:
an artifact whose file is missing or whose sha512 is not the manifest's, and an archive whose tree
was not (completely) unpacked from that very file. The modules then run on those alone, as before.
download_install_bundle finds each file a host needs in its unpacked archive (archives differ in
layout: etcd's binaries sit under etcd-<version>-linux-<arch>/) and names the handlers each notifies,
for one eksd.distro.file_bundle call.
"""

from __future__ import annotations

import hashlib
import os
import posixpath

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


def _regular_files(root: str) -> list[str]:
    """Every regular file under root (symbolic links left out), sorted, so the first match is always the same."""
    found = []
    for directory, _dirs, files in os.walk(root):
        found.extend(path for path in (os.path.join(directory, name) for name in files)
                     if os.path.isfile(path) and not os.path.islink(path))
    return sorted(found)


def download_install_bundle(plan, default_notify=None):
    """The plan's files to install as one eksd.distro.file_bundle call:
    {directories: [{path, mode}], files: [{path, src, mode, topics[, sha256]}]}; directories are root's, 0755, and
    each file's topics are the handler topics its entry notifies (the module reports those of the changed files).
    A file that is the artifact itself carries the manifest's sha256 (the fetch verified the file's sha512), so
    eksd.distro.file_bundle compares it on the host without hashing it on the controller first.

    A file of an archive ({src} relative to anywhere in the tree, matched at a path boundary) is looked up in
    the entry's unpacked tree; one that is not there is an error naming it, the archive and what the tree holds.
    """
    files = []
    for item in _entries(plan, ("artifact", "file", "files", "archive"), "download_install_bundle"):
        tree = _regular_files(item["extract_dir"]) if item["archive"] else []
        notify = item.get("notify", default_notify if default_notify is not None else [])
        for wanted in item["files"]:
            src = item["file"]
            if item["archive"]:
                matches = [path for path in tree if path.endswith("/" + wanted["src"])]
                if not matches:
                    held = ", ".join(os.path.relpath(path, item["extract_dir"]) for path in tree) or "nothing"
                    raise AnsibleFilterError(f"{wanted['src']} is not in {posixpath.basename(item['artifact']['url'])} "
                                             f"(unpacked in {item['extract_dir']}, which holds: {held})")
                src = matches[0]
            spec = {"path": wanted["dest"], "src": src, "mode": wanted.get("mode", "0755"), "topics": list(notify)}
            if not item["archive"] and item["artifact"].get("sha256"):
                # The manifest's digest of this very file: the controller need not hash it for every host.
                spec["sha256"] = item["artifact"]["sha256"].lower()
            files.append(spec)
    directories = list(dict.fromkeys(posixpath.dirname(f["path"]) for f in files))
    return {"directories": [{"path": d, "mode": "0755"} for d in directories], "files": files}


class FilterModule:
    def filters(self):
        return {"download_unverified": download_unverified, "download_unpack_due": download_unpack_due,
                "download_install_bundle": download_install_bundle}
