"""Tests for plugins/module_utils/fastd.py, checked against the real fastd where it matters."""

import copy
import json
import os
import random
import shutil
import subprocess

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import fastd as f

FASTD = shutil.which("fastd")
requires_fastd = pytest.mark.skipif(FASTD is None, reason="needs the fastd binary")
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")

KEY_A = "84ddcfa9c8887a361f4ee619d79a642c50acd0d04a2b3109ab65a85e34f24f0f"
KEY_B = "57401fc65b85c386feecaba0661fd1e927f08130e61132538839c5728380751a"
KEY_A2 = KEY_A[:16] + "0" * 48  # same first 16 digits as KEY_A
# A secret only used to let fastd parse test configs.
SECRET = "f8a2832608f6a63a1bf5e70e515c37e1cb1d3550048a56aa532c0050fff16760"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def verify_config(tmp_path, body, mode="multitap", interface="fft-%k"):
    """Run fastd --verify-config on a small config; return (rc, output)."""
    conf = tmp_path / "fastd.conf"
    conf.write_text('secret "%s";\nmode %s;\ninterface "%s";\nbind 127.0.0.1:10000;\n%s\n'
                    % (SECRET, mode, interface, body))
    proc = subprocess.run([FASTD, "--verify-config", "--config", str(conf)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode, proc.stdout


def one_error(errors, var, *fragments):
    assert len(errors) == 1, errors
    assert errors[0].startswith(var), errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


# --- methods ---------------------------------------------------------------

@requires_fastd
@pytest.mark.parametrize("method", sorted(f.METHODS))
def test_every_catalogued_method_is_accepted_by_fastd(tmp_path, method):
    rc, out = verify_config(tmp_path, 'method "%s";' % method)
    assert rc == 0, out


@requires_fastd
@pytest.mark.parametrize("method", ["l2tp@null", "chacha20-poly1305", "xsalsa20-poly1305",
                                    "aes128-ctr+gmac", "null+chacha20+umac"])
def test_names_fastd_rejects_are_rejected(tmp_path, method):
    rc, out = verify_config(tmp_path, 'method "%s";' % method)
    assert rc != 0 and "not supported" in out
    assert f.validate_methods([method], "m")


@requires_fastd
def test_null_l2tp_without_offload_is_valid_for_fastd_and_for_us(tmp_path):
    rc, out = verify_config(tmp_path, 'method "null@l2tp";')
    assert rc == 0, out
    assert f.validate_methods(["null@l2tp"], "m", offload_l2tp=False) == []


@requires_fastd
def test_offload_rules_match_fastd(tmp_path):
    rc, out = verify_config(tmp_path, 'method "null@l2tp";\noffload l2tp yes;\npersist interface no;',
                            mode="tap", interface="mesh-vpn")
    assert rc != 0 and "multi-TAP mode only" in out
    one_error(f.validate_methods(["null@l2tp"], "x[0].methods", True, "tap"),
              "x[0].offload_l2tp", "multitap")


def test_valid_methods():
    assert f.validate_methods(["null@l2tp", "salsa2012+umac", "null"], "m", True, "multitap") == []


@pytest.mark.parametrize("methods, var, fragments", [
    (None, "i.methods", ["non-empty list"]),
    ([], "i.methods", ["non-empty list"]),
    ("salsa2012+umac", "i.methods", ["non-empty list"]),
    (["salsa2012+umac", 3], "i.methods[1]", ["string"]),
    (["salsa2012+umc"], "i.methods[0]", ["not a fastd method", "did you mean 'salsa2012+umac'",
                                         "valid methods: salsa2012+umac"]),
    (["l2tp@null"], "i.methods[0]", ["null@l2tp"]),
    (["null", "null@l2tp"], "i.methods[0]", ["'null' comes before 'null@l2tp'", "first"]),
    (["null", "salsa2012+umac", "null"], "i.methods[2]", ["listed twice", "i.methods[0]"]),
])
def test_bad_methods(methods, var, fragments):
    one_error(f.validate_methods(methods, "i.methods"), var, *fragments)


def test_offload_needs_null_l2tp():
    one_error(f.validate_methods(["salsa2012+umac"], "i.methods", True, "multitap"),
              "i.offload_l2tp", "null@l2tp")


def test_method_catalogue_facts():
    assert f.METHODS["null@l2tp"]["since"] == 22
    assert f.OFFLOAD_METHODS == ("null@l2tp",)


# --- interface names -------------------------------------------------------

def test_interface_name_matches_what_fastd_22_did():
    """fastd 22 named the interfaces of the recorded multitap session (fft-%k)."""
    doc = json.loads(fixture("fastd_status_v22_multitap.json"))
    assert doc["peers"]
    for key, peer in doc["peers"].items():
        assert f.interface_name("fft-%k", key=key) == peer["interface"]


@requires_fastd
@pytest.mark.parametrize("pattern", ["x%k%n", "x%z", "a/b%k"])
def test_patterns_fastd_rejects(tmp_path, pattern):
    rc, out = verify_config(tmp_path, 'method "null";', interface=pattern)
    assert rc != 0 and "invalid interface name" in out
    assert f.validate_interface(pattern, "multitap", "i.interface")


@pytest.mark.parametrize("pattern, mode", [
    ("mesh-vpn", "tap"), ("fft-%k", "multitap"), ("fastd-%k", "multitap"), ("ff-%n", "multitap"),
    ("%k", "multitap"),
])
def test_valid_interfaces(pattern, mode):
    assert f.validate_interface(pattern, mode, "i.interface", peer_names=["gw01"],
                                peer_keys=[KEY_A]) == []


@pytest.mark.parametrize("pattern, mode, kwargs, fragments", [
    ("", "tap", {}, ["non-empty"]),
    (None, "multitap", {}, ["non-empty"]),
    ("fft-%k", "tap", {}, ["tap mode has one interface"]),
    ("a-very-long-name", "tap", {}, ["at most 15"]),
    ("mesh vpn", "tap", {}, ["letters, digits"]),
    ("fft", "multitap", {}, ["no placeholder"]),
    ("a%kb%n", "multitap", {}, ["more than one placeholder"]),
    ("fft-%x", "multitap", {}, ["unknown placeholder"]),
    ("fft-%n", "multitap", {"has_on_verify": True}, ["on_verify"]),
    ("fft-%n", "multitap", {"peer_names": ["gw01", "a-long-peer-name"]},
     ["expands to 20", "'a-long-peer-name'", "at most 11"]),
    ("fft-%k-x", "multitap", {}, ["after %k", "cut off"]),
    ("fastd-ab%k", "multitap", {}, ["only 7 hex digits", "at most 7 characters"]),
    ("fft-%k", "multitap", {"peer_names": ["a", "b"], "peer_keys": [KEY_A, KEY_A2]},
     ["peers 'a' and 'b'", "fft-84ddcfa9c88"]),
])
def test_bad_interfaces(pattern, mode, kwargs, fragments):
    one_error(f.validate_interface(pattern, mode, "i.interface", **kwargs), "i.interface", *fragments)


def test_key_collision_depends_on_prefix_length():
    # KEY_A and KEY_A2 share 16 digits: %k alone keeps 15, so they collide;
    # keys differing in digit 12 collide with a 4-character prefix only.
    near = KEY_A[:11] + ("0" if KEY_A[11] != "0" else "1") + KEY_A[12:]
    assert f.validate_interface("%k", "multitap", "i", peer_keys=[KEY_A, KEY_A2])
    assert f.validate_interface("fft-%k", "multitap", "i", peer_keys=[KEY_A, near])
    assert f.validate_interface("ff-%k", "multitap", "i", peer_keys=[KEY_A, near]) == []


# --- keys, names, remotes, peers ------------------------------------------

@pytest.mark.parametrize("key", [KEY_A, KEY_A.upper()])
def test_valid_keys(key):
    assert f.validate_key(key, "k") == []


@pytest.mark.parametrize("key", [KEY_A[:-1], KEY_A + "0", "g" * 64, None, 42, "", KEY_A + "\n",
                                 " " + KEY_A])
def test_bad_keys(key):
    one_error(f.validate_key(key, "peers[3].key"), "peers[3].key", "64 hexadecimal")


@requires_fastd
def test_public_keys_are_the_keys_fastd_accepts(tmp_path):
    """64 hex digits are not yet a key: fastd loads it as a curve point and
    ignores a peer whose key is none. is_public_key must agree with fastd on
    random strings (about half pass) and on edge cases."""
    rnd = random.Random(2025)
    keys = ["%064x" % rnd.getrandbits(256) for _index in range(48)]
    keys += ["00" * 32, "ff" * 32, "7f" * 32, "01" + "00" * 31, "ed" + "ff" * 30 + "7f", KEY_A, KEY_B]
    verdicts = []
    for key in keys:
        peer_file = tmp_path / "p"
        peer_file.write_text('key "%s";\n' % key)
        rc, out = verify_config(tmp_path, 'method "null";\npeer "p" { include "%s"; }' % peer_file)
        assert (rc == 0) is f.is_public_key(key) is f.is_public_key(key.upper()), (key, out)
        verdicts.append(rc == 0)
    assert 10 < sum(verdicts) < len(keys) - 10  # both kinds were tried


def test_a_key_that_is_no_point_is_reported():
    bad = "%064x" % 1  # 64 hex digits, but not a point fastd accepts
    assert not f.is_public_key(bad)
    one_error(f.validate_key(bad, "peers[0].key"), "peers[0].key", "is not a fastd public key",
              "no valid key configured", "typo")
    assert f.validate_key(bad, "s", what="secret") == []  # any 64 digits are a secret


def test_secret_errors_do_not_echo_the_value():
    errors = f.validate_key("not-a-secret-value", "i.secret", what="secret")
    assert errors and "not-a-secret-value" not in errors[0]


@pytest.mark.parametrize("name", ["gw01", "node_1.example-x", "A", "9" * 63])
def test_valid_peer_names(name):
    assert f.validate_peer_name(name, "n") == []


@pytest.mark.parametrize("name", [".", "..", ".hidden", "-x", "a/b", "a b", "backup~", "",
                                  "x" * 64, None, 5, "gw01\n", "gw01\r", "gw\x0001"])
def test_bad_peer_names(name):
    one_error(f.validate_peer_name(name, "peers[0].name"), "peers[0].name", "peer name")


@pytest.mark.parametrize("remote, canonical", [
    ('"gw01.example.org" port 10000', '"gw01.example.org" port 10000'),
    ('"gw01.example.org":10000', '"gw01.example.org" port 10000'),
    ('ipv6 "gw01.example.org" port 10000', 'ipv6 "gw01.example.org" port 10000'),
    ("192.0.2.1:10000", "192.0.2.1:10000"),
    ("192.0.2.1 port 10000", "192.0.2.1:10000"),
    ("ipv4 192.0.2.1:1", "ipv4 192.0.2.1:1"),
    ("[2001:db8::1]:10000", "[2001:db8::1]:10000"),
    ("[fe80::1%eth0] port 65535", "[fe80::1%eth0]:65535"),
])
def test_parse_remote(remote, canonical):
    assert f.parse_remote(remote) == canonical


@pytest.mark.parametrize("remote", [
    '"gw01.example.org"', '"gw01.example.org" port 0', '"gw01.example.org":65536',
    "2001:db8::1:10000", "[2001:db8::zz]:1", "300.1.1.1:1", '"gw 01" port 1',
    '"a\\"b" port 1', "ipv6 192.0.2.1:1", "ipv4 [2001:db8::1]:1", 10000,
    # whole values only: Python's "$" also matches before a final newline
    '"gw01.example.org" port 10000\n', '"gw01.example.org\n" port 1', "192.0.2.1:1\n",
    '\t"gw01" port 1', '"gw01"\tport 1', '"gw01" port\n1', "[2001:db8::1]:1\r", "192.0.2.1:1\x00",
    # a scope is an interface name, as fastd reads it
    "[fe80::1%lo\n]:1", "[fe80::1%]:1", "[fe80::1%a b]:1", '[fe80::1%a"b]:1', "[fe80::1%a;b]:1",
    "[fe80::1%abcdefghijklmnop]:1", "[fe80::1%..]:1",
    '"gw01" port 1; float yes', "192.0.2.1:100000",
])
def test_bad_remotes(remote):
    with pytest.raises(ValueError):
        f.parse_remote(remote)


def peer(name="gw01", key=KEY_A, **extra):
    return dict(name=name, key=key, **extra)


def test_valid_peers():
    assert f.validate_peers([peer(), peer("gw02", KEY_B, remotes=["192.0.2.1:1"], float=True,
                                          comment="x")], "p") == []
    assert f.validate_peers([], "p") == []


@pytest.mark.parametrize("peers, var, fragments", [
    ({}, "p", ["must be a list"]),
    (["gw01"], "p[0]", ["must be a dict"]),
    ([peer(), peer("gw01", KEY_B)], "p[1].name", ["'gw01' is already used by p[0]"]),
    ([peer(), peer("gw02", KEY_A.upper())], "p[1].key", ["same key as p[0]"]),
    ([peer(port=1)], "p[0]", ["unknown keys port", "valid keys: name, key"]),
    ([{"key": KEY_A}], "p[0].name", ["required"]),
    ([{"name": "gw01"}], "p[0].key", ["required"]),
    ([peer(key="abc")], "p[0].key", ["64 hexadecimal"]),
    ([peer(name="../x")], "p[0].name", ["peer name"]),
    ([peer(remotes="192.0.2.1:1")], "p[0].remotes", ["list of strings"]),
    ([peer(remotes=["192.0.2.1:1", "gw01"])], "p[0].remotes[1]", ["not a fastd remote"]),
    ([peer(float="yes")], "p[0].float", ["boolean"]),
    ([peer(comment=["x"])], "p[0].comment", ["string"]),
])
def test_bad_peers(peers, var, fragments):
    one_error(f.validate_peers(peers, "p"), var, *fragments)


def test_all_peer_errors_are_reported():
    errors = f.validate_peers([peer(key="x"), peer("gw01", KEY_B, float=1), {"name": "-"}], "p")
    assert len(errors) == 5, errors  # bad key, bad float, duplicate name, missing key, bad name


# --- instances -------------------------------------------------------------

def instance(**changes):
    base = {
        "name": "mesh0", "port": 10000, "interface": "fft-%k", "mode": "multitap",
        "methods": ["null@l2tp", "salsa2012+umac", "null"], "offload_l2tp": True, "mtu": 1312,
        "bind": ["any"], "peer_limit": 100, "on_verify": True, "log_level": "info",
        "drop_capabilities": "early", "packet_mark": 0, "hide_ip_addresses": True,
        "secret": SECRET, "mesh": {"backend": "batman_adv", "interface": "bat0", "hop_penalty": 60},
        "peers": [peer(remotes=['"gw01.example.org" port 10000'])],
        "peer_groups": [{"name": "backbone", "peer_limit": 1, "peers": [peer("gw02", KEY_B)]}],
    }
    base.update(copy.deepcopy(changes))
    return base


def test_valid_instances():
    assert f.validate_instances([instance()]) == []
    assert f.validate_instances([{"name": "m", "port": 1, "interface": "m-%k"}]) == []
    assert f.validate_instances([instance(), instance(name="mesh1", port=10001, interface="ffx-%k")]) == []
    assert f.validate_instances([]) == []


@pytest.mark.parametrize("changes, var, fragments", [
    ({"bogus": 1}, "fastd_instances[0]", ["unknown keys bogus", "valid keys: name, state, port"]),
    ({"name": "Mesh 0"}, "fastd_instances[0].name", ["fastd@<name>"]),
    ({"name": "a" * 33}, "fastd_instances[0].name", ["1-32"]),
    ({"mode": "tun"}, "fastd_instances[0].mode", ["tap, multitap"]),
    ({"methods": ["l2tp@null"], "offload_l2tp": False}, "fastd_instances[0].methods[0]", ["null@l2tp"]),
    ({"offload_l2tp": "yes"}, "fastd_instances[0].offload_l2tp", ["boolean"]),
    ({"mode": "tap", "interface": "mesh-vpn"}, "fastd_instances[0].offload_l2tp", ["multitap"]),
    ({"mtu": 575}, "fastd_instances[0].mtu", ["576..65535", "575"]),
    ({"mtu": 65536}, "fastd_instances[0].mtu", ["576..65535"]),
    ({"mtu": "big"}, "fastd_instances[0].mtu", ["integer 576..65535, got string 'big'"]),
    ({"mtu": 1312.0}, "fastd_instances[0].mtu", ["integer", "got float 1312.0"]),
    ({"mtu": "-1312"}, "fastd_instances[0].mtu", ["got string '-1312'"]),
    ({"port": 0}, "fastd_instances[0].port", ["1..65535"]),
    ({"port": True}, "fastd_instances[0].port", ["integer 1..65535, got boolean true"]),
    ({"port": "abc"}, "fastd_instances[0].port", ["must be an integer 1..65535, got string 'abc'"]),
    ({"port": "65536"}, "fastd_instances[0].port", ["got string '65536'"]),
    ({"state": "gone"}, "fastd_instances[0].state", ["present, absent", "got string 'gone'"]),
    ({"bind": []}, "fastd_instances[0].bind", ["non-empty list"]),
    ({"bind": ["192.0.2.1:10000"]}, "fastd_instances[0].bind[0]", ["without port"]),
    ({"bind": ["any", "gw01"]}, "fastd_instances[0].bind[1]", ["IP address"]),
    ({"interface": "fft-%k-x"}, "fastd_instances[0].interface", ["after %k"]),
    ({"interface": "fft-%n"}, "fastd_instances[0].interface", ["on_verify"]),
    ({"peer_limit": -1}, "fastd_instances[0].peer_limit", ["or null"]),
    ({"peers": [peer("gw02", KEY_A)]}, "fastd_instances[0].peer_groups[0].peers[0].name",
     ["already used by fastd_instances[0].peers[0]"]),
    ({"peer_groups": [{"name": "g", "peers": [peer("gw03", KEY_A)]}]},
     "fastd_instances[0].peer_groups[0].peers[0].key", ["same key as fastd_instances[0].peers[0]"]),
    ({"peer_groups": [{"name": "g"}, {"name": "g"}]}, "fastd_instances[0].peer_groups[1].name",
     ["already used"]),
    ({"peer_groups": [{"name": "g", "limit": 1}]}, "fastd_instances[0].peer_groups[0]",
     ["unknown keys limit", "name, peer_limit, peers"]),
    ({"peer_groups": [{"name": "g", "peer_limit": "one"}]},
     "fastd_instances[0].peer_groups[0].peer_limit", ["integer 0..2147483647 or null, got string 'one'"]),
    ({"peer_groups": {"name": "g"}}, "fastd_instances[0].peer_groups", ["list"]),
    ({"on_verify": ""}, "fastd_instances[0].on_verify", ["command"]),
    ({"on_verify": 1}, "fastd_instances[0].on_verify", ["command"]),
    ({"log_level": "warning"}, "fastd_instances[0].log_level", ["error, warn, info"]),
    ({"drop_capabilities": "always"}, "fastd_instances[0].drop_capabilities", ["yes, no, early, force"]),
    ({"packet_mark": -1}, "fastd_instances[0].packet_mark", ["or null"]),
    ({"hide_ip_addresses": "yes"}, "fastd_instances[0].hide_ip_addresses", ["boolean"]),
    ({"secret": "00" * 31}, "fastd_instances[0].secret", ["64 hexadecimal"]),
    ({"mesh": {"backend": "batman", "interface": "bat0"}}, "fastd_instances[0].mesh.backend",
     ["batman_adv, bridge"]),
])
def test_bad_instance(changes, var, fragments):
    one_error(f.validate_instances([instance(**changes)]), var, *fragments)


@pytest.mark.parametrize("key", ["name", "port", "interface"])
def test_required_instance_keys(key):
    inst = instance()
    del inst[key]
    one_error(f.validate_instances([inst]), "fastd_instances[0].%s" % key, "required")


@pytest.mark.parametrize("value", [True, False, "yes", "no", "early", "force", None])
def test_drop_capabilities_values(value):
    assert f.validate_instances([instance(drop_capabilities=value)]) == []


def test_instances_not_a_list():
    one_error(f.validate_instances({"name": "x"}), "fastd_instances", "list")
    one_error(f.validate_instances(["x"]), "fastd_instances[0]", "dict")


@pytest.mark.parametrize("bind_a, bind_b, overlap", [
    (["any"], ["192.0.2.1"], True),
    (["192.0.2.1"], ["192.0.2.1"], True),
    (["0.0.0.0"], ["127.0.0.1"], True),
    (["::"], ["2001:db8::1"], True),
    (["[2001:db8::1]"], ["2001:db8::1"], True),
    (["192.0.2.1"], ["192.0.2.2"], False),
    (["0.0.0.0"], ["::"], False),
    (["192.0.2.1"], ["2001:db8::1"], False),
])
def test_port_and_bind_overlap(bind_a, bind_b, overlap):
    a = instance(bind=bind_a)
    b = instance(name="mesh1", interface="ffx-%k", bind=bind_b)
    errors = f.validate_instances([a, b])
    if overlap:
        one_error(errors, "fastd_instances[1]", "port 10000", "overlaps fastd_instances[0]")
    else:
        assert errors == []
    b["port"] = 10001
    assert f.validate_instances([a, b]) == []


def test_cross_instance_names_and_interfaces():
    errors = f.validate_instances([instance(), instance(port=10001)])
    assert len(errors) == 2, errors
    assert errors[0].startswith("fastd_instances[1].name") and "already used" in errors[0]
    assert errors[1].startswith("fastd_instances[1].interface") and "same interface names" in errors[1]


def test_every_mistake_is_reported_at_once():
    errors = f.validate_instances([instance(mtu=1, port=0, log_level="x", methods=["null", "null@l2tp"])])
    assert len(errors) == 4, errors


def test_instance_with_defaults():
    merged = f.instance_with_defaults({"name": "m", "methods": ["null"]})
    assert merged["methods"] == ["null"] and merged["mode"] == "multitap" and merged["bind"] == ["any"]
    merged["bind"].append("x")
    assert f.INSTANCE_DEFAULTS["bind"] == ["any"]


def test_instance_with_defaults_normalizes_integers():
    merged = f.instance_with_defaults({
        "name": "m", "port": "10010", "mtu": "1400", "peer_limit": "5", "packet_mark": "0",
        "peer_groups": [{"name": "g", "peer_limit": "1"}, {"name": "h"}],
        "mesh": {"backend": "batman_adv", "interface": "bat0", "hop_penalty": "60"}})
    assert (merged["port"], merged["mtu"], merged["peer_limit"], merged["packet_mark"]) == (10010, 1400, 5, 0)
    assert all(merged[k].__class__ is int for k in ("port", "mtu", "peer_limit", "packet_mark"))
    assert merged["peer_groups"] == [{"name": "g", "peer_limit": 1, "peers": []},
                                     {"name": "h", "peer_limit": None, "peers": []}]
    assert merged["mesh"] == {"backend": "batman_adv", "interface": "bat0", "hop_penalty": 60,
                              "isolated": None, "mac": None}
    assert merged["state"] == "present"


@pytest.mark.parametrize("port", [10000, "10000"])
def test_digit_strings_are_integers_in_every_check(port):
    """A quoted port is the same port: the overlap check sees it too."""
    errors = f.validate_instances([instance(), instance(name="mesh1", interface="ffx-%k", port=port)])
    one_error(errors, "fastd_instances[1]", "port 10000", "overlaps fastd_instances[0]")


# --- state -----------------------------------------------------------------

def test_an_absent_instance_needs_only_its_name():
    assert f.validate_instances([{"name": "old", "state": "absent"}]) == []
    one_error(f.validate_instances([{"state": "absent"}]), "fastd_instances[0].name", "required")
    one_error(f.validate_instances([{"name": "old", "state": "absent", "mtu": 1}]),
              "fastd_instances[0].mtu", "576..65535")
    one_error(f.validate_instances([{"name": "old", "state": "absent", "bogus": 1}]),
              "fastd_instances[0]", "unknown keys bogus")


def test_absent_instances_take_part_in_no_collision_but_keep_their_name():
    present = instance()
    retired = dict(instance(name="mesh1"), state="absent")  # same port and interface as mesh0
    assert f.validate_instances([present, retired]) == []
    assert f.validate_instances([retired, present]) == []
    errors = f.validate_instances([present, dict(instance(), state="absent")])
    one_error(errors, "fastd_instances[1].name", "already used by fastd_instances[0]")


@pytest.mark.parametrize("state", ["Absent", "", None, True, "present\n"])
def test_bad_state(state):
    one_error(f.validate_instances([instance(state=state)]), "fastd_instances[0].state",
              "must be one of present, absent")


# --- scopes and injection ---------------------------------------------------

INJECTION = '::1%x]:10000; on establish "touch /tmp/pwned"; #'


@pytest.mark.parametrize("bind", [INJECTION, "fe80::1%lo\n", "fe80::1%", "[fe80::1%a b]",
                                  "fe80::1%" + "x" * 16, "fe80::1%..", "::1%x]", "192.0.2.1%lo"])
def test_bind_scopes_must_be_interface_names(bind):
    one_error(f.validate_instances([instance(bind=["any", bind])]), "fastd_instances[0].bind[1]",
              "the port is set by fastd_instances[0].port")


@pytest.mark.parametrize("bind", ["fe80::1%lo", "[fe80::1%eth0.100]", "fe80::1%2", "fe80::1%br-client"])
def test_bind_scopes_that_are_interface_names(bind):
    assert f.validate_instances([instance(bind=[bind])]) == []


def test_parse_bind():
    assert f.parse_bind("any") == "any"
    addr, scope = f.parse_bind("[fe80::1%lo]")
    assert (str(addr), scope) == ("fe80::1", "lo")
    assert f.parse_bind("192.0.2.1")[1] is None
    with pytest.raises(ValueError, match="is not 'any' or an IP address"):
        f.parse_bind("::1\n")
