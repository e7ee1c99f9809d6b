#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a module file that is not executable
# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: file_bundle
short_description: Write several files and their directories in one step
version_added: 0.1.0
description:
  - Makes a set of files (certificates, keys, kubeconfigs, binaries) hold the given content, mode and owner,
    creating their directories first, in one module call. It compares each file by sha256 and by its attributes
    and rewrites only the files that differ, each atomically (a temporary file in the same directory, renamed).
  - Small text files travel as content in the module's arguments. A large or binary O(files[].src) (over 1 MiB,
    or not UTF-8) is compared by its O(files[].sha256) first; the action plugin transfers only those whose
    digest differs, and a second module call moves them into place. A no-op is one module call either way.
  - One task per restart topic replaces a stat and a copy per file; its C(changed) says whether any file of the
    topic changed, so the task's handlers run only then. Files of several topics can share one task, each naming
    its O(files[].topics), and RV(changed_topics) lists the topics of the files that changed, for a task that
    notifies those alone.
  - O(files[].content) is never returned, shown in a diff or logged; the result names the changed paths. Text
    that is no secret (units, configuration) goes as O(files[].text), which C(--diff) shows.
author:
  - eksd.distro maintainers (!UNKNOWN)
options:
  files:
    description: The files to write.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the file on the host.
        type: path
        required: true
      content:
        description:
          - What the file must hold, exactly (text); treated as a secret. Give this, O(files[].text) or
            O(files[].src).
        type: str
      text:
        description:
          - What the file must hold, exactly, when it is no secret (a unit, a configuration file); in diff mode
            the result's diff shows the file before and after.
        type: str
      topics:
        description:
          - The restart topics this file belongs to; a changed file adds them to RV(changed_topics).
        type: list
        elements: str
        default: []
      src:
        description:
          - A file on the controller whose content the file must hold, read by the action plugin. Give this or
            O(files[].content).
        type: path
      sha256:
        description:
          - The sha256 of O(files[].src), when the caller knows it (a download verified against a release
            manifest), so that the action plugin does not hash O(files[].src) itself. Otherwise set by the action
            plugin for a large or binary O(files[].src). The file's content is compared by this digest, one that
            differs is reported in RV(pending_files) unless O(files[].staged) is given, and a transferred file
            that does not have this digest fails the task.
        type: str
      staged:
        description:
          - Set by the action plugin; not for direct use. A file on the host, already transferred, that holds the
            content with digest O(files[].sha256); it is moved into place.
        type: path
      mode:
        description: Octal mode of the file, such as C("0600").
        type: raw
        required: true
      owner:
        description: Owner of this file, instead of O(owner).
        type: str
      group:
        description: Group of this file, instead of O(group).
        type: str
  directories:
    description:
      - Directories to create (with their parents) or to give O(directories[].mode) before the files are written.
      - A file's own directory that is not listed is created with mode C(0755) when missing, and left as it is
        when present.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory.
        type: path
        required: true
      mode:
        description: Octal mode of the directory.
        type: raw
        required: true
      owner:
        description: Owner of this directory, instead of O(owner).
        type: str
      group:
        description: Group of this directory, instead of O(group).
        type: str
  digest_record:
    description:
      - A file on the host (JSON) where the module keeps the sha256 of the files given by O(files[].sha256), with
        each file's size, inode and change time. A file whose stat still matches its entry is not read again, so a
        no-op does not hash hundreds of megabytes of binaries; any write or rename of the file changes its change
        time (which no tool can set back), and it is hashed again. The record is never reported as a change.
      - Without it every such file is hashed on each run.
    type: path
  owner:
    description: Owner of every file and listed directory.
    type: str
    default: root
  group:
    description: Group of every file and listed directory.
    type: str
    default: root
attributes:
  check_mode:
    description: Reports what would change and changes nothing.
    support: full
  diff_mode:
    description: Shows the changes of O(files[].text) files; other contents may be key material and are never shown.
    support: partial
seealso:
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Install the control plane's certificates and keys
  eksd.distro.file_bundle:
    directories:
      - {path: /etc/kubernetes/pki, mode: "0755"}
    files:
      - {path: /etc/kubernetes/pki/ca.crt, src: "{{ pki_dir }}/ca.crt", mode: "0644"}
      - {path: /etc/kubernetes/admin.conf, content: "{{ admin_kubeconfig | to_nice_yaml }}", mode: "0600"}
  no_log: true
  notify: restart kube-apiserver

