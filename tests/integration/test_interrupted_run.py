"""A site.yml run killed midway (SIGKILL to the whole ansible-playbook process group) is finished by running it again.

Brings a 1+1 cluster up on fresh lab hosts: several minutes, so it is marked `cluster` and runs with
`make test-faults-cluster`, not with `make test-offline`.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ANSI, RELEASE, REPO, lab_up, node_exec, site_playbook

pytestmark = pytest.mark.cluster
KILL_AT = "PLAY [Run the control plane]"


@pytest.fixture(scope="module")
def fresh_lab(lab: dict, mirror_root: Path):
    """Recreated lab hosts with nothing installed; recreated again afterwards, since this test leaves a cluster."""
    lab_up(mirror_root, fresh=True)
    yield lab
    lab_up(mirror_root, fresh=True)


def test_a_run_killed_midway_converges_when_run_again(fresh_lab, tmp_path):
    pki = tmp_path / "pki"
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    first = subprocess.Popen(["ansible-playbook", "-i", fresh_lab["inventory"], "site.yml", "-e", f"eksd_release={RELEASE}",
                              "-e", f"eksd_pki_dir={pki}"], cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
    seen = []
    try:
        for line in first.stdout:
            seen.append(ANSI.sub("", line))
            if seen[-1].startswith(KILL_AT):
                break
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    output = "".join(seen)
    assert first.returncode == -signal.SIGKILL, output[-3000:]
    assert output.splitlines()[-1].startswith(KILL_AT), f"the run ended before {KILL_AT!r}:\n{output[-3000:]}"
    control_plane = fresh_lab["nodes"][0]["container"]
    # killed after etcd started and before any API server was installed
    assert node_exec(control_plane, "systemctl", "is-active", "etcd", check=False).stdout.strip() == "active"
    assert node_exec(control_plane, "test", "-e", "/usr/local/bin/kube-apiserver", check=False).returncode != 0

    start = time.monotonic()
    second, recap = site_playbook(fresh_lab["inventory"], pki_dir=pki)
    assert second.returncode == 0, second.stdout[-6000:]
    assert all(counts["failed"] == 0 and counts["unreachable"] == 0 for counts in recap.values()), recap
    print(f"second run: {time.monotonic() - start:.0f} s, changed {recap}")

    kubectl = ["/usr/local/bin/kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"]
    node_exec(control_plane, *kubectl, "wait", "--for=condition=Ready", "node", "--all", "--timeout=300s")
    names = node_exec(control_plane, *kubectl, "get", "nodes", "-o", "name").stdout.split()
    assert sorted(names) == sorted(f"node/{node['hostname']}" for node in fresh_lab["nodes"])
