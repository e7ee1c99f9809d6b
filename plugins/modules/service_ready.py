#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a module file that is not executable
# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: service_ready
short_description: Run systemd units and wait until their health checks pass, in one step
version_added: 0.1.0
description:
  - Brings a service's systemd units to O(state) and enables them, then waits until every health check passes
    (an HTTP endpoint, a command, a TCP port), in one module call instead of a C(systemd_service) task per unit
    and a retried task per check.
  - Reads every unit's state with one C(systemctl show); runs C(systemctl daemon-reload) only when systemd says a
    unit file changed on disk (C(NeedDaemonReload)) or a unit is not loaded yet, so a converged host is not
    reloaded on every run.
  - In check mode nothing is started or enabled; the checks run only when every unit is already running, since
    a unit that would be started cannot answer yet.
  - When a check does not pass in time, the message names the check, its last answer and the end of each unit's
    journal.
author:
  - eksd.distro maintainers (!UNKNOWN)
options:
  units:
    description: The systemd units, started together in one C(systemctl) call.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(started) starts the units that are not running; V(restarted) restarts them all; V(reloaded) reloads
        those that run and starts the others.
    type: str
    choices: [started, restarted, reloaded]
    default: started
  enabled:
    description: Enable the units, so that they start at boot.
    type: bool
    default: true
  no_block:
    description:
      - Do not wait for the start jobs to finish (members of a new etcd cluster each wait for the others); the
        checks then say when the units are ready.
    type: bool
    default: false
  checks:
    description: Health checks, run in order after the units run; each is retried until it passes.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: What the check shows in messages; by default its URL, command or port.
        type: str
      url:
        description: An HTTP(S) URL that must answer with O(checks[].status).
        type: str
      status:
        description: The HTTP status O(checks[].url) must answer with.
        type: int
        default: 200
      validate_certs:
        description: Verify the TLS certificate of O(checks[].url).
        type: bool
        default: true
      command:
        description: A command (argument list, no shell) that must exit with 0.
        type: list
        elements: str
      port:
        description: A TCP port on O(checks[].host) that must accept a connection.
        type: int
      host:
        description: The address O(checks[].port) is checked on.
        type: str
        default: 127.0.0.1
  retries:
    description: How many times a check is tried before the module fails.
    type: int
    default: 60
  delay:
    description: Seconds between two tries of a check.
    type: float
    default: 2
attributes:
  check_mode:
    description: Reports the units it would enable, start or restart and changes nothing; runs the checks only when no unit would start.
    support: full
  diff_mode:
    description: Has no diff to show.
    support: none
notes:
  - Each check gives its C(url), C(command) or C(port), exactly one.
seealso:
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Run the control plane and wait until it is healthy
  eksd.distro.service_ready:
    units: [kube-apiserver, kube-controller-manager, kube-scheduler]
    checks:
      - name: the API server's readyz
        command: [kubectl, --kubeconfig=/etc/kubernetes/admin.conf, get, --raw=/readyz]
      - url: https://127.0.0.1:10257/healthz
        validate_certs: false
      - url: https://127.0.0.1:10259/healthz
        validate_certs: false

- name: Restart the kubelet (a handler) and wait until it is healthy
  eksd.distro.service_ready:
    units: [kubelet]
    state: restarted
    checks:
      - url: http://127.0.0.1:10248/healthz

- name: Run haproxy and wait until it listens
  eksd.distro.service_ready:
    units: [haproxy]
    checks:
      - port: 6443
"""

RETURN = r"""
started:
  description: Units that were started (or would be, in check mode).
  type: list
  elements: str
  returned: always
  sample: [kubelet]
restarted:
  description: Units that were restarted or reloaded (or would be, in check mode).
  type: list
  elements: str
  returned: always
  sample: []
enabled:
  description: Units that were enabled (or would be, in check mode).
  type: list
  elements: str
  returned: always
  sample: []
