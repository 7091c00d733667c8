"""Tests for plugins/module_utils/tunneldigger.py: the rules for
tunneldigger_instances, tunneldigger_source and tunneldigger_blocked_uuids,
and the broker config and hook commands rendered from them.

What the broker does with its config is taken from tunneldigger v0.4.0
(broker/src/tunneldigger_broker/main.py, broker.py, tunnel.py); the
config test below reads the rendered file the way main.py does."""

import configparser
import copy
import logging

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger as td
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import IFNAME_MAX, describe

VAR = "tunneldigger_instances"
SCRIPT = "/usr/local/sbin/freifunk-on-connect"
SHA = "sha256:" + "0123456789abcdef" * 4
BATMAN = {"backend": "batman_adv", "interface": "bat0"}
BRIDGE = {"backend": "bridge", "interface": "br-client"}


def inst(**extra):
    value = {"name": "td0", "address": "192.0.2.1", "ports": [8942], "interface": "eth0"}
    value.update(extra)
    return value


def second(**extra):
    """An instance that clashes with inst() in nothing."""
    value = inst(name="td1", ports=[8943], tunnel_id_base=2000)
    value.update(extra)
    return value


def errors_of(instance, **kwargs):
    return td.validate_instances([instance], **kwargs)


def one_error(errors, var, *fragments):
    assert len(errors) == 1, errors
    assert errors[0].startswith(var), errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def normalized(**extra):
    return td.instance_with_defaults(inst(**extra))


# --- valid instances -----------------------------------------------------------

@pytest.mark.parametrize("instances", [
    [],
    [inst()],
    [inst(ports=[8942, "10000", 20000])],  # digit strings are ports all the same
    [inst(), second()],
    [inst(), {"name": "old", "state": "absent"}],
    [inst(state="present", max_tunnels=1, tunnel_id_base=1, connection_rate_limit=0,
          connection_rate_limit_per_ip_count=5, connection_rate_limit_per_ip_time=60, pmtu=1446, mtu=1280,
          log_verbosity="DEBUG", log_ip_addresses=True, mesh=dict(BATMAN, hop_penalty=60))],
    [inst(max_tunnels="1024", tunnel_id_base="100", pmtu="0", mtu="1400",
          connection_rate_limit="0.2", connection_rate_limit_per_ip_time="2.5")],
])
def test_valid_instances(instances):
    assert td.validate_instances(instances) == []


def test_absent_instance_needs_only_its_name():
    """Whatever else an absent instance carries is not checked: it is about to go."""
    assert td.validate_instances([{"name": "old", "state": "absent", "ports": "junk", "address": "::1"}]) == []
    assert td.validate_instances([{"state": "absent"}]) == ["tunneldigger_instances[0].name is required"]


# --- shape and required keys ------------------------------------------------------

@pytest.mark.parametrize("key", td.REQUIRED_KEYS)
def test_each_required_key_is_named(key):
    value = inst()
    del value[key]
    assert errors_of(value) == ["tunneldigger_instances[0].%s is required" % key]


def test_all_required_keys_at_once():
    assert td.validate_instances([{}]) == [
        "tunneldigger_instances[0].name is required",
        "tunneldigger_instances[0].address is required",
        "tunneldigger_instances[0].ports is required",
        "tunneldigger_instances[0].interface is required",
    ]


@pytest.mark.parametrize("instances, expected", [
    ({"name": "td0"}, ["tunneldigger_instances must be a list of broker instances, got dict"]),
    ("td0", ["tunneldigger_instances must be a list of broker instances, got string 'td0'"]),
    (None, ["tunneldigger_instances must be a list of broker instances, got null"]),
    (["td0", 5], ["tunneldigger_instances[0] must be a dict, got string 'td0'",
                  "tunneldigger_instances[1] must be a dict, got 5"]),
])
def test_shape(instances, expected):
    assert td.validate_instances(instances) == expected


def test_the_variable_name_is_a_parameter():
    assert td.validate_instances([{"name": "td0"}], var="site_brokers")[0] == "site_brokers[0].address is required"


def test_unknown_keys():
    one_error(errors_of(inst(port=8942, bogus=1)), "tunneldigger_instances[0]: unknown keys bogus, port",
              "valid keys: name, state, address, ports, interface")


@pytest.mark.parametrize("state", ["started", "", None, True, ["absent"]])
def test_state(state):
    one_error(errors_of(inst(state=state)), "tunneldigger_instances[0].state must be one of present, absent",
              "got %s" % describe(state))


@pytest.mark.parametrize("name", ["td0", "a", "0", "ffki-td_1", "a" * 32])
def test_good_names(name):
    assert errors_of(inst(name=name)) == []


@pytest.mark.parametrize("name", ["TD0", "-td", "_td", "a" * 33, "td 0", "td/0", "td0\n", "td@x", "", 5, None])
def test_bad_names(name):
    one_error(errors_of(inst(name=name)), "tunneldigger_instances[0].name must be 1-32 characters",
              "tunneldigger@<name>", "got %s" % describe(name))


def test_names_are_unique_absent_ones_included():
    assert td.validate_instances([inst(), second(name="td0")]) == [
        "tunneldigger_instances[1].name: 'td0' is already used by tunneldigger_instances[0]"]
    assert td.validate_instances([inst(), {"name": "td0", "state": "absent"}]) == [
        "tunneldigger_instances[1].name: 'td0' is already used by tunneldigger_instances[0]"]


# --- address ---------------------------------------------------------------------

@pytest.mark.parametrize("address", ["192.0.2.1", "10.0.0.1", "127.0.0.1"])
def test_good_addresses(address):
    assert errors_of(inst(address=address)) == []


