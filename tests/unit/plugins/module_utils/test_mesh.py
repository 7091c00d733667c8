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
    ("bat0", VAR, ["must be null or a dict with keys backend, interface, hop_penalty, isolated, mac"]),
    ([BATMAN], VAR, ["must be null or a dict"]),
    (True, VAR, ["must be null or a dict"]),
    (dict(BATMAN, mtu=1400, aa=1), VAR + ": unknown keys aa, mtu; valid keys: backend, interface, "
     "hop_penalty, isolated, mac", []),
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
    (BATMAN, dict(BATMAN, hop_penalty=None, isolated=None, mac=None)),
    (dict(BATMAN, hop_penalty="60"), dict(BATMAN, hop_penalty=60, isolated=None, mac=None)),
    (dict(BRIDGE, isolated=True), dict(BRIDGE, hop_penalty=None, isolated=True, mac=None)),
    (dict(BRIDGE, mac="derive"), dict(BRIDGE, hop_penalty=None, isolated=None, mac="derive")),
    (dict(BRIDGE, mac="02:AB:cd:00:00:01"), dict(BRIDGE, hop_penalty=None, isolated=None, mac="02:ab:cd:00:00:01")),
])
def test_normalize_mesh(mesh, expected):
    normalized = m.normalize_mesh(mesh)
    assert normalized == expected
    if normalized and normalized["hop_penalty"] is not None:
        assert normalized["hop_penalty"].__class__ is int


# --- mac: a fixed address where there is one interface, derived ones everywhere ----

@pytest.mark.parametrize("mac", [None, "derive"])
@pytest.mark.parametrize("one_interface", [False, True])
def test_mac_null_or_derive_everywhere(mac, one_interface):
    assert m.validate_mesh(dict(BATMAN, mac=mac), VAR, one_interface=one_interface) == []


@pytest.mark.parametrize("mac", ["02:00:5e:10:00:01", "02:AB:CD:EF:01:23", "00:1b:21:00:00:01", "fe:ff:ff:ff:ff:ff"])
def test_fixed_unicast_mac_with_one_interface(mac):
    assert m.validate_mesh(dict(BRIDGE, mac=mac), VAR, one_interface=True) == []


def test_fixed_mac_refused_for_per_peer_interfaces():
    # the default: tunneldigger sessions and fastd multitap have one interface per peer
    one_error(m.validate_mesh(dict(BATMAN, mac="02:00:5e:10:00:01"), VAR), VAR + ".mac",
              "same on every per-peer interface", "use mac: derive", "mode tap")


@pytest.mark.parametrize("mac, fragments", [
    ("01:00:5e:00:00:01", ["is a multicast address", "first octet even"]),
    ("ff:ff:ff:ff:ff:ff", ["is a multicast address"]),
    ("00:00:00:00:00:00", ["00:00:00:00:00:00 is not an interface address"]),
    ("02:00:5e:10:00", ["must be null, 'derive' or a MAC address", "got string '02:00:5e:10:00'"]),
    ("02-00-5e-10-00-01", ["got string '02-00-5e-10-00-01'"]),
    ("02:00:5e:10:00:01\n", ["got string '02:00:5e:10:00:01\\n'"]),  # "$" would match before the newline
    ("02:00:5e:10:00:0g", ["got string"]),
    ("Derive", ["got string 'Derive'"]),
    ("random", ["got string 'random'"]),
    (True, ["got boolean true"]),
    (20015998304257, ["got 20015998304257"]),
])
def test_bad_mac(mac, fragments):
    one_error(m.validate_mesh(dict(BRIDGE, mac=mac), VAR, one_interface=True), VAR + ".mac", *fragments)


@pytest.mark.parametrize("mesh, action, expected", [
    (dict(BRIDGE, mac="derive"), "attach", ["--backend", "bridge", "--bridge", "br-client", "--mac", "derive"]),
    (dict(BATMAN, mac="02:AB:00:00:00:01", hop_penalty=60), "attach",
     ["--backend", "batman_adv", "--mesh", "bat0", "--hop-penalty", "60", "--mac", "02:ab:00:00:00:01"]),
    (dict(BRIDGE, mac="derive"), "detach", ["--backend", "bridge", "--bridge", "br-client"]),
    (dict(BRIDGE, mac=None), "attach", ["--backend", "bridge", "--bridge", "br-client"]),
])
def test_mesh_arguments_pass_mac_on_attach_only(mesh, action, expected):
    assert m.mesh_arguments(mesh, action) == expected


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


# --- mac in the daemons' instances: fixed only for fastd in tap mode ---------------

@pytest.mark.parametrize("mode, interface, mac, expected", [
    ("tap", "mesh-vpn", "02:00:5e:10:00:01", []),
    ("tap", "mesh-vpn", "derive", []),
    ("multitap", "mesh-%k", "derive", []),
    ("multitap", "mesh-%k", "02:00:5e:10:00:01", ["fastd_instances[0].mesh.mac: a fixed address would be the "
                                                  "same on every per-peer interface"]),
])
def test_fastd_allows_a_fixed_mac_in_tap_mode_only(mode, interface, mac, expected):
    from ansible_collections.freifunk.gateway.plugins.module_utils import fastd
    inst = {"name": "mesh0", "port": 10000, "mode": mode, "interface": interface, "mesh": dict(BRIDGE, mac=mac)}
    errors = fastd.validate_instances([inst])
    assert [e for e in errors if not any(e.startswith(x) for x in expected)] == []
    assert len(errors) == len(expected), errors


def test_tunneldigger_refuses_a_fixed_mac():
    from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger
    errors = tunneldigger.validate_instances(
        [{"name": "td", "address": "10.0.0.1", "interface": "eth0", "ports": [20000],
          "mesh": dict(BATMAN, mac="02:00:5e:10:00:01")}])
    assert any(e.startswith("tunneldigger_instances[0].mesh.mac: a fixed address") for e in errors), errors
