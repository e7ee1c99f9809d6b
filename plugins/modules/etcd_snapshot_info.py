#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a module file that is not executable
# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_snapshot_info
short_description: Check that an etcd snapshot file is complete and restorable
version_added: 0.1.0
description:
  - Reads a file written by C(etcdctl snapshot save) and fails unless it is a bbolt database followed by the
    sha256 of that database, which is what C(etcdutl snapshot restore) checks before it restores.
  - Works with every etcd in EKS-D releases; etcdctl 3.6 has no C(snapshot status) and the release tarball has
    no etcdutl.
  - Never changes anything.
author:
  - eksd.distro maintainers (!UNKNOWN)
options:
  path:
    description: The snapshot file on the host the module runs on.
    type: path
    required: true
attributes:
  check_mode:
    description: Can run in check_mode and return the same result as without it.
    support: full
  diff_mode:
    description: Returns no diff; it changes nothing.
    support: none
seealso:
  - module: eksd.distro.release_info
"""

EXAMPLES = r"""
- name: Check the snapshot etcdctl wrote
  eksd.distro.etcd_snapshot_info:
    path: /var/lib/etcd-snapshots/etcd-node1-20250101T000000Z.db
  register: __etcd_snapshot_info
"""

RETURN = r"""
size:
  description: Size of the file in bytes (database and hash).
  type: int
  returned: success
  sample: 2097184
db_size:
  description: Size of the database in bytes.
  type: int
  returned: success
  sample: 2097152
sha256:
  description: The sha256 of the database, as the snapshot's trailer records it.
  type: str
  returned: success
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
page_size:
  description: The database's page size in bytes.
  type: int
  returned: success
  sample: 4096
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.eksd.distro.plugins.module_utils._etcd_snapshot import (
    SnapshotError,
    check_snapshot,
)


def main() -> None:
    module = AnsibleModule(argument_spec={"path": {"type": "path", "required": True}}, supports_check_mode=True)
    try:
        info = check_snapshot(module.params["path"])
    except SnapshotError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
