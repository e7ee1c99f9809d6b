"""The offline test world: a mirror built from upstream sources, served to a lab of podman hosts.

Session fixtures build (or take from cache) the mirror for the release under test, bring the lab
up once and tear it down at the end, unless EKSD_KEEP_LAB=1.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RELEASE = os.environ.get("EKSD_TEST_RELEASE", "1-24-9")
CACHE = Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def pytest_configure(config):
    config.addinivalue_line("markers", "cluster: brings up a whole cluster on the lab (minutes); `make test-faults-cluster`")


def run(cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a command, capturing its output; with check, a failure shows that output."""
    proc = subprocess.run(cmd, check=False, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-6000:]}")
    return proc


def node_exec(node: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["podman", "exec", node, *cmd], check=check)


@pytest.fixture(scope="session")
def mirror_root() -> Path:
    out = run([os.environ.get("PYTHON", "python3"), str(REPO / "tools/mirror/build_mirror.py"), RELEASE])
    root = Path(out.stdout.strip().splitlines()[-1])
    assert root.is_dir(), out.stdout
    return root


@pytest.fixture(scope="session")
def manifest_path(mirror_root: Path) -> Path:
    major, minor, number = RELEASE.split("-")
    return mirror_root / f"kubernetes-{major}-{minor}" / f"kubernetes-{major}-{minor}-eks-{number}.yaml"


@pytest.fixture(scope="session")
def manifest(manifest_path: Path) -> dict:
    return yaml.safe_load(manifest_path.read_text())


def read_lab_env() -> dict:
    pairs = (line.split("=", 1) for line in (CACHE / "lab" / "lab.env").read_text().splitlines()
             if "=" in line and not line.startswith("#"))
    return {k: v for k, v in pairs}


def lab_up(mirror_root: Path, fresh: bool = False) -> str:
    """Two lab hosts, the mirror's HTTP server and the registry; with fresh, new hosts with nothing installed.
    Returns lab-up's output."""
    if fresh:
        run(["bash", str(REPO / "tools/lab/lab-down.sh")])
    return run(["bash", str(REPO / "tools/lab/lab-up.sh"), "2"], env=dict(os.environ, MIRROR_DIR=str(mirror_root))).stdout


def site_playbook(inventory: str, *extra: str, pki_dir: Path, timeout: float = 1800) -> tuple[subprocess.CompletedProcess, dict]:
    """Run site.yml for the release under test; returns the process (output without colour) and the recap:
    host -> {"ok", "changed", "unreachable", "failed"}."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(["ansible-playbook", "-i", inventory, "site.yml", "-e", f"eksd_release={RELEASE}",
                           "-e", f"eksd_pki_dir={pki_dir}", *extra], cwd=REPO, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    proc.stdout = ANSI.sub("", proc.stdout)
    recap = {host: dict(zip(("ok", "changed", "unreachable", "failed"), map(int, counts)))
             for host, *counts in RECAP.findall(proc.stdout)}
    return proc, recap


@pytest.fixture(scope="session")
def lab(mirror_root: Path) -> dict:
    """Two lab hosts, the mirror's HTTP server and the registry; yields the lab's description."""
    lab_up(mirror_root)
    lab_env = read_lab_env()
    inventory = yaml.safe_load(Path(lab_env["EKSD_LAB_INVENTORY"]).read_text())
    groups = inventory["all"]["children"]["k8s_cluster"]["children"]
    hosts = {name: h for g in groups.values() for name, h in (g.get("hosts") or {}).items() if h}
    nodes = [{"hostname": name, "container": h.get("lab_container") or h["ansible_host"], "ip": h["ip"]} for name, h in sorted(hosts.items())]
    yield {"nodes": nodes, "mirror_url": lab_env["EKSD_ARTIFACT_MIRROR"], "registry": lab_env["EKSD_IMAGE_MIRROR"],
           "inventory": lab_env["EKSD_LAB_INVENTORY"]}
    if os.environ.get("EKSD_KEEP_LAB") != "1":
        run(["bash", str(REPO / "tools/lab/lab-down.sh")], check=False)
