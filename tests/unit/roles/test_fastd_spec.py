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
    for key in fastd.INSTANCE_DEFAULTS:
        assert "| `%s` |" % key in readme, key
