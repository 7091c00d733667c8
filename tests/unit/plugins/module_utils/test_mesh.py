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
    dict(BATMAN, hop_penalty="60"),  # YAML quoting or old templating: an integer all the same
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
    ({"interface": "bat0"}, VAR + ".backend", ["must be one of batman_adv, bridge, got null"]),
    (dict(BATMAN, backend="batman-adv"), VAR + ".backend", ["got string 'batman-adv'"]),
    ({"backend": "bridge"}, VAR + ".interface", ["1-15 letters", "got null"]),
    (dict(BRIDGE, interface=""), VAR + ".interface", ["got string ''"]),
    (dict(BRIDGE, interface="a" * 16), VAR + ".interface", ["1-15 letters"]),
    (dict(BRIDGE, interface="br client"), VAR + ".interface", ["got string 'br client'"]),
    (dict(BRIDGE, interface="br/client"), VAR + ".interface", ["got string 'br/client'"]),
    (dict(BRIDGE, interface="br:0"), VAR + ".interface", ["got string 'br:0'"]),
    (dict(BRIDGE, interface="bat0\n"), VAR + ".interface", ["got string 'bat0\\n'"]),
    (dict(BRIDGE, interface=0), VAR + ".interface", ["got 0"]),
    (dict(BRIDGE, hop_penalty=60), VAR + ".hop_penalty", ["applies to backend batman_adv only"]),
    (dict(BATMAN, hop_penalty=-1), VAR + ".hop_penalty", ["integer 0..255, got -1"]),
    (dict(BATMAN, hop_penalty=256), VAR + ".hop_penalty", ["integer 0..255, got 256"]),
    (dict(BATMAN, hop_penalty="sixty"), VAR + ".hop_penalty", ["integer 0..255, got string 'sixty'"]),
    (dict(BATMAN, hop_penalty="256"), VAR + ".hop_penalty", ["integer 0..255, got string '256'"]),
    (dict(BATMAN, hop_penalty=True), VAR + ".hop_penalty", ["integer 0..255, got boolean true"]),
    (dict(BATMAN, hop_penalty=1.5), VAR + ".hop_penalty", ["integer 0..255, got float 1.5"]),
    (dict(BRIDGE, isolated="yes"), VAR + ".isolated",
     ["must be a boolean (true or false), got string 'yes' (write true or false without quotes)"]),
    (dict(BATMAN, isolated="yes"), VAR + ".isolated", ["must be a boolean", "got string 'yes'"]),
    (dict(BRIDGE, isolated=1), VAR + ".isolated", ["must be a boolean (true or false), got 1"]),
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


@pytest.mark.parametrize("mesh, expected", [
    (None, None),
    (BATMAN, dict(BATMAN, hop_penalty=None, isolated=None)),
    (dict(BATMAN, hop_penalty="60"), dict(BATMAN, hop_penalty=60, isolated=None)),
    (dict(BRIDGE, isolated=True), dict(BRIDGE, hop_penalty=None, isolated=True)),
])
def test_normalize_mesh(mesh, expected):
    normalized = m.normalize_mesh(mesh)
    assert normalized == expected
    if normalized and normalized["hop_penalty"] is not None:
        assert normalized["hop_penalty"].__class__ is int


# --- contract_errors: the mesh interface must exist or be configured ---------------

def inst(name, mesh):
    return {"name": name, "mesh": mesh}


@pytest.mark.parametrize("instances, meshes, host, expected", [
    ([inst("a", BATMAN)], [{"name": "bat0"}], [], []),
    ([inst("a", BATMAN)], None, ["lo", "bat0"], []),
    ([inst("a", BRIDGE)], [{"name": "bat0", "bridge": "br-client"}], [], []),
    ([inst("a", BRIDGE)], None, ["br-client"], []),
    ([inst("a", None), inst("b", {})], None, [], []),
    ([inst("a", dict(BATMAN, interface="bat1"))], [{"name": "bat0"}], ["lo"],
     ["fastd_instances[0].mesh.interface: bat1 is not a mesh of batman_adv_meshes (bat0) and does not "
      "exist on the host"]),
    ([inst("a", BATMAN)], None, ["lo"],
     ["fastd_instances[0].mesh.interface: batman-adv interface bat0 does not exist on the host; create it "
      "with the freifunk.gateway.batman_adv role (batman_adv_meshes)"]),
    ([inst("a", None), inst("b", BRIDGE)], [{"name": "bat0"}], ["lo"],
     ["fastd_instances[1].mesh.interface: bridge br-client does not exist on the host and no "
      "batman_adv_meshes[].bridge creates it; create the bridge first (for example as the client "
      "bridge of batman_adv_meshes)"]),
])
def test_contract_errors(instances, meshes, host, expected):
    assert m.contract_errors(instances, meshes, host) == expected


def test_contract_errors_default_mesh_name_and_variable():
    assert m.contract_errors([inst("a", BATMAN)], [{}], []) == []  # batman_adv_meshes name defaults to bat0
    (error,) = m.contract_errors([inst("a", BRIDGE)], [], [], var="tunneldigger_instances")
    assert error.startswith("tunneldigger_instances[0].mesh.interface: bridge br-client")


def test_contract_errors_name_the_index_an_instance_carries():
    # tunneldigger's normalized present brokers keep their place in the variable
    errors = m.contract_errors([{"name": "td", "index": 3, "mesh": {"backend": "bridge", "interface": "br-x"}}],
                               None, [], "tunneldigger_instances")
    assert errors[0].startswith("tunneldigger_instances[3].mesh.interface: bridge br-x does not exist")
