# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for encryption at rest: the keys a cluster's EncryptionConfiguration holds, and the steps that
rotate them (playbooks/rotate_encryption_key.yml).

Keys are {name, secret} with secret as the EncryptionConfiguration holds it (base64 of the key). Error
messages name what was wrong, never a secret.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

_NUMBERED = re.compile(r"^key(\d+)$")


def encryption_keys(config):
    """The keys of the first provider that has keys in an EncryptionConfiguration (a dict), in order.

    The first is the key the API servers write with; the others are only read with.
    """
    if not isinstance(config, dict) or not isinstance(config.get("resources"), list) or not config["resources"]:
        raise AnsibleFilterError("encryption_keys: the input must be an EncryptionConfiguration with a resources list")
    for provider in config["resources"][0].get("providers") or []:
        if not isinstance(provider, dict):
            continue
        for name, conf in provider.items():
            if isinstance(conf, dict) and conf.get("keys"):
                keys = conf["keys"]
                if not all(isinstance(k, dict) and k.get("name") and k.get("secret") for k in keys):
                    raise AnsibleFilterError(f"encryption_keys: every key of the {name} provider needs a name and a secret")
                return [{"name": str(k["name"]), "secret": str(k["secret"])} for k in keys]
    return []


def _number(key: dict) -> int:
    match = _NUMBERED.match(key["name"])
    return int(match.group(1)) if match else -1


def encryption_rotation(key_lists, new_secret):
    """The key lists of each rotation step, from the keys each control plane holds now (a list per control plane).

    The control plane with the most keys (the first of those on a tie) is the furthest into a stopped
    rotation, so the plan starts from its keys.

    Returns {stage, new_key, add, promote, drop}: each of add, promote and drop is the key list after that
    step. The newest key is the one with the highest number (keyN); a new key is named key<N+1>.
      - one key (stage 'start'): add a new key second, make it first, drop the old one;
      - the newest key is not first (stage 'added', a run stopped after adding it): make it first, drop the rest;
      - the newest key is first and others follow (stage 'promoted', stopped after that): drop the rest.
    A step whose list equals the one before it changes nothing, so an interrupted rotation is resumed by
    running the playbook again.
    """
    key_lists = list(key_lists or [])
    if not all(isinstance(k, list) for k in key_lists):
        raise AnsibleFilterError("encryption_rotation: the input must be a list of key lists, one per control plane")
    keys = max(key_lists, key=len) if key_lists else []
    if not keys:
        raise AnsibleFilterError("encryption_rotation: the cluster holds no encryption key (is encryption at rest configured?)")
    if not all(isinstance(k, dict) and k.get("name") and k.get("secret") for k in keys):
        raise AnsibleFilterError("encryption_rotation: every key needs a name and a secret")
    names = [k["name"] for k in keys]
    if len(set(names)) != len(names):
        raise AnsibleFilterError(f"encryption_rotation: key names repeat: {', '.join(names)}")
    if len(keys) == 1:
        new = {"name": f"key{max(_number(keys[0]), 0) + 1}", "secret": str(new_secret)}
        return {"stage": "start", "new_key": new["name"], "add": keys + [new], "promote": [new] + keys, "drop": [new]}
    newest = max(keys, key=_number)
    if _number(newest) < 0:
        raise AnsibleFilterError(
            f"encryption_rotation: the keys ({', '.join(names)}) are not named keyN, so which is newest is unknown; "
            "leave one key in the encryption configuration before rotating")
    promoted = [newest] + [k for k in keys if k is not newest]
    stage = "promoted" if keys[0] is newest else "added"
    return {"stage": stage, "new_key": newest["name"], "add": keys, "promote": promoted, "drop": [newest]}


class FilterModule:
    def filters(self):
        return {"encryption_keys": encryption_keys, "encryption_rotation": encryption_rotation}