daemon_reloaded:
  description: Whether C(systemctl daemon-reload) ran because a unit file changed on disk.
  type: bool
  returned: always
  sample: false
checks:
  description: Each check that ran, with how many tries it took to pass.
  type: list
  elements: dict
  returned: always
  sample: [{name: "http://127.0.0.1:10248/healthz", tries: 1}]
"""

import socket
import time
from urllib.error import HTTPError, URLError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState", "NeedDaemonReload")
_RUNNING = ("active", "activating", "reloading")
_TO_ENABLE = ("disabled", "linked", "linked-runtime")
_JOURNAL_LINES = 10


class _Systemd:
    def __init__(self, module: AnsibleModule):
        self.module = module
        self.systemctl = module.get_bin_path("systemctl", required=True)

    def run(self, *args: str) -> tuple[int, str, str]:
        return self.module.run_command([self.systemctl, *args])

    def show(self, units: list[str]) -> dict[str, dict[str, str]]:
        """Each unit's properties; ``systemctl show`` prints one block per unit, in the order asked."""
        rc, out, err = self.run("show", "--property=" + ",".join(_PROPERTIES), "--", *units)
        if rc != 0:
            self.module.fail_json(msg=f"service_ready: systemctl show {' '.join(units)} failed: {err.strip() or out.strip()}")
        blocks = out.strip().split("\n\n")
        if len(blocks) != len(units):
            self.module.fail_json(msg=f"service_ready: systemctl show gave {len(blocks)} blocks for {len(units)} units")
        states = {}
        for unit, block in zip(units, blocks):
            props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
            states[unit] = {name: props.get(name, "") for name in _PROPERTIES}
        return states

    def journal(self, units: list[str]) -> str:
        journalctl = self.module.get_bin_path("journalctl")
        if not journalctl:
            return ""
        tails = []
        for unit in units:
            rc, out, _err = self.module.run_command([journalctl, "--unit", unit, "--lines", str(_JOURNAL_LINES), "--no-pager", "--quiet"])
            if rc == 0 and out.strip():
                tails.append(f"--- {unit}, last {_JOURNAL_LINES} journal lines:\n{out.rstrip()}")
        return "\n".join(tails)

    def fail(self, msg: str, units: list[str], **extra) -> None:
        """Fail with ``msg`` followed by the end of each unit's journal, which usually says why."""
        journal = self.journal(units)
        self.module.fail_json(msg=msg + (f"\n{journal}" if journal else ""), **extra)

    def act(self, verb: str, units: list[str], no_block: bool = False) -> None:
        if not units:
            return
        args = [verb, *(["--no-block"] if no_block else []), "--", *units]
        rc, out, err = self.run(*args)
        if rc != 0:
            self.fail(f"service_ready: systemctl {verb} {' '.join(units)} failed (rc {rc}): {err.strip() or out.strip()}", units)


def _check_name(check: dict) -> str:
    if check.get("name"):
        return check["name"]
    if check.get("url"):
        return check["url"]
    if check.get("command"):
        return " ".join(check["command"])
    return f"{check['host']}:{check['port']}"


def _try(module: AnsibleModule, check: dict) -> str | None:
    """None when the check passes, else what it answered."""
    if check.get("url"):
        try:
            response = open_url(check["url"], validate_certs=check["validate_certs"], timeout=5, http_agent="eksd.distro")
            status = response.getcode()
            response.close()
        except HTTPError as exc:
            status = exc.code
        except (URLError, OSError, ValueError) as exc:
            return f"unreachable ({getattr(exc, 'reason', exc)})"
        return None if status == check["status"] else f"HTTP {status}, expected {check['status']}"
    if check.get("command"):
        rc, out, err = module.run_command(check["command"])
        return None if rc == 0 else f"rc {rc}: {(err.strip() or out.strip())[-300:]}"
    try:
        with socket.create_connection((check["host"], check["port"]), timeout=2):
            return None
    except OSError as exc:
        return f"no connection ({exc.strerror or exc})"


