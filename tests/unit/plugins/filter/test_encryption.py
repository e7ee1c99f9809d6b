"""plugins/filter/encryption.py: the keys of an EncryptionConfiguration and the steps of a rotation."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.eksd.distro.plugins.filter.encryption import FilterModule

F = FilterModule().filters()
K1, K2, K3 = ({"name": f"key{n}", "secret": f"c2VjcmV0{n}"} for n in (1, 2, 3))


def config(*providers):
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": ["secrets"], "providers": list(providers)}]}


def test_keys_come_from_the_first_provider_with_keys_in_order():
    conf = config({"identity": {}}, {"secretbox": {"keys": [K2, K1]}}, {"aescbc": {"keys": [K3]}})
    assert F["encryption_keys"](conf) == [K2, K1]


def test_a_configuration_without_keys_has_none():
    assert F["encryption_keys"](config({"identity": {}})) == []


@pytest.mark.parametrize("bad", [None, "text", {"resources": []}, {"kind": "EncryptionConfiguration"}])
def test_something_else_than_a_configuration_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match="EncryptionConfiguration"):
        F["encryption_keys"](bad)


def test_a_key_without_a_secret_is_refused_without_printing_the_others():
    with pytest.raises(AnsibleFilterError, match="secretbox provider needs a name and a secret") as err:
        F["encryption_keys"](config({"secretbox": {"keys": [K1, {"name": "key2"}]}}))
    assert K1["secret"] not in str(err.value)


def test_one_key_starts_a_rotation_with_the_next_number():
    plan = F["encryption_rotation"]([[K1]], "bmV3")
    new = {"name": "key2", "secret": "bmV3"}
    assert plan == {"stage": "start", "new_key": "key2", "add": [K1, new], "promote": [new, K1], "drop": [new]}


def test_a_first_key_not_named_keyN_is_followed_by_key1():
    plan = F["encryption_rotation"]([[{"name": "mykey", "secret": "eA=="}]], "bmV3")
    assert plan["new_key"] == "key1"


def test_a_rotation_stopped_after_adding_resumes_at_promote():
    plan = F["encryption_rotation"]([[K1, K2]], "unused")
    assert plan == {"stage": "added", "new_key": "key2", "add": [K1, K2], "promote": [K2, K1], "drop": [K2]}


def test_a_rotation_stopped_after_promoting_resumes_at_drop():
    plan = F["encryption_rotation"]([[K3, K2, K1]], "unused")
    assert plan == {"stage": "promoted", "new_key": "key3", "add": [K3, K2, K1], "promote": [K3, K2, K1], "drop": [K3]}


def test_several_keys_none_numbered_are_refused():
    with pytest.raises(AnsibleFilterError, match="not named keyN"):
        F["encryption_rotation"]([[{"name": "a", "secret": "eA=="}, {"name": "b", "secret": "eQ=="}]], "bmV3")


@pytest.mark.parametrize("keys", [[], None, [[]], [[K1, K1]], [[{"name": "key1"}]], [K1]])
def test_no_keys_repeated_names_or_missing_secrets_are_refused(keys):
    with pytest.raises(AnsibleFilterError, match="encryption_rotation"):
        F["encryption_rotation"](keys, "bmV3")


def test_the_control_plane_furthest_into_a_stopped_rotation_decides():
    # stopped while adding key2: the second control plane has it, the first not yet
    assert F["encryption_rotation"]([[K1], [K1, K2]], "unused")["stage"] == "added"
    # stopped while dropping key1: the first control plane has only key2 left
    plan = F["encryption_rotation"]([[K2], [K2, K1]], "unused")
    assert plan["stage"] == "promoted" and plan["drop"] == [K2]
