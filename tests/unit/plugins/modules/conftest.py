"""Run a module's main() in-process, the way Ansible hands it its arguments."""

import json

import pytest
from ansible.module_utils import basic


@pytest.fixture
def run_module(capsys, monkeypatch):
    """run_module(module, args, check_mode=False, diff=False) -> (result, stdout).

    The result is the JSON the module printed (what Ansible would receive);
    stdout is that text unparsed, for checks such as "no secret in the output".
    """
    def run(module, args, check_mode=False, diff=False):
        full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS",
                            json.dumps({"ANSIBLE_MODULE_ARGS": full}).encode())
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
        capsys.readouterr()
        with pytest.raises(SystemExit):
            module.main()
        out = capsys.readouterr().out
        return json.loads(out), out
    return run
