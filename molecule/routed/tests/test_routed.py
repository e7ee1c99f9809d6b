"""A cluster whose nodes sit on two subnets routed through the lab's host, with flannel (VXLAN) as the pod network.

Checked from the hosts and through the API: the nodes really are on different subnets with a router between them,
flannel runs the pinned image on every node with a VXLAN device, DNS answers from every node (the hosts themselves
and a pod on each), pods reach each other across the subnets, a Service answers; and preflight refuses the bridge
provider on this shape, naming the hosts and their subnets, before any host changes.
"""
from __future__ import annotations

import ipaddress
import json
import shlex
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "tests"))
# the shared tests' helpers; the shared cluster and workload tests run here too, on the routed shape
from lab_runs import host_changes, playbook  # noqa: E402
from test_cluster import (  # noqa: E402,F401  # pylint: disable=unused-import
    GROUPS,
    NODES,
    RELEASE,
    REPO,
    host,
    kubectl,
    probes,
    test_a_cluster_ip_service_answers_by_name_and_address,
    test_a_pod_runs_on_every_node,
    test_every_node_is_ready,
    test_kube_system_pods_are_running,
    test_pods_on_different_nodes_reach_each_other,
    test_pods_resolve_cluster_names_through_coredns,
)

RELEASE_FILE = REPO / "roles" / "preflight" / "vars" / "flannel_release.yml"


def node_address(name: str) -> tuple[str, ipaddress.IPv4Network]:
    """The node's address and the subnet of the interface that holds it, read on the host."""
    ip = GROUPS["all"][name]["ip"]
    out = host(name).run("ip -o -4 addr show")
    for line in out.stdout.splitlines():
        cidr = line.split()[3]
        if cidr.split("/")[0] == ip:
            return ip, ipaddress.ip_interface(cidr).network
    raise AssertionError(f"{name}: no interface holds {ip}: {out.stdout}")


def net_conf_json() -> dict:
    """flannel's net-conf.json as the cluster holds it (the kube-flannel-cfg ConfigMap)."""
    return json.loads(json.loads(kubectl("-n kube-system get configmap kube-flannel-cfg -o json").stdout)["data"]["net-conf.json"])


def test_the_nodes_are_on_different_subnets_with_a_router_between_them():
    addresses = {name: node_address(name) for name in NODES}
    assert len({net for _ip, net in addresses.values()}) == len(NODES), addresses
    for name in NODES:
        for other in NODES:
            if other == name:
                continue
            other_ip = addresses[other][0]
            assert ipaddress.ip_address(other_ip) not in addresses[name][1]
            route = host(name).run(f"ip -o route get {other_ip}").stdout
            assert " via " in route, (name, other, route)  # through a gateway, not on-link
            ping = host(name).run(f"ping -c 1 -W 5 {other_ip}")
            assert ping.rc == 0, (name, other, ping.stdout)


def test_node_addresses_are_not_translated_between_the_subnets():
    """The host routes between the subnets without NAT: the API server sees the worker's kubelet by its own address."""
    nodes = json.loads(kubectl("get nodes -o json").stdout)["items"]
    for node in nodes:
        internal = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"]
        assert internal == [GROUPS["all"][node["metadata"]["name"]]["ip"]], node["status"]["addresses"]
    # logs and exec go from the API server to the worker's kubelet across the router
    worker = sorted(GROUPS.get("workers", {}))[0]
    pods = json.loads(kubectl(f"-n kube-system get pods -o json --field-selector spec.nodeName={worker}").stdout)["items"]
    flannel = next(p for p in pods if p["metadata"]["name"].startswith("kube-flannel-ds"))
    assert kubectl(f"-n kube-system logs {flannel['metadata']['name']} --tail=5").stdout.strip()


