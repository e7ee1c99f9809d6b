"""A registry mirror behind TLS from a private CA and basic authentication, reached through the containerd role.

A second registry on the lab's gateway serves the lab registry's storage (read-only) over https with a
certificate from a CA made here and an htpasswd account. The containerd role, given only the mirror, the CA
and the account, must let the CRI pull the release's images by their official names; its output must not
show the password. (A half-given account is refused before any host changes: tests/integration/test_faults.py.)
"""
from __future__ import annotations

import base64
import crypt  # deprecated since 3.11 (see bcrypt_hash), present until 3.13
import hashlib
import os
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import yaml
from conftest import ANSI, REPO, node_exec, read_lab_env

USER = "eksd-puller"
PASSWORD = "s3cret-" + hashlib.sha256(os.urandom(16)).hexdigest()[:16]


def free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def bcrypt_hash(password: str) -> str:
    """htpasswd wants bcrypt; Debian's libcrypt makes it (crypt is deprecated in 3.11, still present)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


@pytest.fixture(scope="module")
def tls_registry(lab, tmp_path_factory):
    """https://<gateway>:<port>, CA-signed, basic auth, over the lab registry's storage; yields its facts."""
    env = read_lab_env()
    gateway = env["EKSD_LAB_GATEWAY"]
    work = tmp_path_factory.mktemp("tls-registry")
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-sha256"]
    subprocess.run([*openssl, "-keyout", work / "ca.key", "-out", work / "ca.crt", "-subj", "/CN=eksd test registry CA",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
                   check=True, capture_output=True)
    subprocess.run([*openssl, "-keyout", work / "tls.key", "-out", work / "tls.crt", "-subj", f"/CN={gateway}",
                    "-CA", work / "ca.crt", "-CAkey", work / "ca.key", "-addext", f"subjectAltName=IP:{gateway}",
                    "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"],
                   check=True, capture_output=True)
    (work / "htpasswd").write_text(f"{USER}:{bcrypt_hash(PASSWORD)}\n")
    address = f"{gateway}:{free_port(gateway)}"
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": env["EKSD_LAB_REGISTRY_DIR"]},
                    "maintenance": {"readonly": {"enabled": True}}},
        "auth": {"htpasswd": {"realm": "eksd-test", "path": str(work / "htpasswd")}},
        "http": {"addr": address, "tls": {"certificate": str(work / "tls.crt"), "key": str(work / "tls.key")}},
    }
    (work / "config.yml").write_text(yaml.safe_dump(config))
    with open(work / "registry.log", "wb") as log:
        server = subprocess.Popen(["/usr/bin/docker-registry", "serve", str(work / "config.yml")], stdout=log, stderr=log)
    try:
        for _ in range(100):
            probe = subprocess.run(["curl", "-sS", "--noproxy", "*", "--cacert", work / "ca.crt", "-o", "/dev/null",
                                    "-w", "%{http_code}", f"https://{address}/v2/"], capture_output=True, text=True)
            if probe.stdout == "401":
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"test registry at {address} does not answer: {(work / 'registry.log').read_text()[-2000:]}")
        yield {"address": address, "ca": (work / "ca.crt").read_text(), "ca_file": work / "ca.crt"}
    finally:
        server.terminate()
        server.wait(timeout=10)


def containerd_role(lab, node: str, playbook_dir: Path, registry: dict) -> subprocess.CompletedProcess:
    """Apply eksd.distro.containerd to one lab node with the mirror settings; -v --diff."""
    play = [{"name": "containerd with an authenticated mirror", "hosts": node, "gather_facts": True,
             "roles": [{"role": "eksd.distro.containerd"}]}]
    (playbook_dir / "containerd.yml").write_text(yaml.safe_dump(play))
    settings = {
        "containerd_image_mirror": registry["address"],
        "containerd_image_mirror_http": False,
        "containerd_image_mirror_ca": registry["ca"],
        "containerd_image_mirror_username": USER,
        "containerd_image_mirror_password": PASSWORD,
        "containerd_mirrored_registries": ["public.ecr.aws"],
        "containerd_sandbox_image": "public.ecr.aws/eks-distro/kubernetes/pause:lab",
    }
    (playbook_dir / "vars.yml").write_text(yaml.safe_dump(settings))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    proc = subprocess.run(["ansible-playbook", "-i", lab["inventory"], str(playbook_dir / "containerd.yml"),
                           "-e", f"@{playbook_dir / 'vars.yml'}", "-v", "--diff"],
                          cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    proc.stdout = ANSI.sub("", proc.stdout)
    return proc


def test_containerd_pulls_through_a_private_ca_and_basic_auth_mirror(lab, manifest, tls_registry, tmp_path):
    node = lab["nodes"][0]  # test_lab.py installed containerd there already: the role only configures it
    header = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    # the registry really wants the account: anonymous requests are refused, from the node too
    anonymous = node_exec(node["container"], "curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code}",
                          "--insecure", f"https://{tls_registry['address']}/v2/", check=False)
    assert anonymous.stdout == "401", anonymous

    proc = containerd_role(lab, node["hostname"], tmp_path, tls_registry)
    assert proc.returncode == 0, proc.stdout[-4000:]
    for secret in (PASSWORD, header):
        assert secret not in proc.stdout, "the mirror credential appears in the role's output"

    hosts_toml = "/etc/containerd/certs.d/public.ecr.aws/hosts.toml"
    assert node_exec(node["container"], "stat", "-c", "%a %U", hosts_toml).stdout.split() == ["600", "root"]
    ca_path = f"/etc/containerd/certs.d/{tls_registry['address']}/ca.crt"
    assert node_exec(node["container"], "cat", ca_path).stdout.strip() == tls_registry["ca"].strip()

    images = {a["name"]: a["image"] for c in manifest["status"]["components"] for a in c["assets"]
              if a["type"] == "Image" and a["name"] in ("pause-image", "coredns-image")}
    # ctr reads hosts.toml (CA, headers) with the same code as the CRI plugin; it has no other credentials
    for image in images.values():
        node_exec(node["container"], "ctr", "-n", "k8s.io", "images", "rm", image["uri"], check=False)
        pulled = node_exec(node["container"], "ctr", "-n", "k8s.io", "images", "pull", "--hosts-dir",
                           "/etc/containerd/certs.d", image["uri"], check=False)
        assert pulled.returncode == 0, (image["uri"], pulled.stdout, pulled.stderr)
    listed = node_exec(node["container"], "ctr", "-n", "k8s.io", "images", "ls").stdout
    for image in images.values():
        line = next(row for row in listed.splitlines() if row.startswith(image["uri"] + " "))
        assert image["imageDigest"] in line, line

    # a second run changes nothing
    again = containerd_role(lab, node["hostname"], tmp_path, tls_registry)
    assert again.returncode == 0 and f"{node['hostname']}" in again.stdout
    assert " changed=0 " in next(line for line in again.stdout.splitlines() if line.startswith(node["hostname"] + " ")), \
        again.stdout[-3000:]

