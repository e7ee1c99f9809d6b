# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of eksd.distro.file_bundle: files given by src are read here, on the controller, and
sent to the module as content, so one module call on the host writes them all."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("files", "directories", "owner", "group"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        files = []
        for spec in args.get("files") or []:
            if not isinstance(spec, dict):
                raise AnsibleActionFail("file_bundle: each entry of files must be a dict with path, mode and src or content")
            spec = dict(spec)
            src = spec.pop("src", None)
            if src is not None:
                if "content" in spec:
                    raise AnsibleActionFail(f"file_bundle: {spec.get('path')} has both src and content; give one")
                try:
                    with open(self._loader.path_dwim(src), "rb") as handle:
                        spec["content"] = to_text(handle.read(), errors="surrogate_or_strict")
                except OSError as exc:
                    raise AnsibleActionFail(f"file_bundle: cannot read {src} on the controller for {spec.get('path')}: "
                                            f"{exc.strerror}") from exc
            files.append(spec)
        args["files"] = files
        result.update(self._execute_module(module_name="eksd.distro.file_bundle", module_args=args, task_vars=task_vars))
        return result
