# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError


def _network(node: dict):
    try:
        return ipaddress.ip_network(str(node.get("network") or ""), strict=False)
    except ValueError:
        return None


def _describe(node: dict) -> str:
    net = _network(node)
    return f"{node['host']} {node['ip']} on {net if net else 'no network found for that address'}"


def l2_problems(nodes):
    """Why nodes are not on one layer-2 network: [] when every node's address is inside every node's own subnet.

    nodes: [{host, ip, network}], network being the subnet ("10.89.73.0/24") of the interface holding ip.
    The bridge provider routes each node's pod block through that node's address, which works only when the
    address is on a network every other node is directly attached to."""
    if not isinstance(nodes, list) or not all(isinstance(n, dict) and {"host", "ip"} <= set(n) for n in nodes):
        raise AnsibleFilterError("l2_problems: the input must be a list of dicts with host, ip and network")
    problems = []
    missing = [n for n in nodes if _network(n) is None]
    if missing:
        problems.append("no subnet found for the node address of " + ", ".join(_describe(n) for n in missing))
    known = [n for n in nodes if _network(n) is not None]
    apart = set()
    for node in known:
        for other in known:
            if other is not node and ipaddress.ip_address(str(other["ip"])) not in _network(node):
                apart.update((node["host"], other["host"]))
    if apart:
        subnets = sorted({str(_network(n)) for n in known})
        problems.append(
            f"the nodes are on {len(subnets)} subnets, not one layer-2 network: "
            + ", ".join(_describe(n) for n in known if n["host"] in apart))
    return problems


class FilterModule:
    def filters(self):
        return {"l2_problems": l2_problems}
