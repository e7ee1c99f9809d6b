"""plugins/modules/service_ready.py: units to their state and health checks in one call, against a systemctl
stand-in that keeps unit states in a JSON file and logs every call (the module's own logic is what is tested)."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest
from ansible_collections.eksd.distro.plugins.modules import service_ready
from ansible_collections.eksd.distro.tests.unit.plugins.modules.module_harness import run_main

FAKE_SYSTEMCTL = r'''#!{python}
import json, os, sys
state_file = os.environ["FAKE_SYSTEMD_STATE"]
with open(state_file) as handle:
    units = json.load(handle)
with open(state_file + ".log", "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\n")
args = [a for a in sys.argv[1:] if a != "--"]
verb = args[0]
if verb == "show":
    props = args[1].split("=", 1)[1].split(",")
    print("\n\n".join("\n".join(f"{p}={units.get(u, {}).get(p, 'not-found' if p == 'LoadState' else '')}" for p in props)
                      for u in args[2:]))
elif verb == "daemon-reload":
    for u in units.values():
        u["NeedDaemonReload"] = "no"
        if u.get("LoadState") == "on-disk":
            u["LoadState"] = "loaded"
elif verb in ("start", "restart", "reload"):
    for u in [a for a in args[1:] if not a.startswith("-")]:
        if units[u].get("broken"):
            print(f"Job for {u}.service failed.", file=sys.stderr)
            sys.exit(1)
        units[u]["ActiveState"] = "active"
elif verb == "enable":
    for u in args[1:]:
        units[u]["UnitFileState"] = "enabled"
with open(state_file, "w") as handle:
    json.dump(units, handle)
'''

FAKE_JOURNALCTL = "#!/bin/sh\necho \"journal of $2: it said why\"\n"

RUNNING = {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled", "NeedDaemonReload": "no"}


@pytest.fixture
def systemd(tmp_path, monkeypatch):
    """A systemctl and journalctl on PATH; returns (set units, read units, read calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("systemctl", FAKE_SYSTEMCTL.replace("{python}", sys.executable)), ("journalctl", FAKE_JOURNALCTL)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    state = tmp_path / "units.json"
    monkeypatch.setenv("FAKE_SYSTEMD_STATE", str(state))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    class Systemd:
        def set(self, **units):
            state.write_text(json.dumps(units))

        def units(self):
            return json.loads(state.read_text())

        def calls(self):
            log = tmp_path / "units.json.log"
            return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []

    return Systemd()


def run_module(args: dict, check_mode: bool = False) -> dict:
    return run_main(service_ready.main, dict({"delay": 0.01}, **args), check_mode)


def test_running_units_change_nothing_and_are_checked(systemd, http_server):
    systemd.set(kubelet=dict(RUNNING))
    url = http_server.serve("/healthz", b"ok")
    result = run_module({"units": ["kubelet"], "checks": [{"url": url}]})
    assert result["changed"] is False
    assert (result["started"], result["restarted"], result["enabled"], result["daemon_reloaded"]) == ([], [], [], False)
    assert result["checks"] == [{"name": url, "tries": 1}]
    assert systemd.calls() == ["show"]  # one systemctl call on a converged host
    assert http_server.hits == ["/healthz"]


def test_new_units_are_loaded_enabled_and_started_together(systemd):
    new = {"LoadState": "on-disk", "ActiveState": "inactive", "UnitFileState": "disabled", "NeedDaemonReload": "yes"}
    systemd.set(**{"kube-apiserver": dict(new), "kube-scheduler": dict(new), "kube-controller-manager": dict(RUNNING)})
    result = run_module({"units": ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]})
    assert result["changed"] is True
    assert result["daemon_reloaded"] is True
    assert result["started"] == ["kube-apiserver", "kube-scheduler"]
    assert result["enabled"] == ["kube-apiserver", "kube-scheduler"]
    assert systemd.calls() == ["show", "daemon-reload", "show", "enable", "start"]
    assert all(unit["ActiveState"] == "active" for unit in systemd.units().values())


def test_check_mode_changes_nothing_and_skips_checks_of_units_to_start(systemd):
    systemd.set(kubelet={"LoadState": "loaded", "ActiveState": "failed", "UnitFileState": "enabled", "NeedDaemonReload": "no"})
    result = run_module({"units": ["kubelet"], "checks": [{"port": 1}]}, check_mode=True)
    assert result["changed"] is True
    assert result["started"] == ["kubelet"]
    assert result["checks"] == []
    assert systemd.calls() == ["show"]
    assert systemd.units()["kubelet"]["ActiveState"] == "failed"


def test_restarted_restarts_running_units_and_starts_stopped_ones(systemd):
    systemd.set(a=dict(RUNNING), b=dict(RUNNING, ActiveState="inactive"))
    result = run_module({"units": ["a", "b"], "state": "restarted"})
    assert (result["restarted"], result["started"]) == (["a"], ["b"])
    assert systemd.calls() == ["show", "restart", "start"]


def test_a_check_that_never_passes_names_itself_its_answer_and_the_journal(systemd):
    systemd.set(etcd=dict(RUNNING))
    result = run_module({"units": ["etcd"], "retries": 3,
                         "checks": [{"name": "etcd member health", "command": [sys.executable, "-c", "import sys; sys.exit(4)"]}]})
    assert result["failed"] is True
    assert result["msg"].startswith("service_ready: etcd member health did not pass after 3 tries 0.01 s apart (last: rc 4")
    assert "units: etcd active" in result["msg"]
    assert "journal of etcd: it said why" in result["msg"]


def test_a_check_passes_once_the_service_answers(systemd, tmp_path):
    systemd.set(svc=dict(RUNNING))
    marker = tmp_path / "tries"
    script = f"import os,sys; p={str(marker)!r}; n=int(open(p).read()) if os.path.exists(p) else 0; open(p,'w').write(str(n+1)); sys.exit(0 if n >= 2 else 1)"
    result = run_module({"units": ["svc"], "checks": [{"command": [sys.executable, "-c", script]}]})
    assert result["checks"][0]["tries"] == 3


def test_http_status_other_than_expected_is_retried_then_reported(systemd, http_server):
    systemd.set(svc=dict(RUNNING))
    url = http_server.url("/missing")
    result = run_module({"units": ["svc"], "retries": 2, "checks": [{"url": url}]})
    assert "(last: HTTP 404, expected 200)" in result["msg"]
    assert len(http_server.hits) == 2


def test_a_failed_start_reports_systemd_and_the_journal(systemd):
    systemd.set(svc=dict(RUNNING, ActiveState="inactive", broken=True))
    result = run_module({"units": ["svc"]})
    assert result["msg"].startswith("service_ready: systemctl start svc failed (rc 1): Job for svc.service failed.")
    assert "journal of svc" in result["msg"]


def test_missing_and_masked_units_are_refused(systemd):
    systemd.set(masked=dict(RUNNING, UnitFileState="masked"))
    assert run_module({"units": ["nothere"]})["msg"] == (
        "service_ready: no unit file for nothere; expected the units installed before they run"
    )
    assert "masked masked; expected units that may run" in run_module({"units": ["masked"]})["msg"]


def test_a_check_gives_exactly_one_probe(systemd):
    systemd.set(svc=dict(RUNNING))
    result = run_module({"units": ["svc"], "checks": [{"url": "http://x", "port": 1}]})
    assert "mutually exclusive" in result["msg"]
