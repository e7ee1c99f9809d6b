"""On a converged cluster, site.yml in check mode with --diff predicts no change on any host, and a run
limited by tags runs only that part (and changes nothing).

Runs unless the scenario sets EKSD_TEST_CHECK_MODE false (ha in `make test`, where `default` already runs it;
`make test-ha` sets it true)."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
from lab_runs import ANSI, PKI_DIR, RECAP
from test_cluster import INVENTORY, RELEASE, REPO, env_flag

pytestmark = pytest.mark.skipif(not env_flag("EKSD_TEST_CHECK_MODE", default=True),
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