@pytest.mark.parametrize("address", ["2001:db8::1", "fe80::1%eth0", "::ffff:192.0.2.1", "::"])
def test_ipv6_address_is_refused_for_want_of_ipv6_transport(address):
    assert errors_of(inst(address=address)) == [
        "tunneldigger_instances[0].address: %s is IPv6, but the tunneldigger broker has no IPv6 transport "
        "(nodes reach brokers over IPv4 only); give the interface's IPv4 address" % address]


def test_unspecified_address_is_refused():
    one_error(errors_of(inst(address="0.0.0.0")), "tunneldigger_instances[0].address must be one address",
              "not 0.0.0.0")


@pytest.mark.parametrize("address", ["gw.example.org", "192.0.2.1\n", " 192.0.2.1", "192.0.2.1/24",
                                     "192.0.2.256", "192.0.2.1:8942", ""])
def test_non_addresses(address):
    assert errors_of(inst(address=address)) == [
        "tunneldigger_instances[0].address must be an IPv4 address (the broker binds to one address of its "
        "interface), got %s" % describe(address)]


@pytest.mark.parametrize("address", [None, 3232235521, ["192.0.2.1"]])
def test_address_of_the_wrong_type(address):
    assert errors_of(inst(address=address)) == [
        "tunneldigger_instances[0].address must be the broker's IPv4 address, got %s" % describe(address)]


# --- ports -----------------------------------------------------------------------

@pytest.mark.parametrize("ports", [8942, "8942", [], None, {"udp": 8942}])
def test_ports_must_be_a_non_empty_list(ports):
    assert errors_of(inst(ports=ports)) == [
        "tunneldigger_instances[0].ports must be a non-empty list of UDP ports (1..65535), got %s" % describe(ports)]


@pytest.mark.parametrize("port", [0, 65536, -1, "x", "", True, None, 8942.0, "8942 "])
def test_bad_port(port):
    assert errors_of(inst(ports=[8942, port])) == [
        "tunneldigger_instances[0].ports[1] must be a UDP port 1..65535, got %s" % describe(port)]


@pytest.mark.parametrize("port", [1, 65535, "53"])
def test_port_range_ends(port):
    assert errors_of(inst(ports=[port])) == []


@pytest.mark.parametrize("ports", [[8942, 8942], [8942, "8942"]])
def test_duplicate_ports(ports):
    assert errors_of(inst(ports=ports)) == ["tunneldigger_instances[0].ports[1]: port 8942 is listed twice"]


def test_port_shared_between_instances():
    assert td.validate_instances([inst(ports=[8942, 10000]), second(ports=[10001, "10000"])]) == [
        "tunneldigger_instances[1].ports[1]: port 10000 is already used by tunneldigger_instances[0]; brokers "
        "bind with SO_REUSEPORT, so a shared port starts without error and then loses handshakes at random"]


def test_port_shared_with_fastd():
    fastd = [{"name": "mesh0", "port": "8942", "interface": "fft-%k"}]
    assert td.validate_instances([inst()], fastd) == [
        "tunneldigger_instances[0].ports[0]: port 8942 is already used by fastd_instances[0] (mesh0); brokers "
        "bind with SO_REUSEPORT, so a shared port starts without error and then loses handshakes at random"]


@pytest.mark.parametrize("fastd", [
    [{"name": "mesh0", "port": 8942, "state": "absent"}],  # going away: its port is free
    [{"name": "mesh0", "port": 10000}],
    [{"name": "mesh0"}, "junk", {"name": "mesh1", "port": "x"}],  # fastd's own rules report these
    None,
    {"name": "mesh0", "port": 8942},
])
def test_ports_that_do_not_clash_with_fastd(fastd):
    assert td.validate_instances([inst()], fastd) == []


def test_absent_instances_free_their_ports_and_ids():
    assert td.validate_instances([{"name": "old", "state": "absent", "ports": [8942]}, inst()]) == []
    assert td.validate_instances([inst(), {"name": "old", "state": "absent", "ports": [8942],
                                           "tunnel_id_base": 100}]) == []


# --- tunnel id ranges and interface names ----------------------------------------

def test_overlapping_id_ranges_with_the_defaults():
    assert td.validate_instances([inst(), second(tunnel_id_base=1000)]) == [
        "tunneldigger_instances[1]: tunnel ids 1000..2023 (tunnel_id_base .. + max_tunnels - 1) overlap "
        "tunneldigger_instances[0] (100..1123); give each broker its own range"]


@pytest.mark.parametrize("base, count, overlap", [
    (200, 100, False),  # 200..299 after 100..199
    (199, 1, True),  # the last id of the first range
    (1, 99, False),  # 1..99 before 100..199
    (1, 100, True),
    (150, 10, True),  # inside
    ("200", "100", False),
])
def test_id_ranges(base, count, overlap):
    errors = td.validate_instances([inst(max_tunnels=100), second(tunnel_id_base=base, max_tunnels=count)])
    assert bool(errors) == overlap, errors
    if overlap:
        one_error(errors, "tunneldigger_instances[1]: tunnel ids", "overlap tunneldigger_instances[0] (100..199)")


def test_every_overlap_is_reported():
    errors = td.validate_instances([inst(max_tunnels=100), second(tunnel_id_base=300, max_tunnels=100),
                                    second(name="td2", ports=[8944], tunnel_id_base=150, max_tunnels=200)])
    assert len(errors) == 2, errors
    assert "overlap tunneldigger_instances[0] (100..199)" in errors[0]
    assert "overlap tunneldigger_instances[1] (300..399)" in errors[1]


def test_session_name_is_the_brokers():
    assert td.session_name(100) == "l2tp100-100"
    assert len(td.session_name(99999)) == IFNAME_MAX


