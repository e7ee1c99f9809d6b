#!/usr/bin/env python3
"""Fail when a role's defaults/main.yml and meta/argument_specs.yml disagree.

Every public input lives in defaults with a comment and is validated by the argument spec; a key in
one and not the other is either undocumented or unvalidated.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def check(role: Path) -> list[str]:
    defaults_file = role / "defaults" / "main.yml"
    spec_file = role / "meta" / "argument_specs.yml"
    problems = []
    if not spec_file.exists():
        return [f"{role.name}: meta/argument_specs.yml is missing"]
    specs = (yaml.safe_load(spec_file.read_text()) or {}).get("argument_specs", {})
    if "main" not in specs:
        return [f"{role.name}: argument_specs has no `main` entry point"]
    # a default may serve any entry point (snapshot, member_add, ...); an optional input of `main` needs one
    spec_keys = {key for entry in specs.values() for key in (entry.get("options") or {})}
    default_keys = set((yaml.safe_load(defaults_file.read_text()) or {}).keys()) if defaults_file.exists() else set()
    for key in sorted(default_keys - spec_keys):
        problems.append(f"{role.name}: {key} is in defaults/main.yml but in no entry point of meta/argument_specs.yml")
    main_options = specs["main"].get("options") or {}
    for key in sorted(set(main_options) - default_keys):
        if not main_options[key].get("required", False):
            problems.append(f"{role.name}: {key} is an optional argument without a default in defaults/main.yml")
    return problems


def main() -> int:
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir()) if (ROOT / "roles").exists() else []
    problems = [msg for role in roles for msg in check(role)]
    for msg in problems:
        print(msg, file=sys.stderr)
    print(f"argument specs: {len(roles)} roles checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
