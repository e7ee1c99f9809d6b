"""preflight.yml publishes the per-OS decisions (eksd_platform) for the release it resolved, not before it.

The preflight role publishes eksd_platform with the host checks, before the release is known; containerd's choice
depends on the release (containerd 2 from the release files from Kubernetes 1.36). These tests run the play's own
tasks, in the file's order, on localhost with a lab node's recorded facts: the role's platform tasks first (as the
role runs them), then the play's tasks up to the last that publishes a fact the roles read, with the controller-side
release_info call replaced by its result. No lab is needed.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FACTS = REPO / "tests" / "unit" / "fixtures" / "facts"
PLAY = "Check the hosts and resolve the EKS-D release"
RESOLVE = "Resolve the EKS-D release on the controller, once per architecture in the cluster"
LAST = "Publish the per-OS decisions again with the release known"


def preflight_play() -> dict:
    plays = yaml.safe_load((REPO / "playbooks" / "preflight.yml").read_text())
    return next(play for play in plays if play.get("name") == PLAY)


def release(kubernetes_version: str) -> dict:
    return {"name": "kubernetes-x-eks-1", "kubernetes_version": kubernetes_version, "arch": "amd64",
            "components": {"etcd": {"version": "v3.5.6"}}, "artifacts": {}, "images": {}}


@pytest.mark.parametrize(("kubernetes_version", "needs_2", "method"), [
    ("v1.24.10", False, "package"),
    ("v1.35.3", False, "package"),
    ("v1.36.2", True, "archive"),
])
def test_the_platform_fact_follows_the_resolved_release(tmp_path, kubernetes_version, needs_2, method):
    source = preflight_play()
    names = [task["name"] for task in source["tasks"]]
    assert RESOLVE in names and LAST in names, names
    tasks = []
    for task in source["tasks"][:names.index(LAST) + 1]:
        if task["name"] == RESOLVE:  # the controller's manifest read, replaced by what it registers
            task = {"name": RESOLVE, "ansible.builtin.set_fact": {
                "__eksd_release": {"results": [{"item": "amd64", "release": release(kubernetes_version)}]}}}
        tasks.append({k: v for k, v in task.items() if k not in ("delegate_to", "run_once", "become")})
    facts = json.loads((FACTS / "debian-12-lab.json").read_text())
    facts.pop("_source")
    out_file = tmp_path / "platform.json"
    play = [{
        "name": "preflight's tasks in order", "hosts": "localhost", "gather_facts": False,
        "vars": {**source.get("vars", {}), **facts, "eksd_release": "x", "eksd_artifact_mirror": "http://mirror.example/",
                 "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "pre_tasks": [{"name": "The preflight role's platform tasks, run before the release is resolved",
                       "ansible.builtin.include_role": {"name": "eksd.distro.preflight", "tasks_from": "platform"}}],
        "tasks": tasks + [{"name": "Write the published fact",
                           "ansible.builtin.copy": {"content": "{{ eksd_platform | to_json }}", "dest": str(out_file),
                                                    "mode": "0600"}}]}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACKS_ENABLED="")
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)], env=env, cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    platform = json.loads(out_file.read_text())
    assert platform["containerd_needs_2"] is needs_2, platform
    assert platform["containerd_install_method"] == method, platform
