"""Tests for plugins/module_utils/batman.py and plugins/filter/batman.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.freifunk.gateway.plugins.filter import batman as flt
from ansible_collections.freifunk.gateway.plugins.module_utils import batman

VAR = "batman_adv_meshes"


def errors_of(meshes):
    return batman.validate_meshes(meshes)


def test_defaults_are_valid():
    assert errors_of([{"name": "bat0"}]) == []
    assert errors_of([{}]) == []  # every key has a default
    assert errors_of([{"name": "bat0"}, {"name": "bat1", "bridge": "br-dom1",
                                         "addresses": ["2001:db8::1/64", "192.0.2.1/24"]}]) == []


@pytest.mark.parametrize("meshes, expected", [
    ("bat0", "batman_adv_meshes must be a list"),
    (["bat0"], "batman_adv_meshes[0] must be a dict"),
    ([{"name": "bat0", "gw": "server"}], "batman_adv_meshes[0]: unknown keys gw; valid keys: name,"),
    ([{"name": "bat-with-a-very-long-name"}], "batman_adv_meshes[0].name must be an interface name: 1-15 letters"),
    ([{"name": ".."}], "batman_adv_meshes[0].name must be an interface name"),
    ([{"name": "bat0"}, {"name": "bat0"}], "batman_adv_meshes[1].name: interface bat0 is already used by batman_adv_meshes[0].name"),
    ([{"name": "bat0", "bridge": "bat0"}], "batman_adv_meshes[0].bridge: interface bat0 is already used by batman_adv_meshes[0].name"),
    ([{"routing_algorithm": "BATMAN_III"}], "batman_adv_meshes[0].routing_algorithm must be one of BATMAN_IV, BATMAN_V"),
    ([{"gw_mode": False}], "batman_adv_meshes[0].gw_mode must be one of server, client, off, got boolean false"),
    ([{"gw_bandwidth_down": "100M"}], "batman_adv_meshes[0].gw_bandwidth_down must be a bandwidth in kbit/s"),
    ([{"gw_bandwidth_up": 0}], "batman_adv_meshes[0].gw_bandwidth_up must be a bandwidth in kbit/s"),
    ([{"hop_penalty": 256}], "batman_adv_meshes[0].hop_penalty must be an integer 0..255, got 256"),
    ([{"hop_penalty": True}], "batman_adv_meshes[0].hop_penalty must be an integer 0..255"),
    ([{"addresses": "2001:db8::1/64"}], "batman_adv_meshes[0].addresses must be a list"),
    ([{"addresses": ["2001:db8::1"]}], "batman_adv_meshes[0].addresses[0]: string '2001:db8::1' is not an address with prefix length"),
    ([{"addresses": ["not-an-address/24"]}], "batman_adv_meshes[0].addresses[0]: string 'not-an-address/24'"),
])
def test_each_mistake_is_named(meshes, expected):
    errors = errors_of(meshes)
    assert len(errors) == 1, errors
    assert errors[0].startswith(expected), errors


def test_all_mistakes_are_reported_at_once():
    errors = errors_of([{"name": "", "hop_penalty": -1, "gw_mode": "master"}])
    assert [e.split(" ")[0] for e in errors] == [
        VAR + "[0].name", VAR + "[0].gw_mode", VAR + "[0].hop_penalty"]


def test_normalized_fills_defaults_and_refuses_bad_input():
    assert flt.batman_adv_meshes_normalized([{"name": "bat1", "hop_penalty": 30}]) == [{
        "name": "bat1", "routing_algorithm": "BATMAN_IV", "gw_mode": "server",
        "gw_bandwidth_down": 100000, "gw_bandwidth_up": 100000, "hop_penalty": 30,
        "bridge": None, "addresses": []}]
    with pytest.raises(AnsibleFilterError, match=r"batman_adv_meshes\[0\].hop_penalty"):
        flt.batman_adv_meshes_normalized([{"hop_penalty": 999}])


@pytest.mark.parametrize("mesh, commands", [
    ({"name": "bat0", "gw_mode": "server", "gw_bandwidth_down": 50000, "gw_bandwidth_up": 10000, "hop_penalty": 15},
     [["batctl", "meshif", "bat0", "gw_mode", "server", "50000kbit/10000kbit"],
      ["batctl", "meshif", "bat0", "hop_penalty", "15"]]),
    ({"name": "bat1", "gw_mode": "off", "gw_bandwidth_down": 1, "gw_bandwidth_up": 1, "hop_penalty": 0},
     [["batctl", "meshif", "bat1", "gw_mode", "off"],
      ["batctl", "meshif", "bat1", "hop_penalty", "0"]]),
])
def test_batctl_commands(mesh, commands):
    assert flt.batman_adv_batctl_commands(mesh) == commands


def test_role_defaults_agree_with_module_utils():
    import os
    import yaml
    root = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
    with open(os.path.join(root, "roles", "batman_adv", "meta", "argument_specs.yml")) as f:
        spec = yaml.safe_load(f)["argument_specs"]["main"]["options"]["batman_adv_meshes"]["options"]
    documented = {k: v.get("default") for k, v in spec.items()}
    assert documented == batman.MESH_DEFAULTS


def test_integers_given_as_strings_are_integers():
    (mesh,) = flt.batman_adv_meshes_normalized([{"gw_bandwidth_down": "50000", "gw_bandwidth_up": "10000",
                                                 "hop_penalty": "30"}])
    assert (mesh["gw_bandwidth_down"], mesh["gw_bandwidth_up"], mesh["hop_penalty"]) == (50000, 10000, 30)
    assert all(mesh[k].__class__ is int for k in batman.INT_KEYS)
    assert flt.batman_adv_batctl_commands(mesh)[0][-1] == "50000kbit/10000kbit"


@pytest.mark.parametrize("meshes, expected", [
    ([{"gw_bandwidth_down": "100M"}],
     "batman_adv_meshes[0].gw_bandwidth_down must be a bandwidth in kbit/s, an integer 1..4294967295, "
     "got string '100M'"),
    ([{"hop_penalty": True}], "batman_adv_meshes[0].hop_penalty must be an integer 0..255, got boolean true"),
    ([{"name": 0}], "batman_adv_meshes[0].name must be an interface name: 1-15 letters, digits, '_', '.' "
                    "or '-', not '.' or '..'; got 0"),
    ([{"addresses": ["fe80::1%x/64"]}], "batman_adv_meshes[0].addresses[0]: string 'fe80::1%x/64' is not"),
    ([{"addresses": [167772161]}], "batman_adv_meshes[0].addresses[0]: 167772161 is not"),
    ([{"addresses": ["10.0.0.1/24\n"]}], "batman_adv_meshes[0].addresses[0]: string '10.0.0.1/24\\n' is not"),
    ({"name": "bat0"}, "batman_adv_meshes must be a list of meshes, got dict"),
    ([["bat0"]], "batman_adv_meshes[0] must be a dict, got list"),
])
def test_messages_in_the_users_terms(meshes, expected):
    (error,) = errors_of(meshes)
    assert error.startswith(expected), error


def test_meshes_with_non_string_keys_are_reported_not_raised():
    assert errors_of([{1: 2}]) == ["batman_adv_meshes[0]: unknown keys 1; valid keys: name, routing_algorithm, "
                                   "gw_mode, gw_bandwidth_down, gw_bandwidth_up, hop_penalty, bridge, addresses"]