@pytest.mark.parametrize("base, count", [(99000, 1000), (99999, 1), (1, 65535), (34465, 65535)])
def test_highest_interface_name_fits(base, count):
    assert errors_of(inst(tunnel_id_base=base, max_tunnels=count)) == []


@pytest.mark.parametrize("base, count, last", [(99001, 1000, 100000), (100000, 1, 100000),
                                               (4294967295, 1, 4294967295)])
def test_interface_name_too_long(base, count, last):
    name = "l2tp%d-%d" % (last, last)
    assert errors_of(inst(tunnel_id_base=base, max_tunnels=count)) == [
        "tunneldigger_instances[0]: tunnel ids %d..%d give interface names up to %s (%d characters), longer "
        "than Linux's 15; keep tunnel_id_base + max_tunnels - 1 at most 99999" % (base, last, name, len(name))]


@pytest.mark.parametrize("key, value, limits", [
    ("tunnel_id_base", 0, "1..4294967295"),
    ("tunnel_id_base", -1, "1..4294967295"),
    ("tunnel_id_base", 4294967296, "1..4294967295"),
    ("tunnel_id_base", "x", "1..4294967295"),
    ("max_tunnels", 0, "1..65535"),
    ("max_tunnels", 65536, "1..65535"),
    ("max_tunnels", True, "1..65535"),
    ("max_tunnels", 1.5, "1..65535"),
])
def test_range_numbers(key, value, limits):
    assert errors_of(inst(**{key: value})) == [
        "tunneldigger_instances[0].%s must be an integer %s, got %s" % (key, limits, describe(value))]


# --- rates -----------------------------------------------------------------------

RATE_KEYS = {
    "connection_rate_limit": "seconds between two new tunnels of this broker (on any of its ports)",
    "connection_rate_limit_per_ip_time": "seconds",
}


@pytest.mark.parametrize("key", RATE_KEYS)
@pytest.mark.parametrize("value, number", [
    (0, 0.0), (0.2, 0.2), (10, 10.0), ("0.2", 0.2), ("10", 10.0), ("0", 0.0), ("007.50", 7.5),
])
def test_rates_as_numbers_and_numeric_strings(key, value, number):
    assert errors_of(inst(**{key: value})) == []
    assert normalized(**{key: value})[key] == number
    assert isinstance(normalized(**{key: value})[key], float)


@pytest.mark.parametrize("key", RATE_KEYS)
@pytest.mark.parametrize("value", [-1, -0.2, "-0.2", "abc", "", "1e3", ".5", "0.2s", "0.2\n", True, None,
                                   float("nan"), float("inf"), 10 ** 400, [0.2]])
def test_bad_rates(key, value):
    assert errors_of(inst(**{key: value})) == [
        "tunneldigger_instances[0].%s must be a number of %s, 0 or more (0 turns it off), got %s"
        % (key, RATE_KEYS[key], describe(value))]


@pytest.mark.parametrize("value", [0, 5, "5", 2 ** 31 - 1])
def test_per_ip_count(value):
    assert errors_of(inst(connection_rate_limit_per_ip_count=value)) == []


@pytest.mark.parametrize("value", [-1, 2 ** 31, 0.5, "x", None, False])
def test_bad_per_ip_count(value):
    assert errors_of(inst(connection_rate_limit_per_ip_count=value)) == [
        "tunneldigger_instances[0].connection_rate_limit_per_ip_count must be an integer 0..2147483647, "
        "got %s" % describe(value)]


# --- MTU, logging, mesh ----------------------------------------------------------

@pytest.mark.parametrize("pmtu", [0, "0", 1280, 1400, "1400", 1446])
def test_good_pmtu(pmtu):
    assert errors_of(inst(pmtu=pmtu)) == []


@pytest.mark.parametrize("pmtu", [1, 576, 1279, 1447, 1500, -1, "x", "", None, True, False, 1400.0])
def test_bad_pmtu(pmtu):
    """0 is path MTU discovery; else the broker clamps the MTU to 1280..1446,
    so a value outside would not be what the sessions get."""
    assert errors_of(inst(pmtu=pmtu)) == [
        "tunneldigger_instances[0].pmtu must be 0 (path MTU discovery) or a fixed MTU 1280..1446, got %s"
        % describe(pmtu)]


@pytest.mark.parametrize("mtu", [None, 1280, 1364, "1400", 1446])
def test_good_mtu(mtu):
    assert errors_of(inst(mtu=mtu)) == []


@pytest.mark.parametrize("mtu", [0, 1279, 1447, 1500, "x", True, 1400.0])
def test_bad_mtu(mtu):
    assert errors_of(inst(mtu=mtu)) == [
        "tunneldigger_instances[0].mtu must be the MTU every session interface gets 1280..1446 or null, got %s"
        % describe(mtu)]


@pytest.mark.parametrize("level", td.VERBOSITIES)
def test_verbosities_are_logging_levels(level):
    assert errors_of(inst(log_verbosity=level)) == []
    assert isinstance(logging.getLevelName(level), int)  # what logging.config.dictConfig takes


@pytest.mark.parametrize("level", ["debug", "Info", "WARN", "NOTSET", "", 10, None])
def test_bad_verbosity(level):
    assert errors_of(inst(log_verbosity=level)) == [
        "tunneldigger_instances[0].log_verbosity must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got %s"
        % describe(level)]


@pytest.mark.parametrize("value, hint", [
    ("true", " (write true or false without quotes)"), ("no", " (write true or false without quotes)"),
    (1, ""), (0, ""), (None, ""), ("", ""),
])
def test_log_ip_addresses_is_a_strict_boolean(value, hint):
    assert errors_of(inst(log_ip_addresses=value)) == [
        "tunneldigger_instances[0].log_ip_addresses must be a boolean (true or false), got %s%s"
        % (describe(value), hint)]


