"""Tests of the repository's tools (tools/conformance, tools/mirror): plain pytest from the checkout (`make units`).

tools/ is not part of the collection, so ansible-test's copy of the tree lacks it: the tests skip themselves there.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
for tool_dir in ("conformance", "mirror"):
    if (REPO / "tools" / tool_dir).is_dir():
        sys.path.insert(0, str(REPO / "tools" / tool_dir))