# Units and configuration of two services in one call: --diff shows them, and only the services whose files
# changed restart.
- name: Write the scheduler's configuration and the units
  eksd.distro.file_bundle:
    files:
      - path: /etc/kubernetes/scheduler-config.yaml
        mode: "0644"
        text: "{{ scheduler_config | to_nice_yaml }}"
        topics: [restart kube-scheduler]
      - path: /etc/systemd/system/kube-scheduler.service
        mode: "0600"
        text: "{{ lookup('ansible.builtin.template', 'kube-scheduler.service.j2') }}"
        topics: [restart kube-scheduler]
      - path: /etc/systemd/system/kube-apiserver.service
        mode: "0600"
        text: "{{ lookup('ansible.builtin.template', 'kube-apiserver.service.j2') }}"
        topics: [restart kube-apiserver]
  register: control_plane_files

- name: Restart what the changed files need
  ansible.builtin.debug:
    msg: "{{ item }}"
  loop: "{{ control_plane_files.changed_topics }}"
  changed_when: true
  notify: "{{ item }}"
"""

RETURN = r"""
changed_files:
  description: Paths of the files (and directories) that were written or would be, in the order given.
  type: list
  elements: str
  returned: always
  sample: [/etc/kubernetes/pki/apiserver.crt]
changed_topics:
  description: The O(files[].topics) of every file that was written or would be (its mode or owner included), once each.
  type: list
  elements: str
  returned: always
  sample: [kube-scheduler restart]
pending_files:
  description:
    - "Paths given by O(files[].sha256) without O(files[].staged) whose content differs: the action plugin
      transfers them and calls the module again. They are counted in RV(changed_files) only in check mode."
  type: list
  elements: str
  returned: always
  sample: [/usr/local/bin/kube-apiserver]
"""

import hashlib
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes

# A file's text is shown in a diff up to this size.
DIFF_LIMIT = 1 << 20


def _set_attributes(module, spec):
    """Give the path its owner, group and mode; whether that changed anything. The SELinux context is left
    to the system's default (atomic_move keeps a replaced file's)."""
    path = spec["path"]
    changed = module.set_owner_if_different(path, spec.get("owner") or module.params["owner"], False)
    changed = module.set_group_if_different(path, spec.get("group") or module.params["group"], changed)
    return module.set_mode_if_different(path, spec["mode"], changed)


def _ensure_directory(module, path, spec, changed_paths):
    """Create path (and parents, mode 0755) if missing; with a spec, give it the spec's mode and owner."""
    if not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent and parent != path:
            _ensure_directory(module, parent, None, changed_paths)
        changed_paths.append(path)
        if module.check_mode:
            return
        os.mkdir(path, 0o755)
    if spec is not None and os.path.isdir(path):
        if _set_attributes(module, spec):
            if path not in changed_paths:
                changed_paths.append(path)


def _install(module, path, data):
    """Write data (bytes) to path atomically: a temporary file beside it, renamed."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".eksd-bundle-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _text_before(path):
    """The file's text for a diff: empty when it is missing, a placeholder when it is not small UTF-8 text."""
    if not os.path.isfile(path):
        return ""
    if os.path.getsize(path) > DIFF_LIMIT:
        return "(a file too large to show)\n"
    with open(path, "rb") as handle:
        try:
            return handle.read().decode("utf-8")
        except UnicodeDecodeError:
            return "(a binary file)\n"


