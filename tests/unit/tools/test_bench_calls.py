"""tools/bench/callback/eksd_bench_calls.py: module runs per host, apart from the tasks that stay on the controller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CALLBACKS = REPO / "tools" / "bench" / "callback"
if not CALLBACKS.is_dir():
    pytest.skip("tools/ is not in this copy of the collection", allow_module_level=True)

PLAY = [{"hosts": "all", "gather_facts": False, "tasks": [
    {"ansible.builtin.set_fact": {"seen": True}},
    {"ansible.builtin.command": "true", "changed_when": False},
    {"ansible.builtin.stat": {"path": "/{{ item }}"}, "loop": ["etc", "tmp", "no-such-dir"]},
    {"ansible.builtin.stat": {"path": "/etc"}, "loop": ["a", "b"], "when": "item == 'a'"},
    {"ansible.builtin.stat": {"path": "/etc"}, "delegate_to": "localhost"},
    {"ansible.builtin.stat": {"path": "/etc"}, "delegate_to": "{{ groups['all'][0] }}", "when": "inventory_hostname == 'h2'"},
    {"ansible.builtin.stat": {"path": "/etc"}, "when": False},
    {"ansible.builtin.include_tasks": "{{ playbook_dir }}/included.yml"},
]}]


def test_the_callback_counts_module_runs_per_host(tmp_path):
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY))
    (tmp_path / "included.yml").write_text(yaml.safe_dump([{"ansible.builtin.assert": {"that": True}}]))
    out = tmp_path / "calls.json"
    env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS), ANSIBLE_CALLBACKS_ENABLED="eksd_bench_calls",
               EKSD_BENCH_CALLS_FILE=str(out))
    proc = subprocess.run(["ansible-playbook", "-i", "h1,h2,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
                           str(tmp_path / "play.yml")], env=env, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    calls = json.loads(out.read_text())
    # command 1, stat loop 3 items, the conditional loop's 1 item run; the stat delegated to localhost is the
    # controller's; h2's stat delegated to h1 (a templated delegate_to) runs on h1
    assert calls["h1"] == {"host_calls": 6, "controller_tasks": 4,
                           "by_action": {"ansible.builtin.stat": 5, "ansible.builtin.command": 1}}
    assert calls["h2"] == {"host_calls": 5, "controller_tasks": 4,
                           "by_action": {"ansible.builtin.stat": 4, "ansible.builtin.command": 1}}
    assert set(calls) == {"h1", "h2"}