def _wait(module: AnsibleModule, systemd: _Systemd, units: list[str], checks: list[dict]) -> list[dict]:
    passed = []
    for check in checks:
        name = _check_name(check)
        for tries in range(1, module.params["retries"] + 1):
            answer = _try(module, check)
            if answer is None:
                passed.append({"name": name, "tries": tries})
                break
            if tries < module.params["retries"]:
                time.sleep(module.params["delay"])
        else:
            states = systemd.show(units)
            running = ", ".join(f"{unit} {states[unit]['ActiveState']}" for unit in units)
            systemd.fail(
                f"service_ready: {name} did not pass after {module.params['retries']} tries "
                f"{module.params['delay']:g} s apart (last: {answer}); units: {running}",
                units,
                checks=passed,
            )
    return passed


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "units": {"type": "list", "elements": "str", "required": True},
            "state": {"type": "str", "default": "started", "choices": ["started", "restarted", "reloaded"]},
            "enabled": {"type": "bool", "default": True},
            "no_block": {"type": "bool", "default": False},
            "checks": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str"},
                "url": {"type": "str"},
                "status": {"type": "int", "default": 200},
                "validate_certs": {"type": "bool", "default": True},
                "command": {"type": "list", "elements": "str"},
                "port": {"type": "int"},
                "host": {"type": "str", "default": "127.0.0.1"},
            }, "mutually_exclusive": [("url", "command", "port")], "required_one_of": [("url", "command", "port")]},
            "retries": {"type": "int", "default": 60},
            "delay": {"type": "float", "default": 2},
        },
        supports_check_mode=True,
    )
    units = module.params["units"]
    if not units:
        module.fail_json(msg="service_ready: units is empty; expected at least one systemd unit")
    if module.params["retries"] < 1:
        module.fail_json(msg=f"service_ready: retries is {module.params['retries']}; expected 1 or more")
    systemd = _Systemd(module)
    states = systemd.show(units)

    daemon_reloaded = False
    if any(s["NeedDaemonReload"] == "yes" or s["LoadState"] == "not-found" for s in states.values()):
        if not module.check_mode:
            rc, out, err = systemd.run("daemon-reload")
            if rc != 0:
                module.fail_json(msg=f"service_ready: systemctl daemon-reload failed: {err.strip() or out.strip()}")
            states = systemd.show(units)
        daemon_reloaded = True
    missing = [unit for unit in units if states[unit]["LoadState"] == "not-found"]
    if missing and not module.check_mode:
        module.fail_json(msg=f"service_ready: no unit file for {', '.join(missing)}; expected the units installed before they run")
    masked = [unit for unit in units if states[unit]["UnitFileState"].startswith("masked")]
    if masked:
        module.fail_json(msg=f"service_ready: {', '.join(masked)} masked; expected units that may run (systemctl unmask)")

    to_enable = [u for u in units if module.params["enabled"] and (states[u]["UnitFileState"] in _TO_ENABLE or u in missing)]
    stopped = [u for u in units if states[u]["ActiveState"] not in _RUNNING]
    state = module.params["state"]
    to_restart = [u for u in units if u not in stopped] if state != "started" else []
    result = {
        "changed": bool(to_enable or stopped or to_restart),
        "started": stopped,
        "restarted": to_restart,
        "enabled": to_enable,
        "daemon_reloaded": daemon_reloaded,
        "checks": [],
    }
    if module.check_mode:
        if not stopped and not to_restart:
            result["checks"] = _wait(module, systemd, units, module.params["checks"])
        module.exit_json(**result)

    systemd.act("enable", to_enable)
    systemd.act("restart" if state == "restarted" else "reload", to_restart)
    systemd.act("start", stopped, module.params["no_block"])
    result["checks"] = _wait(module, systemd, units, module.params["checks"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