class DigestRecord:
    """{path: [size, inode, ctime_ns, sha256]} of files known to hold a digest, kept in a JSON file on the host."""

    def __init__(self, path):
        self.path = path
        self.entries = {}
        self.dirty = False
        if path and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as handle:
                    loaded = json.load(handle)
                self.entries = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self.entries = {}  # unreadable: every file is hashed and the record written anew

    @staticmethod
    def _key(path):
        info = os.stat(path)
        return [info.st_size, info.st_ino, info.st_ctime_ns]

    def sha256(self, module, path):
        """The file's sha256, from the record when its size, inode and change time are the recorded ones."""
        entry = self.entries.get(path)
        if self.path and isinstance(entry, list) and len(entry) == 4 and entry[:3] == self._key(path):
            return entry[3]
        digest = module.sha256(path)
        self.remember(path, digest)
        return digest

    def remember(self, path, digest):
        if self.path and os.path.isfile(path):
            entry = self._key(path) + [digest]
            if self.entries.get(path) != entry:
                self.entries[path] = entry
                self.dirty = True

    def save(self, module):
        if not (self.path and self.dirty) or module.check_mode:
            return
        os.makedirs(os.path.dirname(self.path), mode=0o755, exist_ok=True)
        _install(module, self.path, json.dumps(self.entries, indent=1, sort_keys=True).encode("utf-8"))


def _write(module, spec, changed_paths, pending_paths, diffs, record):
    path = spec["path"]
    staged = spec.get("staged")
    data = None
    given = spec.get("content") if spec.get("content") is not None else spec.get("text")
    if given is not None:
        data = to_bytes(given, errors="surrogate_or_strict")
        wanted = hashlib.sha256(data).hexdigest()
    else:
        wanted = spec["sha256"].lower()
    current = None
    if os.path.isfile(path):
        current = module.sha256(path) if data is not None else record.sha256(module, path)
    if current != wanted:
        if data is None and not staged:
            # The action plugin transfers it and calls again; in check mode that is the answer.
            pending_paths.append(path)
            if module.check_mode:
                changed_paths.append(path)
            return
        if data is None and module.sha256(staged) != wanted:
            module.fail_json(msg=f"file_bundle: the file transferred for {path} does not have sha256 {wanted}")
        changed_paths.append(path)
        if module._diff and spec.get("text") is not None:
            diffs.append({"before_header": path, "after_header": path, "before": _text_before(path), "after": spec["text"]})
        if module.check_mode:
            return
        if data is None:
            module.atomic_move(staged, path)  # a rename, or a copy beside path then a rename across filesystems
        else:
            _install(module, path, data)
    if os.path.exists(path) and _set_attributes(module, spec):
        if path not in changed_paths:
            changed_paths.append(path)
    if data is None and not module.check_mode:
        record.remember(path, wanted)  # after the move and the attributes, which change the change time


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True, "options": {
                "path": {"type": "path", "required": True},
                "content": {"type": "str", "no_log": True},
                "text": {"type": "str"},
                "topics": {"type": "list", "elements": "str", "default": []},
                "src": {"type": "path"},
                "sha256": {"type": "str"},
                "staged": {"type": "path"},
                "mode": {"type": "raw", "required": True},
                "owner": {"type": "str"},
                "group": {"type": "str"},
            }},
            "directories": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "path", "required": True},
                "mode": {"type": "raw", "required": True},
                "owner": {"type": "str"},
                "group": {"type": "str"},
            }},
            "digest_record": {"type": "path"},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
        },
        supports_check_mode=True,
    )
    for spec in module.params["files"] + module.params["directories"]:
        if not os.path.isabs(spec["path"]):
            module.fail_json(msg=f"file_bundle: {spec['path']} is not an absolute path")
    for spec in module.params["files"]:
        given = [key for key in ("content", "text", "sha256") if spec.get(key) is not None]
        if len(given) != 1:
            module.fail_json(msg=f"file_bundle: {spec['path']} needs exactly one of content, text or src (read on "
                                 f"the controller); got {', '.join(given) or 'none'}")
    changed_paths = []
    pending_paths = []
    diffs = []
    record = DigestRecord(module.params["digest_record"])
    for spec in module.params["directories"]:
        _ensure_directory(module, spec["path"], spec, changed_paths)
    for spec in module.params["files"]:
        _ensure_directory(module, os.path.dirname(spec["path"]), None, changed_paths)
        _write(module, spec, changed_paths, pending_paths, diffs, record)
    record.save(module)
    changed_topics = list(dict.fromkeys(topic for spec in module.params["files"] if spec["path"] in changed_paths
                                        for topic in spec["topics"] or []))
    result = {"changed": bool(changed_paths), "changed_files": changed_paths, "pending_files": pending_paths,
              "changed_topics": changed_topics}
    if diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