@pytest.mark.parametrize("interface", ["", "a" * 16, "eth 0", "..", None, 5])
def test_bad_interface(interface):
    one_error(errors_of(inst(interface=interface)), "tunneldigger_instances[0].interface must be an interface name",
              "got %s" % describe(interface))


@pytest.mark.parametrize("mesh, message", [
    ({"backend": "babel", "interface": "bat0"},
     "tunneldigger_instances[0].mesh.backend must be one of batman_adv, bridge, got string 'babel'"),
    (dict(BRIDGE, hop_penalty=60), "tunneldigger_instances[0].mesh.hop_penalty applies to backend batman_adv only"),
    (dict(BATMAN, isolated=True), "tunneldigger_instances[0].mesh.isolated applies to backend bridge only"),
    ("bat0", "tunneldigger_instances[0].mesh must be null or a dict"),
    ({"backend": "batman_adv", "interface": "bat0\n"}, "tunneldigger_instances[0].mesh.interface must be"),
])
def test_mesh_errors_are_passed_through(mesh, message):
    (error,) = errors_of(inst(mesh=mesh))
    assert error.startswith(message), error


def test_every_mistake_at_once():
    errors = td.validate_instances([
        inst(name="Bad Name", address="2001:db8::1", ports=[0, "x"], interface="a" * 16, bogus=True,
             tunnel_id_base=99999, max_tunnels=2, connection_rate_limit=-1,
             connection_rate_limit_per_ip_count="many", connection_rate_limit_per_ip_time="soon",
             pmtu=1500, mtu=9000, log_verbosity="loud", log_ip_addresses="yes",
             mesh={"backend": "babel", "interface": ""}),
        {"name": "td1", "state": "sleeping"},
        inst(name="td2", ports=[8942]),
        second(name="td3", ports=[8942], tunnel_id_base=100),
    ], [{"name": "mesh0", "port": 8942}])
    expected = [
        "tunneldigger_instances[0]: unknown keys bogus",
        "tunneldigger_instances[0].name must be",
        "tunneldigger_instances[0].address: 2001:db8::1 is IPv6",
        "tunneldigger_instances[0].ports[0] must be a UDP port",
        "tunneldigger_instances[0].ports[1] must be a UDP port",
        "tunneldigger_instances[0].interface must be an interface name",
        "tunneldigger_instances[0]: tunnel ids 99999..100000",
        "tunneldigger_instances[0].connection_rate_limit must be a number",
        "tunneldigger_instances[0].connection_rate_limit_per_ip_count must be an integer",
        "tunneldigger_instances[0].connection_rate_limit_per_ip_time must be a number",
        "tunneldigger_instances[0].pmtu must be 0",
        "tunneldigger_instances[0].mtu must be",
        "tunneldigger_instances[0].log_verbosity must be one of",
        "tunneldigger_instances[0].log_ip_addresses must be a boolean",
        "tunneldigger_instances[0].mesh.backend must be one of",
        "tunneldigger_instances[0].mesh.interface must be",
        "tunneldigger_instances[1].state must be one of present, absent",
        "tunneldigger_instances[1].address is required",
        "tunneldigger_instances[1].ports is required",
        "tunneldigger_instances[1].interface is required",
        "tunneldigger_instances[2].ports[0]: port 8942 is already used by fastd_instances[0] (mesh0)",
        "tunneldigger_instances[3].ports[0]: port 8942 is already used by fastd_instances[0] (mesh0)",
        "tunneldigger_instances[3]: tunnel ids 100..1123 (tunnel_id_base .. + max_tunnels - 1) overlap "
        "tunneldigger_instances[2] (100..1123)",
    ]
    assert len(errors) == len(expected), "\n".join(errors)
    for error, start in zip(errors, expected):
        assert error.startswith(start), (error, start)


# --- normalized instances --------------------------------------------------------

def test_instance_with_defaults():
    given = inst(ports=["8942", 10000], max_tunnels="200", mtu="1400", connection_rate_limit="1",
                 mesh=dict(BATMAN, hop_penalty="60"))
    before = copy.deepcopy(given)
    result = td.instance_with_defaults(given)
    assert given == before, "the input must not change"
    assert result == {
        "name": "td0", "state": "present", "address": "192.0.2.1", "ports": [8942, 10000], "interface": "eth0",
        "max_tunnels": 200, "tunnel_id_base": 100, "connection_rate_limit": 1.0,
        "connection_rate_limit_per_ip_count": 0, "connection_rate_limit_per_ip_time": 0.0, "pmtu": 0,
        "mtu": 1400, "log_verbosity": "INFO", "log_ip_addresses": False,
        "mesh": {"backend": "batman_adv", "interface": "bat0", "hop_penalty": 60, "isolated": None, "mac": None},
        "config_dir": "/etc/tunneldigger/td0", "config_file": "/etc/tunneldigger/td0/broker.cfg",
        "hooks_dir": "/etc/tunneldigger/td0/hooks", "state_dir": "/run/tunneldigger/td0",
        "unit": "tunneldigger@td0.service", "limit_nofile": 1056,
    }


def test_absent_instance_with_defaults_keeps_its_paths():
    result = td.instance_with_defaults({"name": "old", "state": "absent", "ports": 8942, "mesh": "x"})
    assert (result["config_dir"], result["unit"], result["limit_nofile"]) == (
        "/etc/tunneldigger/old", "tunneldigger@old.service", None)
    assert result["ports"] == 8942


