"""On a converged cluster, site.yml in check mode with --diff predicts no change on any host, and a run
limited by tags runs only that part (and changes nothing).

Runs unless the scenario sets EKSD_TEST_CHECK_MODE false (ha in `make test`, where `default` already runs it;
`make test-ha` sets it true)."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))
INVENTORY = Path(os.environ.get("EKSD_INVENTORY", CACHE / "lab" / "hosts.yml"))
RELEASE = os.environ.get("EKSD_TEST_RELEASE", "1-24-9")
PKI_DIR = os.environ.get("EKSD_PKI_DIR", str(CACHE / "lab" / "cluster" / "pki"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)

pytestmark = pytest.mark.skipif(os.environ.get("EKSD_TEST_CHECK_MODE", "true").lower() not in ("1", "true", "yes"),
                                reason="EKSD_TEST_CHECK_MODE is off in this scenario")


def run_site(*args: str) -> tuple[str, dict]:
    """site.yml against the lab with extra arguments: its output without colour and the recap by host."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")  # molecule forces colour; the recap is parsed
    proc = subprocess.run(["ansible-playbook", "-i", str(INVENTORY), "site.yml", *args,
                           "-e", f"eksd_release={RELEASE}", "-e", f"eksd_pki_dir={PKI_DIR}"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    output = ANSI.sub("", proc.stdout)
    recap = {host: (int(changed), int(unreachable), int(failed)) for host, _ok, changed, unreachable, failed in RECAP.findall(output)}
    assert recap, proc.stdout[-3000:]
    return output, recap


def test_check_mode_with_diff_reports_nothing_to_change():
    output, recap = run_site("--check", "--diff")
    assert {host: r for host, r in recap.items() if r != (0, 0, 0)} == {}, output[-5000:]


def tasks_by_play(output: str) -> dict:
    """Play name -> the tasks that ran in it, less fact gathering and roles' argument checks (Ansible runs both
    whatever the tags)."""
    parts = re.split(r"^PLAY \[(.+?)\] \**$", output, flags=re.M)
    plays: dict = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        tasks = [t for t in re.findall(r"^TASK \[(.+?)\] \**$", body, re.M)
                 if t != "Gathering Facts" and " : Validating arguments against arg spec " not in t]
        plays.setdefault(name, []).extend(tasks)
    return plays


def test_a_run_limited_by_tag_runs_only_that_part():
    output, recap = run_site("--tags", "addons")
    assert {host: r for host, r in recap.items() if r != (0, 0, 0)} == {}, output[-5000:]
    plays = tasks_by_play(output)
    # the checks and the artifact verification always run; of the rest, only the add-ons play does
    assert any("coredns" in task for task in plays.get("Install the cluster add-ons", [])), sorted(plays)
    for play in ("Prepare every host", "Install the container runtime", "Issue the certificates on the controller",
                 "Run etcd", "Run the control plane", "Run the kubelet and kube-proxy", "Set up the pod network"):
        assert plays.get(play, []) == [], f"{play} ran tasks under --tags addons: {plays.get(play)}"
