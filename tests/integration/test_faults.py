"""site.yml refuses bad input before it changes any host: a corrupted artifact, a bad inventory, an unsupported OS.

Each case runs the real site.yml against lab hosts that have nothing installed and checks the exit
status, that the message names the problem, the recap (no lab host changed) and the hosts themselves.
"""
from __future__ import annotations

import copy
import functools
import http.server
import platform
import re
import threading
from pathlib import Path

import pytest
import yaml
from conftest import lab_up, node_exec, site_playbook

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]


@pytest.fixture(scope="module")
def fresh_lab(lab: dict, mirror_root: Path) -> dict:
    """The session's lab hosts, recreated so that nothing is installed on them."""
    lab_up(mirror_root, fresh=True)
    return lab


def assert_nothing_installed(lab: dict) -> None:
    for node in lab["nodes"]:
        container = node["container"]
        package = node_exec(container, "dpkg-query", "-W", "-f=${Status}", "containerd", check=False)
        assert "ok installed" not in package.stdout, (container, package.stdout)
        for path in ("/usr/local/bin/kubelet", "/usr/local/bin/etcd", "/etc/kubernetes", "/etc/containerd"):
            assert node_exec(container, "test", "-e", path, check=False).returncode != 0, (container, path)


# A changed result and where it ran: `changed: [node1]`, or `changed: [node1 -> localhost]` when delegated.
CHANGED_RESULT = re.compile(r"^changed: \[([^\]\s]+)(?: -> ([^\]\s]+))?\]", re.M)


def assert_no_lab_host_changed(lab: dict, recap: dict, output: str) -> None:
    """No task changed a lab host. The recap counts a task delegated to the controller (the PKI check writing the
    controller's directory) against the inventory host, so the results say where each change ran."""
    hosts = {node["hostname"] for node in lab["nodes"]}
    assert hosts <= set(recap), (sorted(recap), output[-4000:])
    on_hosts = [m.group(0) for m in CHANGED_RESULT.finditer(output) if (m.group(2) or m.group(1)) in hosts]
    assert on_hosts == [], (on_hosts, output[-4000:])


class _Mirror(http.server.SimpleHTTPRequestHandler):
    requested: list[str]

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        self.requested.append(self.path)


@pytest.fixture
def corrupted_mirror(mirror_root: Path, manifest: dict, tmp_path: Path):
    """The mirror as a symlink farm served on 127.0.0.1, with the kube-proxy binary replaced by garbage.

    kube-proxy comes after other artifacts in the run's fetch order, so the controller has already
    fetched good artifacts when it meets the bad one."""
    asset = next(a for c in manifest["status"]["components"] for a in c["assets"]
                 if a["name"] == f"bin/linux/{ARCH}/kube-proxy")
    bad = asset["archive"]["uri"].split("distro.eks.amazonaws.com/", 1)[1]
    farm = tmp_path / "mirror"
    for path in mirror_root.rglob("*"):
        if path.is_file():
            link = farm / path.relative_to(mirror_root)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
    (farm / bad).unlink()
    (farm / bad).write_bytes(b"not kube-proxy\n" * 4096)
    requested: list[str] = []
    handler = functools.partial(type("Handler", (_Mirror,), {"requested": requested}), directory=str(farm))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "bad": bad, "requested": requested}
    server.shutdown()
    server.server_close()


def test_a_corrupted_artifact_stops_the_run_before_any_host_changes(fresh_lab, corrupted_mirror, tmp_path):
    cache = tmp_path / "artifacts"
    proc, recap = site_playbook(fresh_lab["inventory"], "-e", f"eksd_artifact_mirror={corrupted_mirror['url']}",
                                "-e", f"download_cache_dir={cache}", "-e", f"eksd_manifest_cache_dir={tmp_path / 'manifests'}",
                                pki_dir=tmp_path / "pki")
    out = proc.stdout
    words = " ".join(out.split())  # the callback wraps long messages
    assert proc.returncode != 0, out[-4000:]
    assert f"/{corrupted_mirror['bad']}" in corrupted_mirror["requested"]
    assert f"{corrupted_mirror['url']}/{corrupted_mirror['bad']}: its checksum does not match the release manifest" in words, \
        out[-4000:]
    assert {node["hostname"] for node in fresh_lab["nodes"]} <= set(recap), out[-3000:]
    assert_no_lab_host_changed(fresh_lab, recap, out)
    assert recap["localhost"]["failed"] == 1, recap
    assert_nothing_installed(fresh_lab)
    # the good artifacts were fetched and kept; the bad one was not kept
    assert len(list(cache.rglob("kube-apiserver"))) == 1
    assert list(cache.rglob("kube-proxy")) == []


