"""Running entry playbooks against the lab as an operator does, and reading their output.

Shared by the scenarios' tests: playbook() runs one and parses the recap; host_changes() tells the changes
made on cluster hosts from those delegated to the controller; key_material() and leaks() look for secrets
in output by value.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import subprocess
from pathlib import Path

import yaml
from test_cluster import CACHE, INVENTORY, NODES, REPO, host

PKI_DIR = Path(os.environ.get("EKSD_PKI_DIR", CACHE / "lab" / "cluster" / "pki"))
ADMIN_CONF = PKI_DIR.parent / "admin.conf"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
B64_RUN = re.compile(r"[A-Za-z0-9+/]{80,}={0,2}")
# A task result; "node1 -> localhost" is a task delegated to the controller (the PKI directory), which the
# recap counts against node1 although node1 did not change.
RESULT = re.compile(r"^changed: \[([^\]\s]+)(?: -> ([^\]\s]+))?\]", re.M)

# Every file on a host that holds a secret, printed as "<path> <base64 of the file>".
HOST_SECRETS = r"""
for f in $(find /etc/kubernetes /var/lib/kubelet/pki -name '*.key' 2>/dev/null) /etc/kubernetes/*.conf \
         /etc/kubernetes/encryption-config.yaml; do
  if [ -f "$f" ]; then echo "$f $(base64 -w0 "$f")"; fi
done
"""


def playbook(name: str, *args: str, pki_dir: Path = PKI_DIR, json_results: bool = False):
    """Run an entry playbook on the lab: (process, output without colour, {host: (changed, unreachable, failed)})."""
    # molecule forces colour; JSON results put one list item a line (cert_report's lines are parsed)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if json_results:
        env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    proc = subprocess.run(["ansible-playbook", "-i", str(INVENTORY), name, "-e", f"eksd_pki_dir={pki_dir}", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    output = ANSI.sub("", proc.stdout + proc.stderr)  # failures go to stderr where display_failed_stderr is set (molecule)
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


def key_material(pki_dir: Path = PKI_DIR) -> set[str]:
    """Every secret the lab's hosts and the controller's PKI directory hold, in the forms output could show."""
    needles: set[str] = set()
    for name in NODES:
        out = host(name).run(HOST_SECRETS)
        assert out.rc == 0, out.stderr
        for line in out.stdout.splitlines():
            _path, data = line.split(" ", 1)
            needles |= _needles_of(base64.b64decode(data).decode())
    for path in [*pki_dir.rglob("*.key"), pki_dir.parent / "admin.conf"]:
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
