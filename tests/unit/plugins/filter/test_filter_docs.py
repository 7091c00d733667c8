"""Every filter of every filter plugin of the collection is registered under
its own name and documented in plugins/filter/NAME.yml, whose positional
options are the function's parameters (the first one being the piped-in
_input)."""

import importlib
import inspect
import os

import pytest
import yaml

REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
FILTER_DIR = os.path.join(REPO, "plugins", "filter")
PLUGINS = sorted(f[:-3] for f in os.listdir(FILTER_DIR) if f.endswith(".py") and not f.startswith("_"))


def _filters():
    for plugin in PLUGINS:
        module = importlib.import_module("ansible_collections.freifunk.gateway.plugins.filter." + plugin)
        for name, func in sorted(module.FilterModule().filters().items()):
            yield pytest.param(name, func, id=name)


def test_every_filter_plugin_offers_filters():
    assert "tunneldigger" in PLUGINS and "fastd" in PLUGINS
    assert len(list(_filters())) >= 20


@pytest.mark.parametrize("name, func", list(_filters()))
def test_documentation_matches_the_filter(name, func):
    assert func.__name__ == name
    with open(os.path.join(FILTER_DIR, name + ".yml")) as handle:
        doc = yaml.safe_load(handle)
    assert set(doc) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    docs = doc["DOCUMENTATION"]
    assert docs["name"] == name
    assert str(docs["version_added"]) == "0.1.0"
    assert docs["author"] == ["freifunk.gateway maintainers (@freifunk-gateway)"]
    assert "freifunk.gateway." + name in doc["EXAMPLES"]
    assert "_value" in doc["RETURN"]

    params = list(inspect.signature(func).parameters.values())
    positional = [p.strip() for p in docs["positional"].split(",")]
    assert positional == ["_input"] + [p.name for p in params[1:]]
    assert sorted(docs["options"]) == sorted(positional)
    for param, option in zip(params, positional):
        spec = docs["options"][option]
        if param.default is inspect.Parameter.empty:
            assert spec.get("required") is True, option
        else:
            assert spec.get("default") == param.default, option


def test_every_documented_filter_exists():
    documented = sorted(f[:-4] for f in os.listdir(FILTER_DIR) if f.endswith(".yml"))
    assert documented == sorted(p.values[0] for p in _filters())
