"""Run a module's main() in-process with given arguments, as the module unit tests do
(the pattern of ansible's own module tests): exit_json and fail_json become exceptions that carry the result."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def _exit_json(self, **kwargs):
    raise ExitJson(kwargs)


def _fail_json(self, **kwargs):
    kwargs["failed"] = True
    raise FailJson(kwargs)


def run_main(main, args: dict, check_mode: bool = False) -> dict:
    """Run main() with ``args``; return its exit_json or fail_json arguments."""
    payload = dict(args, _ansible_check_mode=check_mode)
    with mock.patch.object(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))), \
            mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json), \
            pytest.raises((ExitJson, FailJson)) as raised:
        main()
    return raised.value.args[0]
