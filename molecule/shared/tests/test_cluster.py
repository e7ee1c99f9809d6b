"""A converged EKS-D cluster on the lab works: checked from the hosts and through the API, not by trusting the roles.

Reads the lab inventory ($EKSD_INVENTORY, default $EKSD_CACHE/lab/hosts.yml) and the release
manifest the cluster was built from ($EKSD_TEST_RELEASE, from the offline mirror), and reaches the
hosts with testinfra's podman backend (the containers named lab_container in the inventory).
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra
import yaml

REPO = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("EKSD_CACHE", Path.home() / ".cache" / "eksd"))
INVENTORY = Path(os.environ.get("EKSD_INVENTORY", CACHE / "lab" / "hosts.yml"))
RELEASE = os.environ.get("EKSD_TEST_RELEASE", "1-24-9")


def env_flag(name: str, default: bool = False) -> bool:
    """A scenario's yes/no setting (molecule.yml env): 1, true or yes, any case."""
    return os.environ.get(name, "true" if default else "false").lower() in ("1", "true", "yes")


METRICS_SERVER = env_flag("EKSD_TEST_METRICS_SERVER")
NAMESPACE = "eksd-verify"
KUBECTL = "/usr/local/bin/kubectl --kubeconfig=/etc/kubernetes/admin.conf"
sys.path.insert(0, str(REPO / "tools" / "lab"))
from lab_inventory import load_inventory  # noqa: E402  (tools/lab is not a package)

ETCDCTL = ("/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt "
           "--cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key")


GROUPS = load_inventory(INVENTORY)
NODES = sorted(set(GROUPS.get("control_plane", {})) | set(GROUPS.get("workers", {})))


def container(name: str) -> str:
    """The lab node's podman container (the inventory's lab_container; Ansible itself reaches nodes over SSH)."""
    hvars = GROUPS["all"][name]
    return hvars.get("lab_container") or hvars.get("ansible_host", name)


def host(name: str):
    """Direct checks go through podman exec (fast, independent of SSH); Ansible runs use the inventory's connection."""
    return testinfra.get_host(f"podman://{container(name)}")


FIRST_CP = host(sorted(GROUPS["control_plane"])[0])


def kubectl(args: str, check: bool = True, stdin: str | None = None):
    cmd = f"{KUBECTL} {args}"
    if stdin is not None:
        cmd = f"printf %s {shlex.quote(stdin)} | {cmd}"
    out = FIRST_CP.run(cmd)
    if check:
        assert out.rc == 0, f"kubectl {args}: {out.stderr}{out.stdout}"
    return out


@pytest.fixture(scope="module")
def release() -> dict:
    major, minor, number = RELEASE.split("-")
    mirror = Path(subprocess.run([sys.executable, str(REPO / "tools/mirror/build_mirror.py"), RELEASE], check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1])
    doc = yaml.safe_load((mirror / f"kubernetes-{major}-{minor}" / f"kubernetes-{major}-{minor}-eks-{number}.yaml").read_text())
    return {c["name"]: c for c in doc["status"]["components"]}


