"""Every validated string field refuses control characters, wherever they sit.

Python's ``$`` matches before a final newline, so ``re.match("^name$")``
accepts ``"name\\n"``; the validators match whole values. Each field below is
set, in an otherwise valid value, to a good value with a control character
appended, prepended or embedded; the errors must name that field's variable,
and no message may carry the raw character (messages are printed as they are).
"""

import copy

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import batman, fastd, mesh

KEY_A = "84ddcfa9c8887a361f4ee619d79a642c50acd0d04a2b3109ab65a85e34f24f0f"
KEY_B = "57401fc65b85c386feecaba0661fd1e927f08130e61132538839c5728380751a"
SECRET = "f8a2832608f6a63a1bf5e70e515c37e1cb1d3550048a56aa532c0050fff16760"
CONTROLS = ["\n", "\r", "\t", "\x00", "\x0b", "\x1b", "\x7f", "\x85", "\u2028"]
PLACES = {
    "appended": lambda good, c: good + c,
    "prepended": lambda good, c: c + good,
    "embedded": lambda good, c: good[:len(good) // 2] + c + good[len(good) // 2:],
}

INSTANCE = {
    "name": "mesh0", "state": "present", "port": "10000", "interface": "fft-%k", "mode": "multitap",
    "methods": ["null@l2tp", "salsa2012+umac", "null"], "offload_l2tp": True, "mtu": "1312",
    "bind": ["fe80::1%lo", "192.0.2.1", "[2001:db8::1]"], "peer_limit": "100",
    "on_verify": "/usr/local/bin/verify-peer --strict", "log_level": "info",
    "drop_capabilities": "early", "packet_mark": "7", "hide_ip_addresses": True, "secret": SECRET,
    "mesh": {"backend": "batman_adv", "interface": "bat0", "hop_penalty": "60"},
    "peers": [{"name": "gw01", "key": KEY_A, "comment": "Gateway 1\nin Hamburg",
               "remotes": ['"gw01.example.org" port 10000', "[fe80::1%eth0]:10000", "192.0.2.1:10000"]}],
    "peer_groups": [{"name": "backbone", "peer_limit": "1", "peers": [{"name": "gw02", "key": KEY_B}]}],
}
IV = "fastd_instances[0]"
FASTD_FIELDS = [
    (("name",), IV + ".name"),
    (("state",), IV + ".state"),
    (("port",), IV + ".port"),
    (("interface",), IV + ".interface"),
    (("mode",), IV + ".mode"),
    (("methods", 1), IV + ".methods[1]"),
    (("mtu",), IV + ".mtu"),
    (("bind", 0), IV + ".bind[0]"),
    (("bind", 1), IV + ".bind[1]"),
    (("bind", 2), IV + ".bind[2]"),
    (("peer_limit",), IV + ".peer_limit"),
    (("on_verify",), IV + ".on_verify"),
    (("log_level",), IV + ".log_level"),
    (("drop_capabilities",), IV + ".drop_capabilities"),
    (("packet_mark",), IV + ".packet_mark"),
    (("secret",), IV + ".secret"),
    (("mesh", "backend"), IV + ".mesh.backend"),
    (("mesh", "interface"), IV + ".mesh.interface"),
    (("mesh", "hop_penalty"), IV + ".mesh.hop_penalty"),
    (("peers", 0, "name"), IV + ".peers[0].name"),
    (("peers", 0, "key"), IV + ".peers[0].key"),
    (("peers", 0, "remotes", 0), IV + ".peers[0].remotes[0]"),
    (("peers", 0, "remotes", 1), IV + ".peers[0].remotes[1]"),
    (("peers", 0, "remotes", 2), IV + ".peers[0].remotes[2]"),
    (("peers", 0, "comment"), IV + ".peers[0].comment"),
    (("peer_groups", 0, "name"), IV + ".peer_groups[0].name"),
    (("peer_groups", 0, "peer_limit"), IV + ".peer_groups[0].peer_limit"),
    (("peer_groups", 0, "peers", 0, "name"), IV + ".peer_groups[0].peers[0].name"),
    (("peer_groups", 0, "peers", 0, "key"), IV + ".peer_groups[0].peers[0].key"),
]
MESHES = [{"name": "bat0", "routing_algorithm": "BATMAN_V", "gw_mode": "server",
           "gw_bandwidth_down": "50000", "gw_bandwidth_up": "10000", "hop_penalty": "15",
           "bridge": "br-client", "addresses": ["2001:db8::1/64", "192.0.2.1/24"]}]
M = "batman_adv_meshes[0]"
BATMAN_FIELDS = [((key,), M + "." + key) for key in (
    "name", "routing_algorithm", "gw_mode", "gw_bandwidth_down", "gw_bandwidth_up", "hop_penalty",
    "bridge")] + [(("addresses", 0), M + ".addresses[0]"), (("addresses", 1), M + ".addresses[1]")]


def get(value, path):
    for step in path:
        value = value[step]
    return value


def changed(value, path, new):
    value = copy.deepcopy(value)
    get(value, path[:-1])[path[-1]] = new
    return value


def check(errors, var, char, secret=None):
    assert any(e.startswith(var) and e[len(var)] in " :.[" for e in errors), (var, errors)
    for error in errors:
        assert char not in error, error
        assert secret is None or secret not in error, error


def test_the_values_are_valid_as_they_are():
    assert fastd.validate_instances([INSTANCE]) == []
    assert batman.validate_meshes(MESHES) == []


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("char", CONTROLS, ids=[repr(c) for c in CONTROLS])
@pytest.mark.parametrize("path, var", FASTD_FIELDS, ids=[v for _p, v in FASTD_FIELDS])
def test_fastd_instances(path, var, char, place):
    good = get(INSTANCE, path)
    if path[-1] == "comment" and char == "\n":
        pytest.skip("a newline breaks the comment into lines, each written as a # line")
    bad = PLACES[place](good, char)
    errors = fastd.validate_instances([changed(INSTANCE, path, bad)])
    check(errors, var, char, secret=SECRET if path == ("secret",) else None)


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("char", CONTROLS, ids=[repr(c) for c in CONTROLS])
@pytest.mark.parametrize("path, var", BATMAN_FIELDS, ids=[v for _p, v in BATMAN_FIELDS])
def test_batman_adv_meshes(path, var, char, place):
    bad = PLACES[place](get(MESHES[0], path), char)
    check(batman.validate_meshes([changed(MESHES[0], path, bad)]), var, char)


@pytest.mark.parametrize("char", CONTROLS, ids=[repr(c) for c in CONTROLS])
@pytest.mark.parametrize("key, good", [("backend", "bridge"), ("interface", "br-client")])
def test_mesh_setting(key, good, char):
    setting = {"backend": "bridge", "interface": "br-client", key: good + char}
    check(mesh.validate_mesh(setting, "tunneldigger_mesh"), "tunneldigger_mesh." + key, char)


@pytest.mark.parametrize("char", CONTROLS, ids=[repr(c) for c in CONTROLS])
def test_peers_module_argument(char):
    """fastd_peers validates its peers argument with the same rules."""
    for path in (("name",), ("key",), ("remotes", 0)):
        peer = {"name": "gw01", "key": KEY_A, "remotes": ["192.0.2.1:10000"]}
        bad = changed(peer, path, get(peer, path) + char)
        check(fastd.validate_peers([bad], "peers"), "peers[0]." + ".".join(map(str, path)).replace(".0", "[0]"), char)


def test_a_comment_may_break_lines_with_newlines_only():
    assert fastd.validate_peers([{"name": "gw01", "key": KEY_A, "comment": "a\nb\n\nc\n"}]) == []
