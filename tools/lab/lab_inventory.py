"""The lab's generated inventory (tools/lab/lab-up.sh writes $EKSD_CACHE/lab/hosts.yml), read without Ansible.

For the scripts and tests that look at lab nodes directly (podman exec, testinfra): make cis, the Molecule
verifiers. Only the inventory file is read (no group_vars directories, no plugins).
"""
from __future__ import annotations

from pathlib import Path

import yaml


def load_inventory(path: Path) -> dict[str, dict]:
    """group -> {host: vars}: a host's vars with those of the groups above it (the inventory file only)."""
    doc = yaml.safe_load(path.read_text())
    groups: dict[str, set] = {}
    hostvars: dict[str, dict] = {}

    def walk(name: str, node: dict, inherited: dict) -> None:
        node = node or {}
        gvars = {**inherited, **(node.get("vars") or {})}
        for host, hvars in (node.get("hosts") or {}).items():
            groups.setdefault(name, set()).add(host)
            hostvars[host] = {**gvars, **hostvars.get(host, {}), **(hvars or {})}
        for child, sub in (node.get("children") or {}).items():
            walk(child, sub, gvars)
            groups.setdefault(name, set()).update(groups.get(child, set()))

    walk("all", doc["all"], {})
    return {g: {name: hostvars[name] for name in sorted(members)} for g, members in groups.items()}
