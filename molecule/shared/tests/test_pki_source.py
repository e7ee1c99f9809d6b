"""The cluster is the source of truth for its PKI, and no run prints a secret.

Only in the `default` scenario (1+1), against the converged cluster, reusing each ansible-playbook run:
  * a second controller (an empty PKI directory) runs site.yml with -vvv: it adopts the cluster's PKI,
    changes no host, the first controller's admin kubeconfig keeps working, a Secret written before
    is readable, and the output holds no key material;
  * a controller with another CA is refused before any host changes, the message naming the file and
    both fingerprints, the CA files on the hosts byte-identical;
  * cert_report.yml and etcd_backup.yml with -vvv print no key material.
Key material is looked for by value: every private key, client-key-data and encryption secret the hosts
and the controller hold (PEM lines, base64 of whole files as slurp returns them), any PEM private key
block, any base64 run that decodes to one, and service account tokens (JWTs).
"""
from __future__ import annotations

import base64
import os
import subprocess
import tempfile

import pytest
from lab_runs import ADMIN_CONF, PKI_DIR, host_changes, key_material, leaks, playbook
from test_cluster import GROUPS, NODES, container, host, kubectl

pytestmark = pytest.mark.skipif(os.environ.get("MOLECULE_SCENARIO_NAME", "default") != "default",
                                reason="second-controller and secret-output checks run in the default scenario only "
                                       "(they run site.yml again; once is enough)")

RELEASE = os.environ.get("EKSD_TEST_RELEASE", "1-24-9")
FIRST_CP = sorted(GROUPS["control_plane"])[0]
CA_FILES = ["/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/front-proxy-ca.crt", "/etc/kubernetes/pki/etcd/ca.crt",
            "/etc/kubernetes/pki/sa.pub", "/etc/kubernetes/encryption-config.yaml"]
PROBE = "eksd-pki-probe"


@pytest.fixture(scope="module")
def secrets() -> set[str]:
    return key_material()


def test_host_changes_leave_out_the_controller():
    output = "changed: [node1 -> localhost]\nchanged: [node2 -> localhost] => (item=None)\nok: [node1]\n"
    assert host_changes(output) == []
    assert host_changes(output + "changed: [node2]\nchanged: [node2 -> node1] => (item=x)\n") == [
        "changed: [node2]", "changed: [node2 -> node1]"]


def test_the_checker_finds_key_material(secrets):
    key = (PKI_DIR / "ca.key").read_text()
    assert leaks(f"ok: {key!r}", secrets)
    assert leaks(base64.b64encode(key.encode()).decode(), set())
    assert leaks(f'"content": "{base64.b64encode(ADMIN_CONF.read_bytes()).decode()}"', set())
    assert not leaks("ok: [node1] => changed=false fingerprint 01:ab", secrets)


def sha256_of(name: str, paths: list[str]) -> dict[str, str]:
    out = host(name).run("sha256sum " + " ".join(paths))
    assert out.rc == 0, out.stderr
    return {path: digest for digest, path in (line.split() for line in out.stdout.splitlines())}


def first_controller_kubectl(args: str):
    """kubectl on the first control plane with the first controller's own admin kubeconfig."""
    subprocess.run(["podman", "exec", "-i", container(FIRST_CP), "sh", "-c",
                    "umask 077; cat > /run/eksd-pki-test.conf"], input=ADMIN_CONF.read_text(), text=True, check=True)
    return host(FIRST_CP).run(f"/usr/local/bin/kubectl --kubeconfig=/run/eksd-pki-test.conf {args}")


def test_a_second_controller_adopts_the_cluster_pki_and_changes_nothing(secrets, tmp_path):
    kubectl(f"-n default delete secret {PROBE} --ignore-not-found")
    kubectl(f"-n default create secret generic {PROBE} --from-literal=probe=written-before")
    before = sha256_of(FIRST_CP, CA_FILES)

    pki = tmp_path / "pki"
    proc, output, recap = playbook("site.yml", "-vvv", "-e", f"eksd_release={RELEASE}", pki_dir=pki)
    assert proc.returncode == 0, output[-6000:]
    assert recap and all(r[1:] == (0, 0) for r in recap.values()), output[-6000:]
    assert host_changes(output) == [], output[-6000:]
    assert leaks(output, secrets) == []
    assert sha256_of(FIRST_CP, CA_FILES) == before
    # the adopted directory holds the cluster's own CAs and keys
    for name in ("ca.crt", "ca.key", "front-proxy-ca.crt", "etcd/ca.crt", "sa.key", "sa.pub", "encryption.key", "admin.key"):
        assert (pki / name).read_bytes() == (PKI_DIR / name).read_bytes(), name
    assert oct((pki / "ca.key").stat().st_mode & 0o777) == "0o600"

    out = first_controller_kubectl(f"-n default get secret {PROBE} -o jsonpath={{.data.probe}}")
    assert out.rc == 0, out.stderr
    assert base64.b64decode(out.stdout).decode() == "written-before"


def test_a_controller_with_another_ca_is_refused_before_any_change(secrets, tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pki / "ca.key"),
                    "-out", str(pki / "ca.crt"), "-days", "30", "-subj", "/CN=another-ca"], check=True, capture_output=True)
    ours = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(pki / "ca.crt")],
                          check=True, capture_output=True, text=True).stdout.split("=", 1)[1].strip()
    cluster = host(FIRST_CP).run("openssl x509 -noout -fingerprint -sha256 -in /etc/kubernetes/pki/ca.crt")
    theirs = cluster.stdout.split("=", 1)[1].strip()
    before = {name: sha256_of(name, [p for p in CA_FILES if host(name).file(p).exists]) for name in NODES}

    proc, output, recap = playbook("site.yml", "-e", f"eksd_release={RELEASE}", pki_dir=pki)
    assert proc.returncode != 0, output[-4000:]
    assert recap and host_changes(output) == [], output[-4000:]
    assert "not this cluster's" in output, output[-4000:]
    assert f"{pki}/ca.crt" in output and "/etc/kubernetes/pki/ca.crt" in output, output[-4000:]
    assert ours.lower() in output.lower() and theirs.lower() in output.lower(), output[-4000:]
    assert leaks(output, secrets) == []
    assert {name: sha256_of(name, list(files)) for name, files in before.items()} == before


@pytest.mark.parametrize("name", ["cert_report.yml", "etcd_backup.yml"])
def test_day2_playbooks_print_no_key_material(secrets, name):
    with tempfile.TemporaryDirectory() as backups:
        proc, output, _recap = playbook(name, "-vvv", "-e", f"etcd_snapshot_fetch_dir={backups}")
    assert proc.returncode == 0, output[-4000:]
    assert leaks(output, secrets) == []