@pytest.mark.parametrize("max_tunnels, limit", [(1, 1024), (192, 1024), (1024, 4352), (65535, 262396)])
def test_limit_nofile(max_tunnels, limit):
    assert td.limit_nofile(max_tunnels) == limit


def test_renderable_instance_takes_raw_and_normalized_instances():
    raw = inst(mtu="1400")
    first, errors = td.renderable_instance(raw)
    assert errors == [] and first == td.instance_with_defaults(raw)
    again, errors = td.renderable_instance(first)
    assert errors == [] and again == first


@pytest.mark.parametrize("value, message", [
    (None, "instance must be a tunneldigger instance (a dict), got null"),
    ([inst()], "instance must be a tunneldigger instance (a dict), got list"),
    ({"name": "old", "state": "absent"},
     "instance: broker old is absent; only present brokers have a config and hooks"),
    (inst(pmtu="x"), "instance.pmtu must be 0 (path MTU discovery) or a fixed MTU 1280..1446, got string 'x'"),
    ({"name": "td0"}, "instance.address is required"),
])
def test_renderable_instance_refuses(value, message):
    result, errors = td.renderable_instance(value)
    assert result is None
    assert errors[0] == message


# --- the broker's config -----------------------------------------------------------

# What main.py of v0.4.0 reads, and how: every call without a fallback here,
# so a key the renderer leaves out fails the test.
def read_like_the_broker(text):
    config = configparser.ConfigParser()
    config.read_string(text)
    return {
        "verbosity": config.get("log", "verbosity"),
        "log_ip_addresses": config.getboolean("log", "log_ip_addresses"),
        "hooks": {hook: config.get("hooks", hook).strip()
                  for hook in ("session.up", "session.pre-down", "session.down", "session.mtu-changed",
                               "broker.connection-rate-limit")},
        "max_tunnels": config.getint("broker", "max_tunnels"),
        "tunnel_id_base": config.getint("broker", "tunnel_id_base"),
        "connection_rate_limit": config.getfloat("broker", "connection_rate_limit"),
        "connection_rate_limit_per_ip_count": config.getint("broker", "connection_rate_limit_per_ip_count"),
        "connection_rate_limit_per_ip_time": config.getfloat("broker", "connection_rate_limit_per_ip_time"),
        "pmtu": config.getint("broker", "pmtu"),
        "address": config.get("broker", "address"),
        "ports": [int(port) for port in config.get("broker", "port").split(",")],
        "interface": config.get("broker", "interface"),
    }


@pytest.mark.parametrize("extra, expected", [
    ({}, {"max_tunnels": 1024, "tunnel_id_base": 100, "connection_rate_limit": 0.2,
          "connection_rate_limit_per_ip_count": 0, "connection_rate_limit_per_ip_time": 0.0, "pmtu": 0,
          "verbosity": "INFO", "log_ip_addresses": False, "ports": [8942]}),
    ({"ports": ["8942", 10000, 20000], "max_tunnels": "50", "tunnel_id_base": 99950,
      "connection_rate_limit": "0", "connection_rate_limit_per_ip_count": "3",
      "connection_rate_limit_per_ip_time": 0.5, "pmtu": "1406", "log_verbosity": "DEBUG",
      "log_ip_addresses": True, "mtu": 1280, "mesh": BRIDGE},
     {"max_tunnels": 50, "tunnel_id_base": 99950, "connection_rate_limit": 0.0,
      "connection_rate_limit_per_ip_count": 3, "connection_rate_limit_per_ip_time": 0.5, "pmtu": 1406,
      "verbosity": "DEBUG", "log_ip_addresses": True, "ports": [8942, 10000, 20000]}),
    ({"connection_rate_limit": 1e-05, "connection_rate_limit_per_ip_time": 123456789.5},
     {"connection_rate_limit": 1e-05, "connection_rate_limit_per_ip_time": 123456789.5}),
])
def test_the_broker_reads_every_key_of_the_rendered_config(extra, expected):
    instance = normalized(**extra)
    assert td.validate_instances([inst(**extra)]) == []
    read = read_like_the_broker(td.render_config(instance))
    assert (read["address"], read["interface"]) == ("192.0.2.1", "eth0")
    assert read["hooks"] == {event: "/etc/tunneldigger/td0/hooks/" + event for event in td.HOOKS}
    for key, value in expected.items():
        assert read[key] == value, key
    assert isinstance(logging.getLevelName(read["verbosity"]), int)


def test_rendered_config():
    assert td.render_config(normalized(ports=[8942, 10000], connection_rate_limit_per_ip_time=2)) == (
        "[broker]\n"
        "address=192.0.2.1\n"
        "port=8942,10000\n"
        "interface=eth0\n"
        "max_tunnels=1024\n"
        "tunnel_id_base=100\n"
        "connection_rate_limit=0.2\n"
        "connection_rate_limit_per_ip_count=0\n"
        "connection_rate_limit_per_ip_time=2\n"
        "pmtu=0\n"
        "\n"
        "[log]\n"
        "verbosity=INFO\n"
        "log_ip_addresses=false\n"
        "\n"
        "[hooks]\n"
        "session.up=/etc/tunneldigger/td0/hooks/session.up\n"
        "session.pre-down=/etc/tunneldigger/td0/hooks/session.pre-down\n"
        "session.down=/etc/tunneldigger/td0/hooks/session.down\n"
        "session.mtu-changed=/etc/tunneldigger/td0/hooks/session.mtu-changed\n"
        "broker.connection-rate-limit=/etc/tunneldigger/td0/hooks/broker.connection-rate-limit\n")


