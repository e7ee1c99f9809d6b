"""The pki role on the controller alone: it issues a cluster's certificates with community.crypto, and
on a second run its pki_certs_due filter finds every file current, so no certificate module runs; a
changed name, a certificate signed elsewhere, a wrong mode or a renewal make exactly those entries due.

No lab: the pki role works only in pki_dir on the controller, for hosts given an address (ip).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CERT_TASKS = ("Create the private keys", "Create the signing requests", "Sign the certificates",
              "Create the CA keys", "Create the CA signing requests", "Self-sign the CA certificates")

PLAYBOOK = """
- name: Issue the cluster's certificates on the controller
  hosts: all
  gather_facts: false
  roles:
    - role: eksd.distro.pki
"""


def run_pki(tmp_path: Path, *extra: str) -> dict:
    """Run the pki role for cp1 (control plane, etcd) and w1 (worker); the JSON callback's result."""
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                     "pki_dir": str(tmp_path / "pki"), "pki_api_endpoint": "10.1.0.10:6443"},
            "children": {
                "control_plane": {"hosts": {"cp1": {"ip": "10.1.0.10"}}},
                "etcd": {"hosts": {"cp1": {}}},
                "workers": {"hosts": {"w1": {"ip": "10.1.0.11"}}},
            },
        }
    }
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CALLBACKS_ENABLED="",
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    proc = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory.json"), str(tmp_path / "play.yml"), *extra],
                          cwd=REPO, env=env, check=False, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout)


def cert_items(result: dict) -> dict[str, dict[str, list[str]]]:
    """Per certificate task: host -> names of the entries the task ran for."""
    ran: dict[str, dict[str, list[str]]] = {}
    for play in result["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"]
            if not name.endswith(CERT_TASKS):
                continue
            key = next(t for t in CERT_TASKS if name.endswith(t))
            for host, res in task["hosts"].items():
                items = [r["item"]["name"] for r in res.get("results", []) if not r.get("skipped")]
                if items:
                    ran.setdefault(key, {}).setdefault(host, []).extend(items)
    return ran


def changed(result: dict) -> dict[str, int]:
    return {host: stats["changed"] for host, stats in result["stats"].items()}


def test_certificate_modules_run_only_for_what_is_due(tmp_path: Path):
    """One PKI through four runs (each run of the role costs ~20 s): issue, no-op, three kinds of drift, renewal."""
    pki = tmp_path / "pki"
    signed = cert_items(run_pki(tmp_path))["Sign the certificates"]
    assert "nodes/cp1/apiserver" in signed["cp1"] and "admin" in signed["cp1"], signed
    assert signed["w1"] == ["nodes/w1/kubelet-client", "nodes/w1/kubelet-server"], signed

    second = run_pki(tmp_path)
    assert cert_items(second) == {}, "a run over a current PKI ran certificate modules"
    assert changed(second) == {"cp1": 0, "w1": 0}

    # Drift: a new name for the API server, a key with another mode, and a certificate for the same key and
    # names that the cluster CA did not sign (self-signed).
    kubelet_server = (pki / "nodes/cp1/kubelet-server.crt").read_bytes()
    (pki / "nodes/w1/kubelet-server.key").chmod(0o644)
    subprocess.run(["openssl", "x509", "-req", "-in", str(pki / "admin.csr"), "-signkey", str(pki / "admin.key"),
                    "-days", "30", "-out", str(pki / "admin.crt")], check=True, capture_output=True)
    drift = cert_items(run_pki(tmp_path, "-e", '{"pki_apiserver_extra_sans": ["DNS:api.example.test"]}'))
    assert drift["Create the private keys"] == {"cp1": ["admin", "nodes/cp1/apiserver"], "w1": ["nodes/w1/kubelet-server"]}, drift
    sans = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(pki / "nodes/cp1/apiserver.crt")],
                          check=True, text=True, capture_output=True).stdout
    assert "DNS:api.example.test" in sans
    assert (pki / "nodes/w1/kubelet-server.key").stat().st_mode & 0o777 == 0o600
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(pki / "ca.crt"), str(pki / "admin.crt")],
                            check=False, text=True, capture_output=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert (pki / "nodes/cp1/kubelet-server.crt").read_bytes() == kubelet_server

    renewal = run_pki(tmp_path, "-e", '{"pki_apiserver_extra_sans": ["DNS:api.example.test"], "pki_renew_within_days": 100000}')
    signed = cert_items(renewal)["Sign the certificates"]
    # every certificate: the 8 the cluster shares (api-proxy included) and cp1's 5; w1's 2
    assert len(signed["cp1"]) == 13 and len(signed["w1"]) == 2, signed
    assert changed(renewal)["w1"] > 0
