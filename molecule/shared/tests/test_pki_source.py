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
import binascii
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from test_cluster import CACHE, GROUPS, INVENTORY, NODES, REPO, container, host, kubectl

pytestmark = pytest.mark.skipif(os.environ.get("MOLECULE_SCENARIO_NAME", "default") != "default",
                                reason="second-controller and secret-output checks run in the default scenario only "
                                       "(they run site.yml again; once is enough)")

RELEASE = os.environ.get("EKSD_TEST_RELEASE", "1-24-9")
PKI_DIR = Path(os.environ.get("EKSD_PKI_DIR", CACHE / "lab" / "cluster" / "pki"))
ADMIN_CONF = PKI_DIR.parent / "admin.conf"
FIRST_CP = sorted(GROUPS["control_plane"])[0]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
B64_RUN = re.compile(r"[A-Za-z0-9+/]{80,}={0,2}")
# A task result; "node1 -> localhost" is a task delegated to the controller (the PKI directory), which the
# recap counts against node1 although node1 did not change.
RESULT = re.compile(r"^changed: \[([^\]\s]+)(?: -> ([^\]\s]+))?\]", re.M)
CA_FILES = ["/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/front-proxy-ca.crt", "/etc/kubernetes/pki/etcd/ca.crt",
            "/etc/kubernetes/pki/sa.pub", "/etc/kubernetes/encryption-config.yaml"]
PROBE = "eksd-pki-probe"

# Every file on a host that holds a secret, printed as "<path> <base64 of the file>".
HOST_SECRETS = r"""
for f in $(find /etc/kubernetes /var/lib/kubelet/pki -name '*.key' 2>/dev/null) /etc/kubernetes/*.conf \
         /etc/kubernetes/encryption-config.yaml; do
  if [ -f "$f" ]; then echo "$f $(base64 -w0 "$f")"; fi
done
"""


def playbook(name: str, *args: str, pki_dir: Path = PKI_DIR):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(["ansible-playbook", "-i", str(INVENTORY), name, "-e", f"eksd_pki_dir={pki_dir}", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    output = ANSI.sub("", proc.stdout + proc.stderr)
    recap = {h: (int(c), int(u), int(f)) for h, _ok, c, u, f in RECAP.findall(output)}
    return proc, output, recap


def host_changes(output: str) -> list[str]:
    """The changed task results that ran on a cluster host (not delegated to the controller)."""
    return [m.group(0) for m in RESULT.finditer(output) if (m.group(2) or m.group(1)) != "localhost"]


def _needles_of(text: str) -> set[str]:
    """What of a secret file could show up in output: the file as slurp returns it, each PEM body line, embedded data."""
    found = {base64.b64encode(text.encode()).decode()}
    found |= {line.strip() for line in text.splitlines() if len(line.strip()) >= 40 and "-----" not in line}
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if isinstance(doc, dict):
        for user in doc.get("users") or []:
            data = (user.get("user") or {}).get("client-key-data")
            if data:
                found.add(data)
                found |= _needles_of(base64.b64decode(data).decode())
        for resource in doc.get("resources") or []:
            for provider in resource.get("providers") or []:
                for conf in provider.values():
                    for key in (conf or {}).get("keys") or []:
                        found |= {key["secret"], base64.b64decode(key["secret"]).decode()}
    return {n for n in found if len(n) >= 16}


@pytest.fixture(scope="module")
def secrets() -> set[str]:
    needles: set[str] = set()
    for name in NODES:
        out = host(name).run(HOST_SECRETS)
        assert out.rc == 0, out.stderr
        for line in out.stdout.splitlines():
            _path, data = line.split(" ", 1)
            needles |= _needles_of(base64.b64decode(data).decode())
    for path in [*PKI_DIR.rglob("*.key"), ADMIN_CONF]:
        needles |= _needles_of(path.read_text())
    assert len(needles) > 20, "found too few secrets to look for"
    return needles


def leaks(output: str, needles: set[str]) -> list[str]:
    """What in the output is key material (described, never quoted in full)."""
    found = [f"a PEM block at offset {m.start()}" for m in PEM_PRIVATE.finditer(output)]
    found += [f"a token at offset {m.start()}" for m in JWT.finditer(output)]
    found += [f"secret {n[:6]}... at offset {output.find(n)}" for n in needles if n in output]
    for m in B64_RUN.finditer(output):
        try:
            decoded = base64.b64decode(m.group(0) + "=" * (-len(m.group(0)) % 4)).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue
        if PEM_PRIVATE.search(decoded) or "client-key-data" in decoded:
            found.append(f"base64 of key material at offset {m.start()}")
    return found


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