def test_a_config_without_a_key_is_what_the_broker_refuses():
    """The check above can fail: drop a line and the broker's read raises."""
    text = td.render_config(normalized()).replace("pmtu=0\n", "")
    with pytest.raises(configparser.NoOptionError):
        read_like_the_broker(text)


# --- hooks -----------------------------------------------------------------------

def test_hook_arguments_are_the_brokers():
    session = ("tunnel_id", "session_id", "interface", "mtu", "endpoint_ip", "endpoint_port", "local_port",
               "uuid", "local_broker_port")
    assert td.HOOKS == {
        "session.up": session, "session.pre-down": session, "session.down": session,
        "session.mtu-changed": ("tunnel_id", "session_id", "interface", "old_mtu", "new_mtu", "uuid"),
        "broker.connection-rate-limit": ("endpoint_ip", "endpoint_port", "uuid"),
    }


STATE = ["--state-dir", "/run/tunneldigger/td0/sessions"]
BLOCK = ["--blocklist", "/etc/tunneldigger/blocked-uuids"]
HEAD = [SCRIPT, "tunneldigger"]


@pytest.mark.parametrize("extra, event, expected", [
    ({}, "session.up", HEAD + ["session.up", "--instance", "td0"] + BLOCK + STATE + ["--"]),
    ({}, "session.down", HEAD + ["session.down", "--instance", "td0"] + STATE + ["--"]),
    ({}, "session.mtu-changed", HEAD + ["session.mtu-changed", "--instance", "td0"] + STATE + ["--"]),
    ({}, "broker.connection-rate-limit", HEAD + ["broker.connection-rate-limit", "--instance", "td0", "--"]),
    ({"mesh": dict(BATMAN, hop_penalty=60), "mtu": 1364}, "session.up",
     HEAD + ["session.up", "--instance", "td0", "--backend", "batman_adv", "--mesh", "bat0",
             "--hop-penalty", "60", "--mtu", "1364"] + BLOCK + STATE + ["--"]),
    ({"mesh": dict(BATMAN, hop_penalty=60), "mtu": 1364}, "session.pre-down",
     HEAD + ["session.pre-down", "--instance", "td0", "--backend", "batman_adv", "--mesh", "bat0"] + STATE + ["--"]),
    ({"mesh": dict(BATMAN, hop_penalty=60), "mtu": 1364}, "session.mtu-changed",
     HEAD + ["session.mtu-changed", "--instance", "td0", "--backend", "batman_adv", "--mesh", "bat0",
             "--mtu", "1364"] + STATE + ["--"]),
    ({"mesh": dict(BRIDGE, isolated=True)}, "session.up",
     HEAD + ["session.up", "--instance", "td0", "--backend", "bridge", "--bridge", "br-client", "--isolated"]
     + BLOCK + STATE + ["--"]),
    ({"mesh": dict(BRIDGE, isolated=True)}, "session.down",
     HEAD + ["session.down", "--instance", "td0", "--backend", "bridge", "--bridge", "br-client"] + STATE + ["--"]),
    ({"mesh": BATMAN, "mtu": 1364}, "broker.connection-rate-limit",
     HEAD + ["broker.connection-rate-limit", "--instance", "td0", "--"]),
])
def test_hook_argv(extra, event, expected):
    assert td.hook_argv(normalized(**extra), event, SCRIPT) == expected


def test_rate_limit_hook_fills_the_nftables_set():
    argv = td.hook_argv(normalized(), "broker.connection-rate-limit", SCRIPT,
                        nft_set=["inet", "freifunk_tunneldigger", "blocked4"], block_time="600")
    assert argv == HEAD + ["broker.connection-rate-limit", "--instance", "td0", "--nft-set", "inet",
                           "freifunk_tunneldigger", "blocked4", "--block-time", "600", "--"]
    # the set is for the rate-limit hook only
    assert "--nft-set" not in td.hook_argv(normalized(), "session.up", SCRIPT, nft_set=["inet", "t", "s"],
                                           block_time=600)


@pytest.mark.parametrize("block_time", [1, "1", 4294967])
def test_block_time_limits(block_time):
    argv = td.hook_argv(normalized(), "broker.connection-rate-limit", SCRIPT, nft_set=["ip", "t", "s"],
                        block_time=block_time)
    assert argv[-3:] == ["--block-time", "%d" % int(block_time), "--"]


def test_hook_argv_uses_the_given_blocklist():
    argv = td.hook_argv(normalized(), "session.up", SCRIPT, blocklist="/srv/blocked")
    assert argv[argv.index("--blocklist") + 1] == "/srv/blocked"


@pytest.mark.parametrize("event", ["session.Up", "up", "", None, ["session.up"], "broker.connection_rate_limit"])
def test_hook_argv_refuses_unknown_events(event):
    with pytest.raises(ValueError) as err:
        td.hook_argv(normalized(), event, SCRIPT)
    assert str(err.value) == ("event must be one of session.up, session.pre-down, session.down, "
                              "session.mtu-changed, broker.connection-rate-limit, got %s" % describe(event))


@pytest.mark.parametrize("nft_set", [[], ["inet", "t"], ["bridge", "t", "s"], ["inet", "t", "s; drop"],
                                     ["inet", "1t", "s"], "inet t s", ["inet", "t", 5]])
def test_hook_argv_refuses_bad_nft_sets(nft_set):
    with pytest.raises(ValueError, match=r"^nft_set must be null or \[FAMILY, TABLE, SET\]"):
        td.hook_argv(normalized(), "broker.connection-rate-limit", SCRIPT, nft_set=nft_set, block_time=600)


