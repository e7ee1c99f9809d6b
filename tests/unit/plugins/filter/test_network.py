"""plugins/filter/network.py: when nodes are, and are not, on one layer-2 network."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.eksd.distro.plugins.filter.network import FilterModule

l2_problems = FilterModule().filters()["l2_problems"]


def node(host, ip, network):
    return {"host": host, "ip": ip, "network": network}


def test_one_subnet_is_one_network():
    assert l2_problems([node("node1", "10.89.73.11", "10.89.73.0/24"), node("node2", "10.89.73.12", "10.89.73.0/24")]) == []


def test_a_single_node_is_fine():
    assert l2_problems([node("node1", "10.0.0.5", "10.0.0.0/16")]) == []


def test_a_wider_subnet_holding_the_others_is_fine():
    """A /16 on one host and /24s inside it on others: every address is inside every node's subnet only when it is."""
    nodes = [node("a", "10.1.0.11", "10.1.0.0/16"), node("b", "10.1.0.12", "10.1.0.0/16")]
    assert l2_problems(nodes) == []


def test_two_subnets_name_the_hosts_and_their_subnets():
    problems = l2_problems([node("node1", "10.89.73.11", "10.89.73.0/24"), node("node2", "10.89.74.12", "10.89.74.0/24"),
                            node("node3", "10.89.73.13", "10.89.73.0/24")])
    assert problems == ["the nodes are on 2 subnets, not one layer-2 network: node1 10.89.73.11 on 10.89.73.0/24, "
                        "node2 10.89.74.12 on 10.89.74.0/24, node3 10.89.73.13 on 10.89.73.0/24"]


def test_a_narrower_subnet_on_one_side_is_refused():
    """node2's /25 does not hold node1's address: node2 would need a router to reach it."""
    problems = l2_problems([node("node1", "10.0.0.200", "10.0.0.0/24"), node("node2", "10.0.0.12", "10.0.0.0/25")])
    assert len(problems) == 1 and "node1 10.0.0.200 on 10.0.0.0/24" in problems[0] and "node2 10.0.0.12 on 10.0.0.0/25" in problems[0]


def test_an_address_on_no_interface_is_named():
    problems = l2_problems([node("node1", "10.0.0.11", "10.0.0.0/24"), node("node2", "192.0.2.9", "")])
    assert problems == ["no subnet found for the node address of node2 192.0.2.9 on no network found for that address"]


@pytest.mark.parametrize("bad", [None, "node1", [{"host": "node1"}], ["node1"]])
def test_bad_input_is_an_error(bad):
    with pytest.raises(AnsibleFilterError):
        l2_problems(bad)
