"""plugins/filter/upgrade.py and module_utils/_upgrade.py: the upgrade version rules, case by case."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.eksd.distro.plugins.filter.upgrade import FilterModule
from ansible_collections.eksd.distro.plugins.module_utils._upgrade import parse_version, upgrade_refusals

refusals = FilterModule().filters()["upgrade_refusals"]


def k8s(version, component="kube-apiserver", where="node1"):
    return {"component": component, "kind": "kubernetes", "where": where, "version": version}


def etcd(version, where="node1"):
    return {"component": "etcd", "kind": "etcd", "where": where, "version": version}


@pytest.mark.parametrize(
    ("running", "targets", "expected"),
    [
        # patch upgrade, EKS-D suffixes ignored
        ([k8s("v1.24.6"), k8s("v1.24.6", "kubelet")], {"kubernetes": "v1.24.7"}, []),
        ([k8s("v1.24.6-eks-1-24-8")], {"kubernetes": "v1.24.7-eks-1-24-9"}, []),
        # minor upgrade, and etcd 3.5 -> 3.6
        ([k8s("v1.35.4"), etcd("3.5.21")], {"kubernetes": "v1.36.2", "etcd": "v3.6.11"}, []),
        # a half-done upgrade may be finished
        ([k8s("v1.36.2"), k8s("v1.35.4", "kubelet", "node2")], {"kubernetes": "v1.36.2"}, []),
        # nothing to do
        ([k8s("v1.24.7")], {"kubernetes": "v1.24.7"}, []),
        (
            [k8s("v1.24.7"), k8s("v1.24.7", "kubelet", "node2")],
            {"kubernetes": "v1.24.6"},
            ["downgrade: the target kubernetes version v1.24.6 is older than what runs now (kube-apiserver on node1 "
             "runs v1.24.7; kubelet on node2 runs v1.24.7); downgrades are not supported (restore an etcd snapshot "
             "instead)"],
        ),
        (
            [k8s("v1.23.17")],
            {"kubernetes": "v1.25.16"},
            ["skipped minor version: the target kubernetes version v1.25.16 is more than one minor version ahead "
             "(kube-apiserver on node1 runs v1.23.17); upgrade to 1.24 first, one minor at a time"],
        ),
        (
            [etcd("3.6.11")],
            {"etcd": "3.5.21"},
            ["downgrade: the target etcd version v3.5.21 is older than what runs now (etcd on node1 runs v3.6.11); "
             "downgrades are not supported (restore an etcd snapshot instead)"],
        ),
        (
            [k8s("v1.36.2")],
            {"kubernetes": "v2.0.0"},
            ["major version change: the target kubernetes version is v2.0.0 (kube-apiserver on node1 runs v1.36.2); "
             "only upgrades within major version 2 are supported"],
        ),
        ([k8s("unknown")], {"kubernetes": "v1.24.7"},
         ["kube-apiserver on node1: 'unknown' is not a version (expected vMAJOR.MINOR.PATCH)"]),
        ([etcd("3.5.6")], {"kubernetes": "v1.24.7"},
         ["etcd on node1: no target version for 'etcd' (expected one of ['kubernetes'])"]),
        ([], {"kubernetes": "latest"},
         ["the target release's kubernetes version: 'latest' is not a version (expected vMAJOR.MINOR.PATCH)"]),
    ],
    ids=["patch", "suffixes", "minor", "resume", "noop", "downgrade", "skip-minor", "etcd-downgrade", "major",
         "bad-running", "unknown-kind", "bad-target"],
)
def test_rules(running, targets, expected):
    assert upgrade_refusals(running, targets) == expected
    assert refusals(running, targets) == expected


def test_parse_version():
    assert parse_version(" v1.24.7-eks-1-24-9\n") == (1, 24, 7)
    with pytest.raises(ValueError, match="'1.24' is not a version"):
        parse_version("1.24")


@pytest.mark.parametrize(("running", "targets"), [([k8s("v1.24.6")], "v1.24.7"), ("v1.24.6", {"kubernetes": "v1.24.7"})])
def test_filter_bad_arguments(running, targets):
    with pytest.raises(AnsibleFilterError, match="upgrade_refusals"):
        refusals(running, targets)