@pytest.mark.parametrize("block_time", [None, 0, -1, "x", True, 4294968])
def test_hook_argv_needs_a_block_time_with_an_nft_set(block_time):
    with pytest.raises(ValueError, match=r"^block_time must be the seconds"):
        td.hook_argv(normalized(), "broker.connection-rate-limit", SCRIPT, nft_set=["inet", "t", "s"],
                     block_time=block_time)


# --- source ----------------------------------------------------------------------

GIT = {"type": "git", "url": "https://github.com/wlanslovenija/tunneldigger.git", "version": "v0.4.0"}


@pytest.mark.parametrize("source", [
    GIT,
    {"url": GIT["url"], "version": "9a9a427"},  # type defaults to git
    dict(GIT, version="feature/foo+1"),
    dict(GIT, url="/srv/git/tunneldigger"),
    {"type": "archive", "src": "/srv/tunneldigger-v0.4.0.tar.gz", "checksum": SHA},
    {"type": "archive", "src": "files/td.tgz", "checksum": SHA.upper().replace("SHA256", "sha256")},
    {"type": "archive", "src": "https://example.org/td.tar?raw=1", "checksum": SHA, "version": "v0.4.0"},
    {"type": "directory", "src": "/home/me/tunneldigger"},
    {"type": "directory", "src": "/home/me/tunneldigger", "version": "wip"},
])
def test_valid_sources(source):
    assert td.validate_source(source) == []


@pytest.mark.parametrize("source, expected", [
    ("git", ["tunneldigger_source must be a dict with a type (git, archive, directory), got string 'git'"]),
    ({"type": "svn"}, ["tunneldigger_source.type must be one of git, archive, directory, got string 'svn'"]),
    ({"type": None}, ["tunneldigger_source.type must be one of git, archive, directory, got null"]),
    (dict(GIT, checksum=SHA), ["tunneldigger_source: unknown keys checksum; valid keys: type, url, version"]),
    ({"type": "git", "url": GIT["url"]},
     ["tunneldigger_source.version must be a git tag, branch or commit (letters, digits, '.', '_', '/', '+', "
      "'-'), got null"]),
    (dict(GIT, version=0.4), ["tunneldigger_source.version must be a git tag, branch or commit (letters, digits, "
                              "'.', '_', '/', '+', '-'), got float 0.4"]),
    (dict(GIT, version="-v0.4.0"), ["tunneldigger_source.version must be a git tag"]),
    (dict(GIT, version="v0.4.0\n"), ["tunneldigger_source.version must be a git tag"]),
    (dict(GIT, version="v 0.4"), ["tunneldigger_source.version must be a git tag"]),
    ({"type": "git", "version": "v0.4.0"},
     ["tunneldigger_source.url must be the broker's git repository URL, got null"]),
    (dict(GIT, url="--upload-pack=touch /tmp/x"), ["tunneldigger_source.url must be the broker's git repository URL"]),
    (dict(GIT, url=""), ["tunneldigger_source.url must be the broker's git repository URL, got string ''"]),
    (dict(GIT, url="https://example.org/td.git\n"),
     ["tunneldigger_source.url must not contain control characters; found newline at position 26"]),
    ({"type": "archive", "checksum": SHA},
     ["tunneldigger_source.src must be a source archive (a path on the controller or an http(s) URL), got null"]),
    ({"type": "archive", "src": "/srv/td.zip", "checksum": SHA},
     ["tunneldigger_source.src must name a .tar.gz, .tgz or .tar archive, got string '/srv/td.zip'"]),
    ({"type": "archive", "src": "/srv/td.tar.gz.asc", "checksum": SHA},
     ["tunneldigger_source.src must name a .tar.gz, .tgz or .tar archive"]),
    ({"type": "archive", "src": "/srv/td.tar.gz\n", "checksum": SHA},
     ["tunneldigger_source.src must not contain control characters; found newline at position 14",
      "tunneldigger_source.src must name a .tar.gz, .tgz or .tar archive"]),
    ({"type": "archive", "src": "/srv/td.tar.gz"},
     ["tunneldigger_source.checksum must be sha256:<64 hex digits> of the archive (sha256sum prints it), got null"]),
    ({"type": "archive", "src": "/srv/td.tar.gz", "checksum": "md5:" + "0" * 32},
     ["tunneldigger_source.checksum must be sha256:<64 hex digits>"]),
    ({"type": "archive", "src": "/srv/td.tar.gz", "checksum": SHA[:-1]},
     ["tunneldigger_source.checksum must be sha256:<64 hex digits>"]),
    ({"type": "archive", "src": "/srv/td.tar.gz", "checksum": SHA[len("sha256:"):]},
     ["tunneldigger_source.checksum must be sha256:<64 hex digits>"]),
    ({"type": "archive", "src": "/srv/td.tar.gz", "checksum": SHA + "\n"},
     ["tunneldigger_source.checksum must be sha256:<64 hex digits>"]),
    ({"type": "archive", "src": "/srv/td.tar.gz", "checksum": SHA, "version": "a b"},
     ["tunneldigger_source.version must be a git tag, branch or commit (letters, digits, '.', '_', '/', '+', '-') "
      "naming this source, got string 'a b'"]),
    ({"type": "archive", "src": "/srv/td.tar.gz", "checksum": SHA, "url": "x"},
     ["tunneldigger_source: unknown keys url; valid keys: type, src, checksum, version"]),
    ({"type": "directory", "src": "tunneldigger"},
     ["tunneldigger_source.src must be an absolute path on the controller, got string 'tunneldigger'"]),
    ({"type": "directory"},
     ["tunneldigger_source.src must be the path of a tunneldigger checkout on the controller, got null"]),
    ({"type": "directory", "src": "/srv/td", "checksum": SHA},
     ["tunneldigger_source: unknown keys checksum; valid keys: type, src, version"]),
])
def test_bad_sources(source, expected):
    errors = td.validate_source(source)
    assert len(errors) == len(expected), errors
    for error, start in zip(errors, expected):
        assert error.startswith(start), (error, start)


