# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this module_utils file is internal to eksd.distro and is NOT public API.
# Use the eksd.distro.upgrade_refusals filter instead.
"""Whether a cluster may be upgraded to a release: the version rules, as pure functions.

Kubernetes and etcd both move one minor version at a time and never back: each running version
(reported by the API or by a binary on a host) must be no newer than the target, and at most one
minor version older.  Suffixes such as ``-eks-1-24-9`` are ignored; only ``major.minor.patch`` is
compared.  Importable on Python 3.7.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple:
    """``v1.24.7-eks-1-24-9`` -> ``(1, 24, 7)``; ValueError names the text when it is not a version."""
    match = _VERSION.match(str(text).strip())
    if not match:
        raise ValueError(f"'{text}' is not a version (expected vMAJOR.MINOR.PATCH)")
    return tuple(int(part) for part in match.groups())


def _show(version: tuple) -> str:
    return "v" + ".".join(str(part) for part in version)


def upgrade_refusals(running: Iterable[Mapping[str, Any]], targets: Mapping[str, str]) -> list:
    """Return why the cluster must not move to ``targets``; empty when it may.

    ``running``: ``{"component": "kube-apiserver", "kind": "kubernetes", "where": "node1 (API)",
    "version": "v1.24.6"}`` for everything that runs now; ``kind`` picks the target version from
    ``targets`` (``{"kubernetes": "v1.24.7", "etcd": "v3.5.6"}``).
    """
    refusals = []
    parsed = {}
    for kind, text in targets.items():
        try:
            parsed[kind] = parse_version(text)
        except ValueError as exc:
            refusals.append(f"the target release's {kind} version: {exc}")
    by_kind: dict = {}
    for item in running:
        where = f"{item.get('component')} on {item.get('where')}"
        kind = item.get("kind")
        if kind not in targets:
            refusals.append(f"{where}: no target version for '{kind}' (expected one of {sorted(targets)})")
            continue
        try:
            version = parse_version(item.get("version", ""))
        except ValueError as exc:
            refusals.append(f"{where}: {exc}")
            continue
        by_kind.setdefault(kind, []).append((version, where))

    for kind, found in sorted(by_kind.items()):
        target = parsed.get(kind)
        if target is None:
            continue
        newer = [f"{where} runs {_show(version)}" for version, where in found if version > target]
        if newer:
            refusals.append(
                f"downgrade: the target {kind} version {_show(target)} is older than what runs now "
                f"({'; '.join(newer)}); downgrades are not supported (restore an etcd snapshot instead)"
            )
        other_major = [f"{where} runs {_show(version)}" for version, where in found if version[0] != target[0]]
        if other_major:
            refusals.append(
                f"major version change: the target {kind} version is {_show(target)} "
                f"({'; '.join(other_major)}); only upgrades within major version {target[0]} are supported"
            )
            continue
        lagging = [f"{where} runs {_show(version)}" for version, where in found if version[1] < target[1] - 1]
        if lagging:
            refusals.append(
                f"skipped minor version: the target {kind} version {_show(target)} is more than one minor version "
                f"ahead ({'; '.join(lagging)}); upgrade to {target[0]}.{target[1] - 1} first, one minor at a time"
            )
    return refusals
