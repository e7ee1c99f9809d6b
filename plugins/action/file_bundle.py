# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of eksd.distro.file_bundle. Files given by src are read here, on the controller. Small text
files go to the module as content, so one module call on the host writes them all. A large or binary file goes
as its sha256 only: the module reports the ones whose content differs, only those are transferred, and a second
module call moves them into place. A no-op costs one module call and no transfer."""

from __future__ import annotations

import hashlib
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.hashing import secure_hash

# Above this size a file is compared by digest and transferred only when it differs.
CONTENT_LIMIT = 1 << 20


def _as_content(path):
    """The file's text when it is small and UTF-8, else None (it is compared by digest and transferred)."""
    if os.path.getsize(path) > CONTENT_LIMIT:
        return None
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("files", "directories", "digest_record", "owner", "group"))

    def _read_specs(self, specs):
        """The module's file entries, and {host path: controller path} of those sent by digest."""
        files, local_paths = [], {}
        for spec in specs or []:
            if not isinstance(spec, dict):
                raise AnsibleActionFail("file_bundle: each entry of files must be a dict with path, mode and src or content")
            spec = dict(spec)
            src = spec.pop("src", None)
            if src is not None:
                if "content" in spec or "text" in spec:
                    raise AnsibleActionFail(f"file_bundle: {spec.get('path')} has src and content or text; give one")
                local = self._loader.path_dwim(src)
                if spec.get("sha256"):
                    # The caller knows the digest (a verified artifact): no hashing here; the module checks a
                    # transferred file against it, so a cache file that is not what the digest says still fails.
                    if not os.path.isfile(local):
                        raise AnsibleActionFail(f"file_bundle: cannot read {src} on the controller for {spec.get('path')}: "
                                                "no such file")
                    local_paths[spec.get("path")] = local
                    files.append(spec)
                    continue
                try:
                    content = _as_content(local)
                    if content is None:
                        spec["sha256"] = secure_hash(local, hashlib.sha256)
                        local_paths[spec.get("path")] = local
                    else:
                        spec["content"] = to_text(content)
                except OSError as exc:
                    raise AnsibleActionFail(f"file_bundle: cannot read {src} on the controller for {spec.get('path')}: "
                                            f"{exc.strerror}") from exc
            files.append(spec)
        return files, local_paths

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        args["files"], local_paths = self._read_specs(args.get("files"))
        first = self._execute_module(module_name="eksd.distro.file_bundle", module_args=args, task_vars=task_vars)
        result.update(first)
        pending = first.get("pending_files") or []
        if first.get("failed") or not pending or self._task.check_mode:
            return result
        try:
            if not self._connection._shell.tmpdir:
                self._make_tmp_path()
            staged_files = []
            for index, spec in enumerate(spec for spec in args["files"] if spec["path"] in pending):
                staged = self._connection._shell.join_path(self._connection._shell.tmpdir, f"bundle-{index}")
                self._transfer_file(local_paths[spec["path"]], staged)
                staged_files.append(dict(spec, staged=staged))
            self._fixup_perms2([spec["staged"] for spec in staged_files] + [self._connection._shell.tmpdir])
            second = self._execute_module(module_name="eksd.distro.file_bundle", task_vars=task_vars,
                                          module_args=dict(args, files=staged_files, directories=[]))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        if second.get("failed"):
            result.update(second)
            return result
        result["changed"] = True
        for key in ("changed_files", "changed_topics"):
            result[key] = first.get(key, []) + [value for value in second.get(key, []) if value not in first.get(key, [])]
        result["pending_files"] = []
        return result