def test_flannel_runs_the_pinned_image_on_every_node():
    release = yaml.safe_load(RELEASE_FILE.read_text())["_preflight_flannel_release"]
    expected = f"{release['image']}:v{release['flannel']}@{release['image_digest']['amd64']}"
    ds = json.loads(kubectl("-n kube-system get daemonset kube-flannel-ds -o json").stdout)
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == expected
    assert ds["status"]["numberReady"] == len(NODES) == ds["status"]["desiredNumberScheduled"], ds["status"]
    net_conf = net_conf_json()
    assert net_conf["Backend"]["Type"] == "vxlan"
    pods = json.loads(kubectl("-n kube-system get pods -l app=flannel -o json").stdout)["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == NODES
    for pod in pods:
        assert pod["status"]["containerStatuses"][0]["imageID"].endswith(release["image_digest"]["amd64"]), pod["status"]


def test_every_node_has_a_vxlan_device_and_its_own_pod_subnet():
    nodes = {n["metadata"]["name"]: n for n in json.loads(kubectl("get nodes -o json").stdout)["items"]}
    net_conf = net_conf_json()
    for name in NODES:
        h = host(name)
        link = h.run("ip -d link show flannel.1")
        assert link.rc == 0 and "vxlan id 1 " in link.stdout, (name, link.stdout, link.stderr)
        assert f"local {GROUPS['all'][name]['ip']} " in link.stdout, (name, link.stdout)
        env = dict(line.split("=", 1) for line in h.run("cat /run/flannel/subnet.env").stdout.split())
        assert env["FLANNEL_NETWORK"] == net_conf["Network"]
        podcidr = ipaddress.ip_network(nodes[name]["spec"]["podCIDR"])
        assert ipaddress.ip_interface(env["FLANNEL_SUBNET"]).network == podcidr, (name, env)
        assert h.file("/opt/cni/bin/flannel").mode == 0o755
        assert h.file("/etc/cni/net.d/10-flannel.conflist").exists
        assert not h.file("/etc/cni/net.d/10-eksd-bridge.conflist").exists
        # the other nodes' pod blocks go through the VXLAN device
        for other in NODES:
            if other != name:
                route = h.run(f"ip -o route show {nodes[other]['spec']['podCIDR']}").stdout
                assert "dev flannel.1" in route, (name, other, route)


# A DNS query for NAME (type A) sent with the node's python3 to the cluster DNS Service: the answer count, or the error.
DNS_QUERY = r"""
import random, socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
qid = random.randrange(65536)
query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for _ in range(3):
    try:
        s.sendto(query, (server, 53))
        reply = s.recv(4096)
        break
    except socket.timeout:
        continue
else:
    sys.exit("no answer")
rid, flags, _qd, an, _ns, _ar = struct.unpack(">HHHHHH", reply[:12])
print(rid == qid, flags & 0xF, an)
"""


def test_every_node_resolves_cluster_names_through_the_dns_service():
    """From each host (not a pod): the kube-dns Service, through kube-proxy, to CoreDNS pods possibly across the router."""
    cluster_dns = kubectl("-n kube-system get service kube-dns -o jsonpath={.spec.clusterIP}").stdout.strip()
    for name in NODES:
        out = host(name).run(f"python3 -c {shlex.quote(DNS_QUERY)} kubernetes.default.svc.cluster.local {cluster_dns}")
        assert out.rc == 0, (name, out.stderr)
        same_id, rcode, answers = out.stdout.split()
        assert (same_id, rcode) == ("True", "0") and int(answers) >= 1, (name, out.stdout)


def test_coredns_pods_are_reached_on_both_subnets(probes):  # noqa: F811  (the shared fixture)
    """Each node's pod asks every CoreDNS pod directly by its pod address (on its own node or across the router)."""
    dns_pods = json.loads(kubectl("-n kube-system get pods -l k8s-app=kube-dns -o json").stdout)["items"]
    assert dns_pods
    for node, pod in probes.items():
        for dns in dns_pods:
            out = kubectl(f"-n {pod['metadata']['namespace']} exec {pod['metadata']['name']} -- /bin/busybox "
                          f"nslookup kubernetes.default.svc.cluster.local {dns['status']['podIP']}", check=False)
            assert out.rc == 0 and "Address" in out.stdout, (node, dns["spec"]["nodeName"], out.stdout, out.stderr)


def test_preflight_refuses_the_bridge_provider_across_subnets():
    addresses = {name: node_address(name) for name in NODES}
    proc, output, recap = playbook("site.yml", "-e", "cni_provider=bridge", "-e", f"eksd_release={RELEASE}")
    words = " ".join(output.split())  # the callback wraps long messages
    assert proc.returncode != 0, output[-4000:]
    assert "cni_provider bridge needs every node on one layer-2 network" in words, output[-4000:]
    for name, (ip, net) in addresses.items():
        assert f"{name} {ip} on {net}" in words, (name, output[-3000:])
    assert "Nothing was changed." in words
    assert host_changes(output) == [], host_changes(output)
    assert all(failed <= 1 for _changed, _unreachable, failed in recap.values()), recap
