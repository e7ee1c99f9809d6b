"""The coredns role's default Corefile, rendered with Ansible's templar from the role's defaults: prefer_udp only
when asked for, and otherwise the same text as before the option existed."""

from __future__ import annotations

from pathlib import Path

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

ROLE = Path(__file__).resolve().parents[3] / "roles" / "coredns"


def _corefile(**extra) -> str:
    loader = DataLoader()
    variables = {**yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()), "coredns_cluster_domain": "cluster.local",
                 **extra}
    return Templar(loader=loader, variables=variables).template("{{ coredns_corefile }}")


def test_forward_block_by_default():
    text = _corefile()
    assert "    forward . /etc/resolv.conf {\n        max_concurrent 1000\n    }\n    cache 30\n" in text
    assert "prefer_udp" not in text and "{%" not in text


def test_prefer_udp_when_asked():
    text = _corefile(coredns_upstream_prefer_udp=True)
    assert "    forward . /etc/resolv.conf {\n        max_concurrent 1000\n        prefer_udp\n    }\n" in text
