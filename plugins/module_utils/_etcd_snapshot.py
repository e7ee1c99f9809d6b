# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this module_utils file is internal to eksd.distro and is NOT public API.
# Use the eksd.distro.etcd_snapshot_info module instead.
"""Check an etcd snapshot file (``etcdctl snapshot save``) without etcdutl.

etcd's Snapshot RPC streams the member's bbolt database followed by the sha256 of those bytes, and
``etcdctl snapshot save`` writes the stream as is; ``etcdutl snapshot restore`` refuses a file whose
trailing hash does not match.  etcdctl 3.6 dropped ``snapshot status`` and the EKS-D etcd tarball
carries no etcdutl, so this reads the two things that make a snapshot restorable: the bbolt meta
page (magic, version, page size) and the trailing hash.  Importable on Python 3.7.
"""

from __future__ import annotations

import hashlib
import struct

# bbolt: page header (id u64, flags u16, count u16, overflow u32), then meta (magic u32, version u32,
# page size u32, ...), little-endian on every platform etcd ships for.
_PAGE_HEADER = 16
_META = struct.Struct("<III")
_BOLT_MAGIC = 0xED0CDAED
_BOLT_VERSION = 2
_META_PAGE_FLAG = 0x04
_HASH_SIZE = hashlib.sha256().digest_size
_CHUNK = 1 << 20


class SnapshotError(Exception):
    """The file is not a complete etcd snapshot; the message names the file and what is wrong."""


def check_snapshot(path: str) -> dict:
    """Return ``{"size", "db_size", "sha256", "page_size"}`` for a complete snapshot, else raise SnapshotError."""
    try:
        with open(path, "rb") as snapshot:
            header = snapshot.read(_PAGE_HEADER + _META.size)
            snapshot.seek(0, 2)
            size = snapshot.tell()
            if size <= _PAGE_HEADER + _META.size + _HASH_SIZE:
                raise SnapshotError(f"{path}: {size} bytes is too small for an etcd snapshot")
            db_size = size - _HASH_SIZE
            digest = hashlib.sha256()
            snapshot.seek(0)
            remaining = db_size
            while remaining:
                chunk = snapshot.read(min(_CHUNK, remaining))
                if not chunk:
                    raise SnapshotError(f"{path}: the file shrank while it was read")
                digest.update(chunk)
                remaining -= len(chunk)
            trailer = snapshot.read(_HASH_SIZE)
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read the snapshot: {exc.strerror or exc}") from exc

    flags = struct.unpack_from("<H", header, 8)[0]
    magic, version, page_size = _META.unpack_from(header, _PAGE_HEADER)
    if not flags & _META_PAGE_FLAG or magic != _BOLT_MAGIC:
        raise SnapshotError(f"{path}: not an etcd (bbolt) database: no bbolt meta page at the start")
    if version != _BOLT_VERSION:
        raise SnapshotError(f"{path}: bbolt version {version}, expected {_BOLT_VERSION}")
    if db_size % page_size:
        raise SnapshotError(f"{path}: {db_size} database bytes are not whole {page_size}-byte pages (truncated?)")
    if digest.digest() != trailer:
        raise SnapshotError(
            f"{path}: the trailing sha256 does not match the database; the snapshot is incomplete or corrupt"
        )
    return {"size": size, "db_size": db_size, "sha256": digest.hexdigest(), "page_size": page_size}