def test_every_source_mistake_at_once():
    assert len(td.validate_source({"type": "archive", "src": "td.zip", "checksum": "x", "version": "",
                                   "bogus": 1})) == 4


def test_source_variable_name_is_a_parameter():
    assert td.validate_source("x", var="src")[0].startswith("src must be a dict")


@pytest.mark.parametrize("source, extra", [
    (GIT, {"type": "git", "label": "v0.4.0"}),
    ({"url": GIT["url"], "version": "feature/foo+1"}, {"type": "git", "label": "feature_foo_1"}),
    ({"type": "archive", "src": "/srv/td.tar.gz", "checksum": "sha256:" + "ABCDEF0123" * 6 + "abcd"},
     {"remote": False, "checksum": "sha256:" + "abcdef0123" * 6 + "abcd",
      "version": "archive-abcdef0123ab", "label": "archive-abcdef0123ab"}),
    ({"type": "archive", "src": "https://example.org/td.tar.gz", "checksum": SHA, "version": "v0.4.0"},
     {"remote": True, "version": "v0.4.0", "label": "v0.4.0"}),
    ({"type": "archive", "src": "http://example.org/td.tgz", "checksum": SHA},
     {"remote": True, "version": "archive-0123456789ab", "label": "archive-0123456789ab"}),
    ({"type": "directory", "src": "/srv/td"}, {"version": "local", "label": "local"}),
    ({"type": "directory", "src": "/srv/td", "version": "wip/x"}, {"version": "wip/x", "label": "wip_x"}),
])
def test_source_with_defaults(source, extra):
    assert td.validate_source(source) == []
    before = copy.deepcopy(source)
    result = td.source_with_defaults(source)
    assert source == before
    expected = dict(source, **extra)
    expected.setdefault("type", "git")
    assert result == expected


# --- blocked uuids ----------------------------------------------------------------

@pytest.mark.parametrize("uuid, normal", [
    ("aa:bb:cc:dd:ee:ff", "aabbccddeeff"),
    ("AA:BB:CC:DD:EE:0F", "aabbccddee0f"),  # a MAC with colons: Gluon sends it without
    ("aabbccddeeff", "aabbccddeeff"),
    ("AABBCCDDEEFF", "aabbccddeeff"),
    ("node:1", "node:1"),  # not a MAC: colons stay
    ("aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee"),
    ("aa-bb-cc-dd-ee-ff", "aa-bb-cc-dd-ee-ff"),
    ("My.Node_1", "my.node_1"),
])
def test_normalize_uuid(uuid, normal):
    assert td.validate_blocked_uuids([uuid]) == []
    assert td.normalize_uuid(uuid) == normal


@pytest.mark.parametrize("uuid", ["", "a b", "#aabbccddeeff", "a" * 65, "aabbccddeeff\n", "a/b", 5, None,
                                  ["aabbccddeeff"]])
def test_bad_blocked_uuids(uuid):
    assert td.validate_blocked_uuids(["aabbccddeeff", uuid]) == [
        "tunneldigger_blocked_uuids[1] must be a node uuid (Gluon: the node's primary MAC, with or without colons; "
        "1-64 of letters, digits, '_', '.', ':', '-'), got %s" % describe(uuid)]


@pytest.mark.parametrize("uuids", ["aabbccddeeff", None, {"aabbccddeeff": 1}])
def test_blocked_uuids_must_be_a_list(uuids):
    assert td.validate_blocked_uuids(uuids) == [
        "tunneldigger_blocked_uuids must be a list of node uuids, got %s" % describe(uuids)]


def test_every_bad_uuid_is_reported():
    assert len(td.validate_blocked_uuids(["", "ok", 1, "a b"])) == 3


def test_render_blocklist_normalizes_sorts_and_drops_repeats():
    text = td.render_blocklist(["AA:BB:CC:DD:EE:FF", "112233445566", "aabbccddeeff", "Node-X"])
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[0].startswith("# ")
    assert lines[1:] == ["112233445566", "aabbccddeeff", "node-x"]


def test_empty_blocklist_is_only_the_comment():
    text = td.render_blocklist([])
    assert len(text.splitlines()) == 1 and text.startswith("# ")


# --- the role's scalar settings ------------------------------------------------

def test_settings_accept_their_defaults_and_digit_strings():
    assert td.validate_settings({"tunneldigger_start": True, "tunneldigger_hardening": False,
                                 "tunneldigger_nftables": False, "tunneldigger_lock_break": False,
                                 "tunneldigger_nftables_block_time": "600", "tunneldigger_keep_versions": 2,
                                 "tunneldigger_lock_timeout": 600}) == []


def test_settings_refuse_string_booleans_and_out_of_range_numbers_all_at_once():
    errors = td.validate_settings({"tunneldigger_start": "no", "tunneldigger_nftables_block_time": 0,
                                   "tunneldigger_keep_versions": "two", "tunneldigger_lock_timeout": 10 ** 6})
    assert len(errors) == 4
    assert errors[0].startswith("tunneldigger_start must be a boolean") and "without quotes" in errors[0]
    assert errors[1] == "tunneldigger_nftables_block_time must be an integer 1..4294967, got 0"
    assert errors[2].startswith("tunneldigger_keep_versions must be an integer 0..100")
    assert errors[3].startswith("tunneldigger_lock_timeout must be an integer 0..86400")


def test_settings_not_given_are_not_checked():
    assert td.validate_settings({}) == []
