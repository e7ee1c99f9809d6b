"""On a converged cluster, site.yml in check mode with --diff predicts no change on any host."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))
INVENTORY = Path(os.environ.get("EKSD_INVENTORY", CACHE / "lab" / "hosts.yml"))
RELEASE = os.environ.get("EKSD_TEST_RELEASE", "1-24-9")
PKI_DIR = os.environ.get("EKSD_PKI_DIR", str(CACHE / "lab" / "cluster" / "pki"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def test_check_mode_with_diff_reports_nothing_to_change():
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")  # molecule forces colour; the recap is parsed
    proc = subprocess.run(["ansible-playbook", "-i", str(INVENTORY), "site.yml", "--check", "--diff",
                           "-e", f"eksd_release={RELEASE}", "-e", f"eksd_pki_dir={PKI_DIR}"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    output = ANSI.sub("", proc.stdout)
    recap = {host: (int(changed), int(unreachable), int(failed)) for host, _ok, changed, unreachable, failed in RECAP.findall(output)}
    assert recap, proc.stdout[-3000:]
    assert {host: r for host, r in recap.items() if r != (0, 0, 0)} == {}, proc.stdout[-5000:]
