"""Every role's defaults, meta/argument_specs.yml and README say the same."""

import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = sorted(
    name for name in os.listdir(os.path.join(ROOT, "roles"))
    if os.path.isdir(os.path.join(ROOT, "roles", name))
)


def _load(role, *parts):
    path = os.path.join(ROOT, "roles", role, *parts)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return yaml.safe_load(f)


def test_there_are_roles():
    assert "on_connect" in ROLES


@pytest.mark.parametrize("role", ROLES)
def test_defaults_match_argument_specs(role):
    defaults = _load(role, "defaults", "main.yml") or {}
    spec = _load(role, "meta", "argument_specs.yml")
    assert spec, f"roles/{role}/meta/argument_specs.yml is missing"
    options = spec["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(k for k in options if "default" in options[k] or k in defaults), (
        f"roles/{role}: defaults/main.yml and argument_specs.yml disagree on which variables have defaults")
    for key, value in defaults.items():
        assert key in options, f"roles/{role}: {key} is in defaults/main.yml but not in argument_specs.yml"
        assert options[key].get("default") == value, (
            f"roles/{role}: default of {key} is {value!r} in defaults/main.yml "
            f"but {options[key].get('default')!r} in argument_specs.yml")
    for key in options:
        assert key.startswith(role.split("_")[0]) or key.startswith(role), (
            f"roles/{role}: public variable {key} lacks the role's prefix")


@pytest.mark.parametrize("role", ROLES)
def test_readme_documents_every_variable(role):
    readme = os.path.join(ROOT, "roles", role, "README.md")
    assert os.path.exists(readme), f"roles/{role}/README.md is missing"
    with open(readme) as f:
        text = f.read()
    options = _load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    for key in options:
        assert re.search(r"`%s`" % re.escape(key), text), f"roles/{role}/README.md does not document {key}"
