"""Lab hosts reach the mirror and the registry the way an air-gapped site's hosts would."""
from __future__ import annotations

import hashlib

import yaml
from conftest import lab_up, node_exec, run


def test_hosts_run_systemd_and_reach_each_other(lab):
    nodes = lab["nodes"]
    assert len(nodes) == 2
    for node in nodes:
        state = node_exec(node["container"], "systemctl", "is-system-running", check=False).stdout.strip()
        assert state in ("running", "degraded"), (node, state)
    first, second = nodes
    for target in (second["ip"], second["hostname"]):
        out = node_exec(first["container"], "ping", "-c", "2", "-W", "2", target)
        assert " 0% packet loss" in out.stdout


def test_manifest_is_served_to_the_hosts_over_http(lab, manifest_path, mirror_root):
    rel = manifest_path.relative_to(mirror_root).as_posix()
    out = node_exec(lab["nodes"][0]["container"], "curl", "-fsS", f"{lab['mirror_url']}/{rel}")
    assert yaml.safe_load(out.stdout) == yaml.safe_load(manifest_path.read_text())


def test_hosts_download_an_artifact_and_check_its_digest(lab, manifest, mirror_root):
    comp = next(c for c in manifest["status"]["components"] if c["name"] == "etcd")
    asset = next(a for a in comp["assets"] if a["type"] == "Archive")
    url = asset["archive"]["uri"].replace("https://distro.eks.amazonaws.com", lab["mirror_url"])
    node = lab["nodes"][1]["container"]
    node_exec(node, "curl", "-fsS", "-o", "/tmp/etcd.tgz", url)
    out = node_exec(node, "sha512sum", "/tmp/etcd.tgz").stdout.split()[0]
    assert out == asset["archive"]["sha512"]


def test_a_corrupted_artifact_in_the_mirror_fails_get_url_checksum(lab, manifest, mirror_root, tmp_path):
    """What the roles rely on: get_url with the manifest's checksum refuses a tampered file."""
    comp = next(c for c in manifest["status"]["components"] if c["name"] == "kubernetes")
    asset = next(a for a in comp["assets"] if a["name"].endswith("/kube-scheduler"))
    bad = mirror_root / "corrupted-for-test" / "kube-scheduler"
    bad.parent.mkdir(exist_ok=True)
    data = bytearray((mirror_root / asset["archive"]["uri"].split("distro.eks.amazonaws.com/", 1)[1]).read_bytes())
    data[-1000] ^= 0x55
    bad.write_bytes(bytes(data))
    assert hashlib.sha512(bytes(data)).hexdigest() != asset["archive"]["sha512"]
    node = lab["nodes"][0]
    try:
        proc = run(["ansible", node["hostname"], "-i", lab["inventory"], "-m",
                    "ansible.builtin.get_url", "-a",
                    f"url={lab['mirror_url']}/corrupted-for-test/kube-scheduler dest=/tmp/kube-scheduler "
                    f"checksum=sha512:{asset['archive']['sha512']}"], check=False)
    finally:
        bad.unlink()
        bad.parent.rmdir()
    assert proc.returncode != 0
    assert "did not match" in proc.stdout or "mismatch" in proc.stdout.lower(), proc.stdout
    assert node_exec(node["container"], "test", "-e", "/tmp/kube-scheduler", check=False).returncode != 0


CONTAINERD_WITH_MIRROR = r"""
set -euo pipefail
registry=$1
if ! command -v containerd >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd >/dev/null
fi
mkdir -p /etc/containerd/certs.d/public.ecr.aws
containerd config default | sed -e 's/SystemdCgroup = false/SystemdCgroup = true/' \
    -e 's|config_path = ""|config_path = "/etc/containerd/certs.d"|' > /etc/containerd/config.toml
printf 'server = "https://public.ecr.aws"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
    "$registry" > /etc/containerd/certs.d/public.ecr.aws/hosts.toml
systemctl restart containerd
for _ in $(seq 50); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
"""


def test_images_pull_through_the_registry_mirror_with_containerd(lab, manifest):
    images = {a["name"]: a["image"] for c in manifest["status"]["components"] for a in c["assets"]
              if a["type"] == "Image" and a["name"] in ("pause-image", "coredns-image")}
    assert set(images) == {"pause-image", "coredns-image"}
    node = lab["nodes"][0]["container"]
    run(["podman", "exec", "-i", node, "bash", "-s", lab["registry"]], input=CONTAINERD_WITH_MIRROR)
    for image in images.values():
        node_exec(node, "ctr", "-n", "k8s.io", "images", "rm", image["uri"], check=False)
        node_exec(node, "ctr", "-n", "k8s.io", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", image["uri"])
    listed = node_exec(node, "ctr", "-n", "k8s.io", "images", "ls").stdout
    for image in images.values():
        line = next(row for row in listed.splitlines() if row.startswith(image["uri"] + " "))
        assert image["imageDigest"] in line, line
    out = node_exec(node, "ctr", "-n", "k8s.io", "run", "--rm", "--runc-systemd-cgroup", "--cgroup",
                    "system.slice:eksd-test:coredns-version", images["coredns-image"]["uri"], "eksd-test-coredns",
                    "/coredns", "-version")
    assert "CoreDNS-" + next(c["gitTag"] for c in manifest["status"]["components"] if c["name"] == "coredns").lstrip("v") \
        in out.stdout


def test_lab_up_makes_anew_a_node_that_podman_lists_as_running_but_does_not_run(lab, mirror_root):
    """A machine restored from a snapshot (or restarted with /run on disk) keeps podman's record of running nodes
    whose processes are gone; podman cannot exec in them or start them. CI met that state; lab-up must recover."""
    node = lab["nodes"][1]["container"]
    conmon, init = (run(["podman", "inspect", node, "--format", f"{{{{.State.{key}}}}}"]).stdout.strip()
                    for key in ("ConmonPid", "Pid"))
    # conmon is frozen first, so it cannot report the init's death to podman; then both die.
    run(["kill", "-STOP", conmon])
    run(["kill", "-KILL", init])
    run(["kill", "-KILL", conmon])
    assert run(["podman", "inspect", node, "--format", "{{.State.Status}}"]).stdout.strip() == "running"
    assert node_exec(node, "true", check=False).returncode != 0
    out = lab_up(mirror_root)
    assert f"removed {node} (podman lists it as running, but it does not run" in out, out
    state = node_exec(node, "systemctl", "is-system-running", check=False).stdout.strip()
    assert state in ("running", "degraded"), state
