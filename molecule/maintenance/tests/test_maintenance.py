"""Maintenance playbooks on a converged lab cluster, judged by what the hosts and the API show afterwards.

cert_report.yml, renew_certs.yml and etcd_restore.yml are run as an operator would (ansible-playbook
against the lab inventory). Certificates are read back with openssl: the files on every host, the
client certificates inside kubeconfigs, and what the API server, etcd and the kubelets serve. The
tests run in file order: the certificate tests leave every certificate renewed, the restore tests
then take a snapshot, delete a namespace and restore it.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "tests"))
import lab_runs  # noqa: E402
from lab_runs import PKI_DIR, key_material, leaks  # noqa: E402
from test_cluster import ETCDCTL, GROUPS, NODES, host, kubectl  # noqa: E402

RELEASE = os.environ.get("EKSD_TEST_RELEASE", "1-24-9")
CONTROL_PLANES = sorted(GROUPS["control_plane"])
ETCD_MEMBERS = sorted(GROUPS["etcd"])
CA_FILES = {"ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"}
RESTORE_NAMESPACE = "eksd-restore-probe"

# Every host prints "<file> <serial> <notAfter>" for each certificate file it holds (the API proxy's
# health check certificate included) and each client certificate embedded in a kubeconfig.
DEPLOYED = r"""
for f in $(find /etc/kubernetes/pki /var/lib/kubelet/pki -name '*.crt' 2>/dev/null | sort) $(ls /etc/haproxy/kube-apiserver-client.pem 2>/dev/null); do
  echo "$f $(openssl x509 -noout -serial -enddate -in "$f" | cut -d= -f2 | tr '\n' ' ')"
done
for f in /etc/kubernetes/*.conf; do
  data=$(sed -n 's/^ *client-certificate-data: *//p' "$f")
  [ -n "$data" ] && echo "$f $(echo "$data" | base64 -d | openssl x509 -noout -serial -enddate | cut -d= -f2 | tr '\n' ' ')"
