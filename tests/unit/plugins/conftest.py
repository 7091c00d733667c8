"""Run a module's main() in-process, the way Ansible hands it its arguments:
fixtures for the tests of the modules and of the action plugins that run them."""

import json

import pytest
from ansible.module_utils import basic


@pytest.fixture
def set_module_args(monkeypatch):
    """set_module_args(args, check_mode=False, diff=False): the arguments the
    next module main() in this test reads."""
    def set_args(args, check_mode=False, diff=False):
        full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": full}).encode())
        # ansible-core 2.19 and later read the arguments by a serialization
        # profile; the older lines (make matrix) have none.
        if hasattr(basic, "_ANSIBLE_PROFILE"):
            monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    return set_args


@pytest.fixture
def run_module(capsys, set_module_args):
    """run_module(module, args, check_mode=False, diff=False) -> (result, stdout).

    The result is the JSON the module printed (what Ansible would receive);
    stdout is that text unparsed, for checks such as "no secret in the output".
    """
    def run(module, args, check_mode=False, diff=False):
        set_module_args(args, check_mode=check_mode, diff=diff)
        capsys.readouterr()
        with pytest.raises(SystemExit):
            module.main()
        out = capsys.readouterr().out
        return json.loads(out), out
    return run
