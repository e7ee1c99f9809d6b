"""rotate_encryption_key.yml on the converged cluster, after the certificate and restore tests.

The rotation is run one step (tag) at a time, as a stopped run would be resumed: after each step every
control plane holds the expected keys, a Secret written before the rotation is readable, and the run printed
no key material (-vvv). etcd shows which key stored the Secret: the old one until the rewrite, the new one
after. A controller that still holds the old key follows the cluster while the cluster holds that key and is
refused once it is dropped. Then site.yml (the control plane part) changes nothing: no run puts an old key back.
"""
from __future__ import annotations

import base64
import os
import shutil
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "tests"))
from lab_runs import PKI_DIR, host_changes, key_material, leaks, playbook  # noqa: E402
from test_cluster import ETCDCTL, GROUPS, host, kubectl  # noqa: E402

RELEASE = os.environ.get("EKSD_TEST_RELEASE", "1-24-9")
CONTROL_PLANES = sorted(GROUPS["control_plane"])
PROBE = "eksd-rotation-probe"


def keys_on(name: str) -> list[tuple[str, str]]:
    """(name, secret) of each key of the control plane's encryption configuration, in order."""
    out = host(name).run("cat /etc/kubernetes/encryption-config.yaml")
    assert out.rc == 0, out.stderr
    providers = yaml.safe_load(out.stdout)["resources"][0]["providers"]
    return [(k["name"], k["secret"]) for p in providers for conf in p.values() if conf for k in conf.get("keys", [])]


def key_names() -> dict[str, list[str]]:
    return {name: [k for k, _secret in keys_on(name)] for name in CONTROL_PLANES}


def stored_with() -> str:
    """The prefix etcd stores the probe Secret under: k8s:enc:<provider>:v1:<key name>:"""
    out = host(CONTROL_PLANES[0]).run(f"{ETCDCTL} get /registry/secrets/default/{PROBE} --print-value-only | head -c 64 | tr -c '[:print:]' '?'")
    assert out.rc == 0, out.stderr
    return ":".join(out.stdout.split(":")[:5]) + ":"


def probe_value() -> str:
    return base64.b64decode(kubectl(f"-n default get secret {PROBE} -o jsonpath={{.data.probe}}").stdout).decode()


def rotate(step: str):
    proc, output, recap = playbook("rotate_encryption_key.yml", "-vvv", "--tags", step)
    assert proc.returncode == 0, output[-6000:]
    assert all(r[1:] == (0, 0) for r in recap.values()), recap
    assert leaks(output, key_material()) == [], step
    return output


def test_a_rotation_keeps_every_secret_readable_and_ends_on_the_new_key(tmp_path):
    kubectl(f"-n default delete secret {PROBE} --ignore-not-found")
    kubectl(f"-n default create secret generic {PROBE} --from-literal=probe=written-before")
    (old_name, old_secret), = keys_on(CONTROL_PLANES[0])
    new_name = f"key{int(old_name.removeprefix('key')) + 1}"
    provider = stored_with()
    assert provider.endswith(f":v1:{old_name}:"), provider
    old_controller = tmp_path / "old-controller"
    shutil.copytree(PKI_DIR, old_controller / "pki")

    output = rotate("encryption_add")
    assert f"New key {new_name}" in output
    assert key_names() == {name: [old_name, new_name] for name in CONTROL_PLANES}
    assert probe_value() == "written-before" and stored_with() == provider

    rotate("encryption_promote")
    assert key_names() == {name: [new_name, old_name] for name in CONTROL_PLANES}
    assert probe_value() == "written-before" and stored_with() == provider
    new_secret = dict(keys_on(CONTROL_PLANES[0]))[new_name]
    assert (PKI_DIR / "encryption.key").read_text() == base64.b64decode(new_secret).decode()
    # a controller that kept the old key follows the cluster, which still holds that key
    proc, output, _recap = playbook("playbooks/pki_check.yml", pki_dir=old_controller / "pki")
    assert proc.returncode == 0, output[-4000:]
    assert (old_controller / "pki" / "encryption.key").read_text() == base64.b64decode(new_secret).decode()
    (old_controller / "pki" / "encryption.key").write_text(base64.b64decode(old_secret).decode())

    rotate("encryption_rewrite")
    assert stored_with() == provider.replace(f":v1:{old_name}:", f":v1:{new_name}:")
    assert probe_value() == "written-before"

    rotate("encryption_drop")
    assert key_names() == {name: [new_name] for name in CONTROL_PLANES}
    assert probe_value() == "written-before"
    assert stored_with().endswith(f":v1:{new_name}:")
    # once the old key is gone from the cluster, a controller holding it is refused and changes nothing
    proc, output, _recap = playbook("playbooks/pki_check.yml", pki_dir=old_controller / "pki")
    assert proc.returncode != 0 and "encryption.key" in output and "not this cluster's" in output, output[-4000:]
    assert (old_controller / "pki" / "encryption.key").read_text() == base64.b64decode(old_secret).decode()


def test_a_run_after_the_rotation_keeps_the_new_key():
    before = {name: keys_on(name) for name in CONTROL_PLANES}
    assert all(len(keys) == 1 for keys in before.values()), before
    proc, output, _recap = playbook("site.yml", "--tags", "control_plane", "-e", f"eksd_release={RELEASE}")
    assert proc.returncode == 0, output[-6000:]
    assert host_changes(output) == [], output[-6000:]
    assert {name: keys_on(name) for name in CONTROL_PLANES} == before
    assert probe_value() == "written-before"
