"""The fastd role's argument spec documents exactly the keys and defaults
that module_utils/fastd.py validates and fills in (one source of truth)."""

import os

import yaml

from ansible_collections.freifunk.gateway.plugins.module_utils import fastd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _instance_spec():
    with open(os.path.join(ROOT, "roles", "fastd", "meta", "argument_specs.yml")) as f:
        spec = yaml.safe_load(f)
    return spec["argument_specs"]["main"]["options"]["fastd_instances"]["options"]


def test_spec_has_every_instance_key():
    assert sorted(_instance_spec()) == sorted(fastd.INSTANCE_DEFAULTS)


def test_spec_defaults_are_module_utils_defaults():
    for key, option in _instance_spec().items():
        if key in fastd.REQUIRED_INSTANCE_KEYS:
            assert option.get("required") is True, key
        else:
            assert option.get("default") == fastd.INSTANCE_DEFAULTS[key], key


def test_readme_lists_every_instance_key():
    with open(os.path.join(ROOT, "roles", "fastd", "README.md")) as f:
        readme = f.read()
    for key in fastd.INSTANCE_DEFAULTS:  # rows of the table tests/bed/role_docs.py generates
        assert "| `fastd_instances[].%s` |" % key in readme, key


def _role_options(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as f:
        return yaml.safe_load(f)["argument_specs"]["main"]["options"]


def test_variables_with_a_python_validator_are_not_checked_twice():
    """One validator per variable: Ansible's argument spec checks the keys of
    a list of dicts with its own rules and messages before the role's own
    validator runs (a quoted port passed one and failed the other; unknown
    keys got Ansible's generic message). Type raw keeps the documentation of
    the keys and leaves the checking to module_utils."""
    for role, var in (("fastd", "fastd_instances"), ("batman_adv", "batman_adv_meshes")):
        option = _role_options(role)[var]
        assert option["type"] == "raw", (role, var)
        assert option.get("options"), (role, var)  # the keys stay documented