def test_every_node_is_ready():
    nodes = json.loads(kubectl("get nodes -o json").stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == NODES
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", (node["metadata"]["name"], ready)


def test_every_node_runs_with_the_kernel_parameters_it_keeps_for_boot():
    """node_prep writes the kernel parameters to one file and applies it: the kernel runs what the file says, and
    the networking ones Kubernetes needs are there."""
    for name in NODES:
        node = host(name)
        kept = {}
        for line in node.file("/etc/sysctl.d/90-eksd.conf").content_string.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, value = (part.strip() for part in line.split("=", 1))
                kept[key] = " ".join(value.split())
        assert {"net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"} <= set(kept), (name, kept)
        live = node.run("sysctl -n " + " ".join(kept)).stdout.splitlines()
        assert [" ".join(v.split()) for v in live] == list(kept.values()), (name, kept, live)


def test_control_planes_are_tainted_and_workers_are_not():
    nodes = {n["metadata"]["name"]: n for n in json.loads(kubectl("get nodes -o json").stdout)["items"]}
    for name, node in nodes.items():
        taints = {t["key"] for t in node["spec"].get("taints", [])}
        assert ("node-role.kubernetes.io/control-plane" in taints) == (name in GROUPS["control_plane"]), name


def test_kube_system_pods_are_running():
    pods = json.loads(kubectl("-n kube-system get pods -o json").stdout)["items"]
    assert any(p["metadata"]["name"].startswith("coredns") for p in pods)
    for pod in pods:
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        assert all(cs["ready"] for cs in pod["status"]["containerStatuses"]), pod["metadata"]["name"]


def test_versions_match_the_release(release):
    version = release["kubernetes"]["gitTag"]
    for name in GROUPS["control_plane"]:
        h = host(name)
        for binary in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            assert h.run(f"/usr/local/bin/{binary} --version").stdout.strip() == f"Kubernetes {version}"
    server = json.loads(kubectl("version -o json").stdout)["serverVersion"]["gitVersion"]
    assert server == version
    for node in json.loads(kubectl("get nodes -o json").stdout)["items"]:
        assert node["status"]["nodeInfo"]["kubeletVersion"] == version
        assert node["status"]["nodeInfo"]["kubeProxyVersion"] in (version, "")


def test_the_cluster_lists_the_release_it_runs(release):
    """`kubectl get releases` shows the installed EKS-D release, and only that one of ours."""
    major, minor, number = RELEASE.split("-")
    items = json.loads(kubectl("get releases.distro.eks.amazonaws.com -A -o json").stdout)["items"]
    ours = [i for i in items if i["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "eksd.distro"]
    assert [i["metadata"]["name"] for i in ours] == [f"kubernetes-{major}-{minor}-eks-{number}"]
    (obj,) = ours
    assert (obj["spec"]["channel"], obj["spec"]["number"]) == (f"{major}-{minor}", int(number))
    applied = {c["name"]: c for c in obj["status"]["components"]}
    assert applied == release, "the Release object differs from the release manifest the cluster was built from"
    table = kubectl(f"-n {obj['metadata']['namespace']} get releases").stdout
    assert f"kubernetes-{major}-{minor}-eks-{number}" in table and obj["status"]["date"] in table


def test_metrics_server_serves_node_metrics_only_when_enabled(release):
    deployments = json.loads(kubectl("-n kube-system get deployments -o json").stdout)["items"]
    found = [d for d in deployments if d["metadata"]["name"] == "metrics-server"]
    if not METRICS_SERVER:
        assert not found, "metrics-server runs although eksd_metrics_server_enabled is false"
        return
    image = next(a["image"]["uri"] for a in release["metrics-server"]["assets"] if a["name"] == "metrics-server-image")
    assert found and found[0]["spec"]["template"]["spec"]["containers"][0]["image"] == image
    # the first scrape lands one metric resolution (15 s) after start; the APIService must be Available
    deadline = time.monotonic() + 180
    while True:
        out = kubectl("get --raw /apis/metrics.k8s.io/v1beta1/nodes", check=False)
        reported = sorted(i["metadata"]["name"] for i in json.loads(out.stdout)["items"]) if out.rc == 0 else []
        if reported == NODES or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert reported == NODES, f"node metrics: {out.stderr or out.stdout}"
    top = kubectl("top nodes --no-headers").stdout.split()
    assert all(name in top for name in NODES), top


def test_etcd_reports_every_member_healthy(release):
    members = sorted(GROUPS["etcd"])
    h = host(members[0])
    listed = json.loads(h.run(f"{ETCDCTL} member list -w json").stdout)["members"]
    assert sorted(m["name"] for m in listed) == members
    health = h.run(f"{ETCDCTL} endpoint health --cluster -w json")
    assert health.rc == 0, health.stderr
    assert len(json.loads(health.stdout)) == len(members)
    assert all(e["health"] for e in json.loads(health.stdout))
    status = json.loads(h.run(f"{ETCDCTL} endpoint status -w json").stdout)[0]
    assert status["Status"]["version"] == release["etcd"]["gitTag"].lstrip("v")


# --- workloads: a pod on every node, DNS, pod-to-pod across nodes, a ClusterIP Service ---------------------------

def busybox_image() -> str:
    """A static busybox image published to the lab registry (nothing can be pulled here)."""
    env = dict(line.split("=", 1) for line in (CACHE / "lab" / "lab.env").read_text().splitlines() if "=" in line and line[0] != "#")
    busybox = "/bin/busybox"
    subprocess.run([sys.executable, str(REPO / "tools/lab/oci.py"), "push", "--registry", env["EKSD_IMAGE_MIRROR"],
                    "--repo", "eks-distro/test/busybox", "--tag", "verify", "--file", f"/bin/busybox={busybox}",
                    "--entrypoint", "/bin/busybox"], check=True, capture_output=True)
    return "public.ecr.aws/eks-distro/test/busybox:verify"


def probe_manifest(namespace: str) -> str:
    """A namespace with a DaemonSet (busybox httpd serving its pod's name on 8080, on every node) and a Service."""
    image = busybox_image()
    return f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {namespace}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: probe, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: probe}}}}
  template:
    metadata: {{labels: {{app: probe}}}}
    spec:
      tolerations: [{{operator: Exists}}]
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: {image}
          command: ["/bin/busybox", "sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"]
          ports: [{{containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: probe, namespace: {namespace}}}
spec:
  selector: {{app: probe}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def deploy_probes(namespace: str) -> dict[str, dict]:
    """The probe DaemonSet in a new namespace, running on every node: node name -> pod."""
    # a namespace left by an interrupted run must be gone before it can be created again
    kubectl(f"delete namespace {namespace} --ignore-not-found --wait=true --timeout=180s")
    kubectl("apply -f -", stdin=probe_manifest(namespace))
    deadline = time.monotonic() + 180
    while True:
        pods = json.loads(kubectl(f"-n {namespace} get pods -o json").stdout)["items"]
        ready = [p for p in pods if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
        if len(ready) == len(NODES) and len(pods) == len(NODES):
            break
        assert time.monotonic() < deadline, f"probe pods not running: {[p['status'] for p in pods]}"
        time.sleep(3)
    return {p["spec"]["nodeName"]: p for p in ready}


@pytest.fixture(scope="module")
def probes():
    yield deploy_probes(NAMESPACE)
    kubectl(f"delete namespace {NAMESPACE} --wait=true --timeout=180s", check=False)


def pod_exec(pod: dict, command: str):
    namespace = pod["metadata"]["namespace"]
    return kubectl(f"-n {namespace} exec {pod['metadata']['name']} -- /bin/busybox sh -c {shlex.quote(command)}", check=False)


def test_a_pod_runs_on_every_node(probes):
    assert sorted(probes) == NODES


def test_pods_resolve_cluster_names_through_coredns(probes):
    for node, pod in probes.items():
        out = pod_exec(pod, "nslookup kubernetes.default.svc.cluster.local")
        assert out.rc == 0 and "Address" in out.stdout, (node, out.stdout, out.stderr)


def http_get(pod: dict, ip: str, port: int) -> str:
    """The body of GET / from ip:port, from inside the pod (busybox nc: its static wget crashes on NSS)."""
    out = pod_exec(pod, f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {ip} {port}")
    assert out.rc == 0, (pod["spec"]["nodeName"], ip, out.stderr)
    return out.stdout.split("\r\n\r\n", 1)[-1].strip()


def test_pods_on_different_nodes_reach_each_other(probes):
    for src_node, src in probes.items():
        for dst_node, dst in probes.items():
            if src_node != dst_node:
                assert http_get(src, dst["status"]["podIP"], 8080) == dst["metadata"]["name"], (src_node, dst_node)


def test_a_cluster_ip_service_answers_by_name_and_address(probes):
    cluster_ip = kubectl(f"-n {NAMESPACE} get service probe -o jsonpath={{.spec.clusterIP}}").stdout.strip()
    names = {p["metadata"]["name"] for p in probes.values()}
    for node, pod in probes.items():
        lookup = pod_exec(pod, f"nslookup probe.{NAMESPACE}.svc.cluster.local")
        assert lookup.rc == 0 and cluster_ip in lookup.stdout, (node, lookup.stdout)
        assert http_get(pod, cluster_ip, 80) in names, node
