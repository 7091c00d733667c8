"""Tests for plugins/module_utils/mesh.py: the mesh setting of fastd and tunneldigger."""

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import mesh as m

VAR = "fastd_instances[0].mesh"
BATMAN = {"backend": "batman_adv", "interface": "bat0"}
BRIDGE = {"backend": "bridge", "interface": "br-client"}


def one_error(errors, var, *fragments):
    assert len(errors) == 1, errors
    assert errors[0].startswith(var), errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.mark.parametrize("mesh", [
    None,
    BATMAN,
    BRIDGE,
    dict(BATMAN, hop_penalty=0),
    dict(BATMAN, hop_penalty=255),
    dict(BATMAN, hop_penalty=None),
    dict(BATMAN, isolated=False),  # false is the default, so harmless on batman_adv
    dict(BATMAN, isolated=None),
    dict(BRIDGE, isolated=True),
    dict(BRIDGE, isolated=False),
    dict(BRIDGE, hop_penalty=None),
    {"backend": "bridge", "interface": "br.100"},
    {"backend": "batman_adv", "interface": "a" * 15},
])
def test_valid(mesh):
    assert m.validate_mesh(mesh, VAR) == []


@pytest.mark.parametrize("mesh, var, fragments", [
    ("bat0", VAR, ["must be null or a dict with keys backend, interface, hop_penalty, isolated"]),
    ([BATMAN], VAR, ["must be null or a dict"]),
    (True, VAR, ["must be null or a dict"]),
    (dict(BATMAN, mtu=1400, aa=1), VAR + ": unknown keys aa, mtu; valid keys: backend, interface, "
     "hop_penalty, isolated", []),
    ({"interface": "bat0"}, VAR + ".backend", ["must be one of batman_adv, bridge, got None"]),
    (dict(BATMAN, backend="batman-adv"), VAR + ".backend", ["got 'batman-adv'"]),
    ({"backend": "bridge"}, VAR + ".interface", ["1-15 characters", "got None"]),
    (dict(BRIDGE, interface=""), VAR + ".interface", ["got ''"]),
    (dict(BRIDGE, interface="a" * 16), VAR + ".interface", ["1-15 characters"]),
    (dict(BRIDGE, interface="br client"), VAR + ".interface", ["got 'br client'"]),
    (dict(BRIDGE, interface="br/client"), VAR + ".interface", ["got 'br/client'"]),
    (dict(BRIDGE, interface="br:0"), VAR + ".interface", ["got 'br:0'"]),
    (dict(BRIDGE, interface=0), VAR + ".interface", ["got 0"]),
    (dict(BRIDGE, hop_penalty=60), VAR + ".hop_penalty", ["applies to backend batman_adv only"]),
    (dict(BATMAN, hop_penalty=-1), VAR + ".hop_penalty", ["integer 0..255, got -1"]),
    (dict(BATMAN, hop_penalty=256), VAR + ".hop_penalty", ["integer 0..255, got 256"]),
    (dict(BATMAN, hop_penalty="60"), VAR + ".hop_penalty", ["integer 0..255, got '60'"]),
    (dict(BATMAN, hop_penalty=True), VAR + ".hop_penalty", ["integer 0..255, got True"]),
    (dict(BATMAN, hop_penalty=1.5), VAR + ".hop_penalty", ["integer 0..255, got 1.5"]),
    (dict(BRIDGE, isolated="yes"), VAR + ".isolated", ["must be a boolean, got 'yes'"]),
    (dict(BATMAN, isolated="yes"), VAR + ".isolated", ["must be a boolean, got 'yes'"]),
    (dict(BRIDGE, isolated=1), VAR + ".isolated", ["must be a boolean, got 1"]),
    (dict(BATMAN, isolated=True), VAR + ".isolated", ["applies to backend bridge only"]),
])
def test_one_mistake_one_message_naming_the_variable(mesh, var, fragments):
    one_error(m.validate_mesh(mesh, VAR), var, *fragments)


def test_every_mistake_is_reported():
    errors = m.validate_mesh({"backend": "ospf", "interface": "x" * 16, "hop_penalty": 60,
                              "isolated": True, "metric": 1}, VAR)
    assert [e.split(" ", 1)[0] for e in errors] == [
        VAR + ":", VAR + ".backend", VAR + ".interface", VAR + ".hop_penalty", VAR + ".isolated"]


def test_default_variable_name():
    one_error(m.validate_mesh({"backend": "bridge"}), "mesh.interface")
    one_error(m.validate_mesh("bat0"), "mesh must be null")


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names_are_not_interfaces(name):
    one_error(m.validate_mesh(dict(BRIDGE, interface=name), VAR), VAR + ".interface")
