"""plugins/module_utils/_etcd_snapshot.py: a complete snapshot passes, each way of being broken names the file.

The files are built the way etcd lays them out (bbolt meta pages, then the sha256 of the database); a real
snapshot from a running cluster is checked by the etcd_backup and upgrade scenarios.
"""

from __future__ import annotations

import hashlib
import struct

import pytest
from ansible_collections.eksd.distro.plugins.module_utils._etcd_snapshot import SnapshotError, check_snapshot

PAGE = 4096


def bolt_db(pages: int = 4, page_size: int = PAGE, magic: int = 0xED0CDAED, version: int = 2) -> bytes:
    meta = struct.pack("<QHHI", 0, 0x04, 0, 0) + struct.pack("<III", magic, version, page_size)
    first = meta.ljust(page_size, b"\0")
    return first + bytes(range(256)) * (page_size * (pages - 1) // 256)


def with_hash(db: bytes) -> bytes:
    return db + hashlib.sha256(db).digest()


def test_complete_snapshot(tmp_path):
    db = bolt_db()
    path = tmp_path / "snap.db"
    path.write_bytes(with_hash(db))
    assert check_snapshot(str(path)) == {
        "size": len(db) + 32,
        "db_size": len(db),
        "sha256": hashlib.sha256(db).hexdigest(),
        "page_size": PAGE,
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "too small"),
        (with_hash(bolt_db())[:-1], "not whole 4096-byte pages"),
        (bolt_db() + b"\0" * 32, "trailing sha256 does not match"),
        (with_hash(bolt_db(magic=0x12345678)), "not an etcd (bbolt) database"),
        (with_hash(bolt_db(version=1)), "bbolt version 1, expected 2"),
        (with_hash(b"x" * PAGE * 2), "not an etcd (bbolt) database"),
    ],
    ids=["empty", "truncated", "hash-mismatch", "bad-magic", "bad-version", "not-bolt"],
)
def test_broken_snapshot(tmp_path, content, message):
    path = tmp_path / "snap.db"
    path.write_bytes(content)
    with pytest.raises(SnapshotError, match=str(path)) as exc:
        check_snapshot(str(path))
    assert message in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(SnapshotError, match="cannot read the snapshot"):
        check_snapshot(str(tmp_path / "absent.db"))
