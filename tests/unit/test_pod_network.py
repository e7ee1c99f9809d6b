"""The pod network's variables, templated with Ansible's Templar as a play would (as tests/unit/test_platforms.py does):
preflight's node subnets and refusal of the bridge provider, flannel's pinned image and plugin per architecture
(roles/preflight/vars/flannel_release.yml), containerd mirroring flannel's registry, and the cni role's flannel objects.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
LOADER = DataLoader()
MIRROR = "http://mirror.example:8080/eks-distro/"
RELEASE = yaml.safe_load((ROLES / "preflight" / "vars" / "flannel_release.yml").read_text())["_preflight_flannel_release"]


def load(path: Path) -> dict:
    return LOADER.load_from_file(str(path)) or {}


def render(variables: dict, expression: str):
    return Templar(loader=LOADER, variables=variables).template(expression)


def host_facts(ip: str, prefix: int, iface: str = "eth0", secondary: bool = False) -> dict:
    """The network facts of a host whose node address sits on iface (as its primary or a secondary address)."""
    import ipaddress

    net = ipaddress.ip_interface(f"{ip}/{prefix}").network
    addr = {"address": ip, "netmask": str(net.netmask), "network": str(net.network_address), "prefix": str(prefix)}
    other = {"address": "192.0.2.50", "netmask": "255.255.255.0", "network": "192.0.2.0", "prefix": "24"}
    details = {"ipv4": other, "ipv4_secondaries": [addr]} if secondary else {"ipv4": addr}
    return {"ansible_facts": {"interfaces": ["lo", iface], iface.replace("-", "_").replace(".", "_"): details,
                              "lo": {"ipv4": {"address": "127.0.0.1", "network": "127.0.0.0", "prefix": "8"}}}}


def preflight_vars(hosts: dict, **extra) -> dict:
    variables = {"inventory_hostname": "node1", "ansible_play_hosts_all": list(hosts),
                 "groups": {"control_plane": ["node1"], "workers": [h for h in hosts if h != "node1"], "etcd": ["node1"]},
                 "hostvars": hosts}
    variables.update(load(ROLES / "preflight" / "defaults" / "main.yml"))
    variables.update(load(ROLES / "preflight" / "vars" / "main.yml"))
    variables.update(load(ROLES / "preflight" / "vars" / "flannel_release.yml"))
    variables.update(extra)
    return variables


def test_node_networks_read_the_subnet_of_the_interface_holding_the_node_address():
    hosts = {"node1": {"ip": "10.89.73.11", **host_facts("10.89.73.11", 24)},
             "node2": {"ip": "10.89.74.12", **host_facts("10.89.74.12", 24, iface="ens-3", secondary=True)},
             "node3": {"ip": "10.0.0.9", **host_facts("10.89.73.13", 24)}}
    assert render(preflight_vars(hosts), "{{ _preflight_node_networks }}") == [
        {"host": "node1", "ip": "10.89.73.11", "network": "10.89.73.0/24"},
        {"host": "node2", "ip": "10.89.74.12", "network": "10.89.74.0/24"},
        {"host": "node3", "ip": "10.0.0.9", "network": ""},
    ]


def test_hosts_outside_the_node_groups_are_left_out():
    hosts = {"node1": {"ip": "10.1.0.11", **host_facts("10.1.0.11", 24)},
             "etcd2": {"ip": "10.2.0.12", **host_facts("10.2.0.12", 24)}}
    variables = preflight_vars(hosts)
    variables["groups"] = {"control_plane": ["node1"], "workers": [], "etcd": ["node1", "etcd2"]}
    assert [n["host"] for n in render(variables, "{{ _preflight_node_networks }}")] == ["node1"]


@pytest.mark.skipif(not RELEASE["image_digest"].get("amd64"), reason="no amd64 digest recorded yet")
def test_flannel_image_and_plugin_for_amd64_come_from_the_recorded_digests():
    got = render(preflight_vars({}, ansible_architecture="x86_64", eksd_artifact_mirror=MIRROR), "{{ _preflight_flannel }}")
    assert got == {
        "version": RELEASE["flannel"],
        "image": f"{RELEASE['image']}:v{RELEASE['flannel']}@{RELEASE['image_digest']['amd64']}",
        "plugin": {"url": f"{MIRROR.rstrip('/')}/flannel-cni-plugin/v{RELEASE['cni_plugin']}/flannel-amd64",
                   "sha512": RELEASE["plugin_sha512"]["flannel-amd64"]},
    }
    assert got["image"].split("@")[1].startswith("sha256:") and len(got["plugin"]["sha512"]) == 128


def test_flannel_without_recorded_digests_or_mirror_gives_nothing_to_install():
    arm = render(preflight_vars({}, ansible_architecture="aarch64", eksd_artifact_mirror=MIRROR), "{{ _preflight_flannel }}")
    assert (arm["image"], arm["plugin"]) == ("", {})
    no_mirror = render(preflight_vars({}, ansible_architecture="x86_64"), "{{ _preflight_flannel }}")
    assert no_mirror["plugin"] == {}


def test_containerd_mirrors_the_registries_of_the_clusters_other_images():
    variables = {"eksd_release_info": {"images": {"pause-image": "public.ecr.aws/eks-distro/kubernetes/pause:v1"}}}
    variables.update(load(ROLES / "containerd" / "defaults" / "main.yml"))
    assert render(variables, "{{ containerd_mirrored_registries }}") == ["public.ecr.aws"]
    variables["eksd_extra_images"] = ["docker.io/flannel/flannel:v0.28.10@sha256:" + "a" * 64]
    assert render(variables, "{{ containerd_mirrored_registries }}") == ["public.ecr.aws", "docker.io"]


def cni_vars(**extra) -> dict:
    variables = {"inventory_hostname": "node1", "groups": {"control_plane": ["node1"]}, "eksd_pod_cidr": "10.244.0.0/16",
                 "eksd_flannel": {"image": "docker.io/flannel/flannel:v0.28.10@sha256:" + "a" * 64,
                                  "plugin": {"url": "http://m/flannel-amd64", "sha512": "b" * 128}}}
    variables.update(load(ROLES / "cni" / "defaults" / "main.yml"))
    variables.update(load(ROLES / "cni" / "vars" / "main.yml"))
    variables.update(extra)
    return variables


def test_flannel_objects_carry_the_pod_range_the_backend_and_the_pinned_image():
    objects = {o["kind"]: o for o in render(cni_vars(), "{{ _cni_flannel_objects }}")}
    assert set(objects) == {"ClusterRole", "ClusterRoleBinding", "ServiceAccount", "ConfigMap", "DaemonSet"}
    net_conf = json.loads(objects["ConfigMap"]["data"]["net-conf.json"])
    assert net_conf == {"Network": "10.244.0.0/16", "EnableNFTables": False, "Backend": {"Type": "vxlan"}}
    pod = objects["DaemonSet"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "docker.io/flannel/flannel:v0.28.10@sha256:" + "a" * 64
    assert container["args"] == ["--ip-masq", "--kube-subnet-mgr", "--iface=$(POD_IP)"]
    assert {e["name"] for e in container["env"]} >= {"POD_NAME", "POD_NAMESPACE", "POD_IP"}
    assert pod["hostNetwork"] is True and pod["serviceAccountName"] == "flannel"
    annotation = objects["DaemonSet"]["spec"]["template"]["metadata"]["annotations"]["eksd.distro/net-conf-sha256"]
    assert len(annotation) == 64
    rules = {r["resources"][0]: r["verbs"] for r in objects["ClusterRole"]["rules"]}
    assert rules == {"pods": ["get"], "nodes": ["get", "list", "watch"], "nodes/status": ["patch"]}


def test_flannel_overrides_reach_net_conf_and_arguments():
    variables = cni_vars(cni_flannel_net_conf_overrides={"Backend": {"VNI": 4096}}, cni_flannel_extra_args=["--v=2"],
                         eksd_pod_cidr="172.20.0.0/16")
    objects = {o["kind"]: o for o in render(variables, "{{ _cni_flannel_objects }}")}
    net_conf = json.loads(objects["ConfigMap"]["data"]["net-conf.json"])
    assert net_conf["Network"] == "172.20.0.0/16" and net_conf["Backend"] == {"Type": "vxlan", "VNI": 4096}
    assert objects["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "--v=2"


def test_cni_manifests_are_read_in_order_without_empty_documents(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: one}\n---\n")
    second.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two, namespace: one}\n")
    got = render(cni_vars(cni_manifests=[str(first), str(second)]), "{{ _cni_manifest_objects }}")
    assert [(o["kind"], o["metadata"]["name"]) for o in got] == [("Namespace", "one"), ("ConfigMap", "two")]
