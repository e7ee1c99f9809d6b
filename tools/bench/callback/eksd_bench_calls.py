# Callback for tools/bench_cluster.py: counts, per host, the module runs a playbook makes on the host and the tasks
# that stay on the controller. Not part of the collection; enabled only by the benchmark.
from __future__ import annotations

import collections
import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: eksd_bench_calls
    type: aggregate
    short_description: per-host module runs, for the deploy benchmark
    description:
      - Counts, per inventory host, the task results that ran a module on the host (each loop item once; a task
        delegated to another node counts for that node) and those that ran on the controller (delegated to it, or an
        action that never reaches the host such as set_fact, assert or include_*). Skipped results are not counted.
      - Writes them as JSON to the file named by the environment variable EKSD_BENCH_CALLS_FILE at the end of the run.
    requirements:
      - enabled in callbacks_enabled, with EKSD_BENCH_CALLS_FILE set
"""

# Actions that run on the controller only: they never open a connection to the host.
CONTROLLER_ACTIONS = frozenset(
    f"{prefix}{name}" for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for name in ("set_fact", "assert", "debug", "fail", "meta", "include_tasks", "import_tasks", "include_role",
                 "import_role", "include_vars", "add_host", "group_by", "validate_argument_spec", "set_stats",
                 "pause", "include", "import_playbook", "noop")
)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "eksd_bench_calls"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.host_calls: collections.Counter = collections.Counter()
        self.controller_tasks: collections.Counter = collections.Counter()
        self.by_action: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.by_address: dict[str, str] = {}

    def v2_playbook_on_play_start(self, play):
        # A delegated result names its target by address only (ansible_host): map addresses back to host names.
        inventory = play.get_variable_manager()._inventory
        for inventory_host in inventory.get_hosts():
            self.by_address.setdefault(str(inventory_host.vars.get("ansible_host", inventory_host.name)), inventory_host.name)

    def _count(self, result) -> None:
        host = result._host.get_name()
        task = result._task
        action = getattr(task, "resolved_action", None) or task.action
        items = result._result.get("results")
        runs = len([r for r in items if not r.get("skipped")]) if isinstance(items, list) else 1
        if runs == 0:
            return
        # A delegated task runs its module on the host it was delegated to: another node, or the controller.
        delegated = result._result.get("_ansible_delegated_vars") or {}
        target = host
        if delegated:
            address = str(delegated.get("ansible_host") or "")
            local = delegated.get("ansible_connection") == "local" or address in ("localhost", "127.0.0.1")
            target = "localhost" if local else self.by_address.get(address, address)
        if action in CONTROLLER_ACTIONS or target == "localhost":
            self.controller_tasks[host] += runs
        else:
            self.host_calls[target] += runs
            self.by_action[target][action] += runs

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("EKSD_BENCH_CALLS_FILE")
        if not path:
            return
        hosts = sorted(set(self.host_calls) | set(self.controller_tasks))
        with open(path, "w", encoding="utf-8") as out:
            json.dump({h: {"host_calls": self.host_calls[h], "controller_tasks": self.controller_tasks[h],
                           "by_action": dict(self.by_action[h].most_common())} for h in hosts}, out, indent=1)
