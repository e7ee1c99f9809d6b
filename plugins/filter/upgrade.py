# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.eksd.distro.plugins.module_utils._upgrade import upgrade_refusals


def _upgrade_refusals(running, targets):
    if not isinstance(targets, dict):
        raise AnsibleFilterError(f"upgrade_refusals: targets must be a dict such as {{'kubernetes': 'v1.24.7'}}, got {targets!r}")
    if not isinstance(running, list) or not all(isinstance(item, dict) for item in running):
        raise AnsibleFilterError("upgrade_refusals: the input must be a list of dicts (component, kind, where, version)")
    return upgrade_refusals(running, targets)


class FilterModule:
    def filters(self):
        return {"upgrade_refusals": _upgrade_refusals}