def _without_control_plane(inv: dict) -> None:
    del inv["all"]["children"]["k8s_cluster"]["children"]["control_plane"]


def _two_etcd_members(inv: dict) -> None:
    inv["all"]["children"]["k8s_cluster"]["children"]["etcd"]["hosts"]["node2"] = None


def _shared_address(inv: dict) -> None:
    groups = inv["all"]["children"]["k8s_cluster"]["children"]
    groups["workers"]["hosts"]["node2"]["ip"] = groups["control_plane"]["hosts"]["node1"]["ip"]


@pytest.mark.parametrize(("break_inventory", "expected"), [
    (_without_control_plane, "no group control_plane"),
    (_two_etcd_members, "the etcd group has 2 member(s) (node1, node2); etcd needs an odd number"),
    (_shared_address, "hosts node1 and node2 share the node address"),
], ids=["no-control-plane-group", "even-etcd-members", "duplicate-node-address"])
def test_preflight_refuses_a_bad_inventory(fresh_lab, tmp_path, break_inventory, expected):
    inventory = copy.deepcopy(yaml.safe_load(Path(fresh_lab["inventory"]).read_text()))
    break_inventory(inventory)
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    proc, recap = site_playbook(str(path), pki_dir=tmp_path / "pki")
    assert proc.returncode != 0, proc.stdout[-4000:]
    words = " ".join(proc.stdout.split())  # the callback wraps long messages
    assert "The inventory has" in words and expected in words, proc.stdout[-4000:]
    assert set(recap) == {"localhost"}, recap  # refused on the controller: no host was even contacted
    assert_nothing_installed(fresh_lab)


@pytest.fixture
def unsupported_os_node(fresh_lab):
    """The worker made to look like Alpine Linux 3.19 (its /etc/os-release rewritten), restored afterwards."""
    container = fresh_lab["nodes"][-1]["container"]
    node_exec(container, "sh", "-c", "cp -a /etc/os-release /etc/os-release.eksd-test && rm /etc/os-release && printf '%s\\n' "
              "'NAME=\"Alpine Linux\"' ID=alpine VERSION_ID=3.19.1 'PRETTY_NAME=\"Alpine Linux v3.19\"' > /etc/os-release")
    yield fresh_lab["nodes"][-1]
    node_exec(container, "mv", "-f", "-T", "/etc/os-release.eksd-test", "/etc/os-release")
    assert "ID=debian" in node_exec(container, "cat", "/etc/os-release").stdout


def test_preflight_refuses_an_unsupported_os(fresh_lab, unsupported_os_node, tmp_path):
    proc, recap = site_playbook(fresh_lab["inventory"], pki_dir=tmp_path / "pki")
    assert proc.returncode != 0, proc.stdout[-4000:]
    words = " ".join(proc.stdout.split())
    assert f"{unsupported_os_node['hostname']} runs Alpine Linux 3.19.1 (os family" in words, proc.stdout[-4000:]
    assert "which the collection does not install on; supported: Debian 12/13" in words, proc.stdout[-4000:]
    assert_no_lab_host_changed(fresh_lab, recap, proc.stdout)
    assert_nothing_installed(fresh_lab)



def test_preflight_refuses_half_given_registry_mirror_settings(fresh_lab, tmp_path):
    proc, recap = site_playbook(fresh_lab["inventory"], "-e", "eksd_image_mirror_username=puller",
                                "-e", "eksd_image_mirror_ca=/etc/pki/registry-ca.pem", pki_dir=tmp_path / "pki")
    assert proc.returncode != 0, proc.stdout[-4000:]
    words = " ".join(proc.stdout.split())
    for expected in ("containerd_image_mirror_password (eksd_image_mirror_password) go together: one of them is empty",
                     "containerd_image_mirror_ca (eksd_image_mirror_ca) must hold a PEM certificate",
                     "a CA needs an https mirror"):
        assert expected in words, proc.stdout[-4000:]
    assert "puller" not in words.replace("eksd_image_mirror_username=puller", ""), "the account appears in the output"
    assert_no_lab_host_changed(fresh_lab, recap, proc.stdout)
    assert_nothing_installed(fresh_lab)
