"""The repository holds everything its commands read: no file refers to a path outside the checkout.

A user's clone (and CI's) has nothing beside it, so a path that climbs out of the checkout (a relative
path above its root, or one built from the repository's parent) works only on a developer's machine. This
scans every text file.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".collections", ".pytest_cache", ".ruff_cache", "__pycache__", "output", ".ansible"}
TEXT_SUFFIXES = {".py", ".sh", ".yml", ".yaml", ".cfg", ".toml", ".j2", ".md", ".json", ".ini", ".txt", ""}

# A relative path that climbs: resolved against the file's own directory it must stay inside the repo.
CLIMBING_PATH = re.compile(r"(?<![\w./-])((?:\.\./)+[\w.-]+)")
# Ways code climbs out of the checkout from its root rather than from a relative path.
OUTSIDE_ROOT = [
    re.compile(r"\bREPO\.parent\b"),
    re.compile(r"\brepo\.parent\b"),
    re.compile(r"\$\{?repo\}?/\.\.(/|\"|$)"),
    re.compile(r"\$\(CURDIR\)/\.\."),
    # absolute paths of this workplace's folders beside the checkout (spelt in parts, so that this file names none)
    re.compile("/work/" + r"(?:shar" + r"ed|\.library)"),
]


def _files():
    for path in REPO.rglob("*"):
        if not path.is_file() or SKIP_DIRS.intersection(path.relative_to(REPO).parts):
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in {"Makefile", "run"}:
            yield path


def _escapes(base: Path, relative: str) -> bool:
    target = (base / relative).resolve()
    return target != REPO and REPO not in target.parents


def outside_references(path: Path) -> list:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return []
    found = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for match in CLIMBING_PATH.finditer(line):
            if _escapes(path.parent, match.group(1)):
                found.append(f"{path.relative_to(REPO)}:{lineno}: {match.group(1)}")
        for pattern in OUTSIDE_ROOT:
            if pattern.search(line):
                found.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()}")
    return found


def test_scanner_finds_a_climbing_reference(tmp_path):
    probe = REPO / "tests" / "unit" / "_probe_outside.py"
    try:
        probe.write_text('FIXTURES = "../../../beside/fixtures"\nX = REPO.parent / "beside"\n')
        assert len(outside_references(probe)) == 2
    finally:
        probe.unlink()


def test_no_file_refers_outside_the_repository():
    found = [ref for path in _files() if path.name != Path(__file__).name for ref in outside_references(path)]
    assert not found, "files that read outside the checkout:\n" + "\n".join(found)