done
"""


def playbook(name: str, *args: str):
    """Run an entry playbook on the lab (JSON results: cert_report's lines are parsed one item a line)."""
    return lab_runs.playbook(name, *args, json_results=True)


REPORT_LINE = re.compile(r'"(/\S+(?: \([^)]*\))?): expires ([0-9-]+ [0-9:]+) UTC, (-?\d+) days left')
RESULT_HOST = re.compile(r"^(?:ok|changed): \[([^\]\s]+)")


def report(output: str) -> dict[tuple[str, str], tuple[str, int]]:
    """(host, file) -> (notAfter as printed, days left), from cert_report.yml's output."""
    lines, current = {}, None
    for line in output.splitlines():
        result, cert = RESULT_HOST.match(line), REPORT_LINE.search(line)
        if result:
            current = result.group(1)
        elif cert:
            lines[(current, cert.group(1))] = (cert.group(2), int(cert.group(3)))
    return lines


def not_after(text: str) -> dt.datetime:
    return dt.datetime.strptime(text.strip(), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=dt.timezone.utc)


def deployed() -> dict[str, tuple[str, dt.datetime]]:
    """'<host>:<file>' -> (serial, notAfter) for every certificate deployed on every node."""
    certs = {}
    for name in NODES:
        out = host(name).run(DEPLOYED)
        assert out.rc == 0, out.stderr
        for line in out.stdout.splitlines():
            path, serial, *date = line.split()
            certs[f"{name}:{path}"] = (serial, not_after(" ".join(date)))
    return certs


def served() -> dict[str, tuple[str, dt.datetime]]:
    """'<host>:<service>' -> (serial, notAfter) of the certificate each TLS endpoint presents."""
    endpoints = {}
    for name in NODES:
        endpoints[f"{name}:kubelet"] = ("127.0.0.1:10250", "")
    for name in CONTROL_PLANES:
        endpoints[f"{name}:kube-apiserver"] = ("127.0.0.1:6443", "")
    for name in ETCD_MEMBERS:  # etcd asks for a client certificate
        endpoints[f"{name}:etcd"] = ("127.0.0.1:2379", "-cert /etc/kubernetes/pki/etcd/server.crt -key /etc/kubernetes/pki/etcd/server.key")
    certs = {}
    for key, (address, client) in endpoints.items():
        out = host(key.split(":")[0]).run(
            f"openssl s_client -connect {address} {client} </dev/null 2>/dev/null | openssl x509 -noout -serial -enddate")
        assert out.rc == 0, (key, out.stderr)
        serial, date = (line.split("=", 1)[1] for line in out.stdout.splitlines())
        certs[key] = (serial, not_after(date))
    return certs


def controller() -> dict[str, x509.Certificate]:
    return {str(p.relative_to(PKI_DIR)): x509.load_pem_x509_certificate(p.read_bytes()) for p in sorted(PKI_DIR.rglob("*.crt"))}


def leaf(path: str) -> bool:
    return not path.endswith(("/pki/ca.crt", "/front-proxy-ca.crt", "/etcd/ca.crt"))


def days_from_now(when: dt.datetime) -> float:
    return (when - dt.datetime.now(dt.timezone.utc)).total_seconds() / 86400


def wait_until_healthy() -> None:
    deadline = time.monotonic() + 180
    while True:
        nodes = json.loads(kubectl("get nodes -o json", check=False).stdout or '{"items": []}')["items"]
        ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
        if len(ready) == len(NODES):
            return
        assert time.monotonic() < deadline, [n["status"]["conditions"] for n in nodes]
        time.sleep(3)


def etcd_members_healthy() -> list[str]:
    h = host(ETCD_MEMBERS[0])
    health = h.run(f"{ETCDCTL} endpoint health --cluster -w json")
    assert health.rc == 0, health.stderr
    assert all(e["health"] for e in json.loads(health.stdout))
    return sorted(m["name"] for m in json.loads(h.run(f"{ETCDCTL} member list -w json").stdout)["members"])


@pytest.fixture(scope="module")
def before() -> dict:
    """What the converged cluster runs with, before any maintenance."""
    return {"deployed": deployed(), "served": served(), "controller": controller(),
            "sa": ((PKI_DIR / "sa.key").read_bytes(), (PKI_DIR / "sa.pub").read_bytes()), "secrets": key_material()}


# --- certificates ------------------------------------------------------------------------------------------------

def test_the_report_lists_every_certificate_with_its_expiry_and_changes_nothing(before):
    proc, output, recap = playbook("cert_report.yml", "--check", "--diff")
    assert proc.returncode == 0, output[-5000:] + proc.stderr[-2000:]
    assert recap and all(r == (0, 0, 0) for r in recap.values()), recap
    lines = report(output)
    for name, cert in before["controller"].items():
        printed, _days = lines[("localhost", str(PKI_DIR / name))]
        assert printed == cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S"), name
    for key, (_serial, expiry) in before["deployed"].items():
        node, path = key.split(":", 1)
        listed = [v for (h, k), v in lines.items() if h == node and (k == path or k.startswith(path + " ("))]
        assert len(listed) == 1, (key, listed)
        assert listed[0] == (expiry.strftime("%Y-%m-%d %H:%M:%S"), int(days_from_now(expiry))), key


@pytest.mark.parametrize("bad", ["abc", "0", "-5", "3.5"])
def test_renewal_with_a_bad_number_of_days_is_refused_before_any_change(bad):
    files = {p: p.read_bytes() for p in PKI_DIR.rglob("*") if p.is_file()}
    proc, output, recap = playbook("renew_certs.yml", "-e", f"eksd_renew_within_days={bad}")
    assert proc.returncode != 0
    assert "eksd_renew_within_days must be a whole number of days greater than 0" in output, output[-3000:]
    assert f"got '{bad}'" in output, output[-3000:]
    assert set(recap) == {"localhost"}, recap  # no cluster host was reached
    assert {p: p.read_bytes() for p in PKI_DIR.rglob("*") if p.is_file()} == files


def test_renewing_every_certificate_replaces_them_everywhere_and_keeps_the_cas(before):
    # a short lifetime, so that the next test finds them all within its horizon
    # with -vvv: what it reads and writes is key material, none of which may be printed
    proc, output, recap = playbook("renew_certs.yml", "-vvv", "-e", "pki_cert_valid_days=10")
    assert proc.returncode == 0, output[-6000:] + proc.stderr[-2000:]
    assert leaks(output, before["secrets"] | key_material()) == []
    assert all(r[1:] == (0, 0) for r in recap.values()), recap
    wait_until_healthy()
    assert etcd_members_healthy() == ETCD_MEMBERS

    after = controller()
    assert set(after) == set(before["controller"])
    for name, cert in after.items():
        old = before["controller"][name]
        if name in CA_FILES:
            assert cert == old, f"CA {name} changed"
        else:
            assert cert.serial_number != old.serial_number, name
            assert cert.public_key().public_numbers() == old.public_key().public_numbers(), f"{name}: the key is kept"
            assert 9.9 < days_from_now(cert.not_valid_after_utc) <= 10, name
    assert ((PKI_DIR / "sa.key").read_bytes(), (PKI_DIR / "sa.pub").read_bytes()) == before["sa"]

    for certs in (deployed(), served()):
        for key, (serial, expiry) in certs.items():
            if leaf(key):
                old = before["deployed"].get(key) or before["served"][key]
                assert serial != old[0], f"{key} still has serial {serial}"
                assert 9.9 < days_from_now(expiry) <= 10, (key, expiry)
            else:
                assert (serial, expiry) == before["deployed"][key], f"CA {key} changed"


def test_the_report_shows_the_short_lifetimes():
    proc, output, _recap = playbook("cert_report.yml")
    assert proc.returncode == 0, output[-3000:]
    lines = report(output)
    assert len(lines) == len(controller()) + len(deployed())
    for (node, path), (_printed, left) in lines.items():
        assert left in (9, 10) or not leaf(path), (node, path, left)


def test_renewing_within_n_days_renews_the_certificates_that_expire_by_then():
    short = deployed()
    proc, output, recap = playbook("renew_certs.yml", "-e", "eksd_renew_within_days=30")
    assert proc.returncode == 0, output[-6000:] + proc.stderr[-2000:]
    wait_until_healthy()
    for certs in (deployed(), served()):
        for key, (serial, expiry) in certs.items():
            if leaf(key):
                assert 364 < days_from_now(expiry) <= 365, (key, expiry)
                assert key not in short or serial != short[key][0], key


def test_renewing_within_n_days_leaves_certificates_that_expire_later_alone():
    current, current_served = deployed(), served()
    proc, output, recap = playbook("renew_certs.yml", "-e", "eksd_renew_within_days=30")
    assert proc.returncode == 0, output[-6000:] + proc.stderr[-2000:]
    assert all(r == (0, 0, 0) for r in recap.values()), recap
    assert deployed() == current
    assert served() == current_served


# --- etcd restore --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def snapshot() -> Path:
    """A snapshot from etcd_backup.yml, taken while RESTORE_NAMESPACE (with a ConfigMap) exists; then the namespace is deleted."""
    kubectl(f"create namespace {RESTORE_NAMESPACE}")
    kubectl(f"-n {RESTORE_NAMESPACE} create configmap marker --from-literal=taken=before-restore")
    proc, output, _recap = playbook("etcd_backup.yml")
    assert proc.returncode == 0, output[-5000:] + proc.stderr[-2000:]
    path = Path(re.search(r"copy on the controller: (\S+\.db)", output).group(1))
    assert path.is_file()
    kubectl(f"delete namespace {RESTORE_NAMESPACE} --wait=true --timeout=180s")
    assert kubectl(f"get namespace {RESTORE_NAMESPACE}", check=False).rc != 0
    return path


def cluster_state() -> dict:
    """What a refused restore must leave as it was: API server and etcd start times, etcd data."""
    state = {}
    for name in CONTROL_PLANES:
        state[f"{name}:kube-apiserver"] = host(name).run("systemctl show -p ActiveEnterTimestamp kube-apiserver").stdout
    for name in ETCD_MEMBERS:
        h = host(name)
        state[f"{name}:etcd"] = h.run("systemctl show -p ActiveEnterTimestamp etcd").stdout
        state[f"{name}:etcd-dirs"] = h.run("ls -d /var/lib/etcd*").stdout
    return state


def _missing_snapshot(tmp_path):
    return tmp_path / "no-such-snapshot.db", "got '{}', which is not a file"


def _garbage_snapshot(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(64 * 1024))
    return garbage, "eksd_etcd_snapshot {} is not a restorable etcd snapshot"


@pytest.mark.parametrize("bad_snapshot", [_missing_snapshot, _garbage_snapshot], ids=["missing", "not-a-snapshot"])
def test_a_restore_from_a_bad_snapshot_is_refused_before_any_change(tmp_path, bad_snapshot):
    state = cluster_state()
    path, message = bad_snapshot(tmp_path)
    proc, output, recap = playbook("etcd_restore.yml", "-e", f"eksd_release={RELEASE}", "-e", f"eksd_etcd_snapshot={path}",
                                   "-e", "eksd_etcd_restore_confirmed=true")
    assert proc.returncode != 0
    assert message.format(path) in output, output[-3000:]
    assert set(recap) == {"localhost"}, recap
    assert cluster_state() == state


def test_a_restore_that_is_not_confirmed_is_refused(snapshot):
    state = cluster_state()
    proc, output, recap = playbook("etcd_restore.yml", "-e", f"eksd_release={RELEASE}", "-e", f"eksd_etcd_snapshot={snapshot}")
    assert proc.returncode != 0
    assert "The restore was not confirmed" in output, output[-3000:]
    assert set(recap) == {"localhost"}, recap
    assert cluster_state() == state


def test_a_restore_brings_back_the_deleted_namespace_and_a_healthy_cluster(snapshot):
    proc, output, recap = playbook("etcd_restore.yml", "-e", f"eksd_release={RELEASE}", "-e", f"eksd_etcd_snapshot={snapshot}",
                                   "-e", "eksd_etcd_restore_confirmed=true")
    assert proc.returncode == 0, output[-6000:] + proc.stderr[-2000:]
    assert all(r[1:] == (0, 0) for r in recap.values()), recap
    wait_until_healthy()
    assert kubectl(f"get namespace {RESTORE_NAMESPACE} -o jsonpath={{.status.phase}}").stdout == "Active"
    marker = kubectl(f"-n {RESTORE_NAMESPACE} get configmap marker -o jsonpath={{.data.taken}}").stdout
    assert marker == "before-restore"
    assert etcd_members_healthy() == ETCD_MEMBERS
    for name in ETCD_MEMBERS:
        h = host(name)
        assert h.run("ls -d /var/lib/etcd.before-restore-*").rc == 0, "the old data directory is kept"
        assert not h.file("/var/lib/etcd-restore").exists
    # the cluster works: a new object can be written and read back
    kubectl(f"-n {RESTORE_NAMESPACE} create configmap after --from-literal=written=after-restore")
    assert kubectl(f"-n {RESTORE_NAMESPACE} get configmap after -o jsonpath={{.data.written}}").stdout == "after-restore"
    kubectl(f"delete namespace {RESTORE_NAMESPACE} --wait=true --timeout=180s")
