"""Tests for plugins/filter/fastd.py: what the fastd role renders from fastd_instances,
checked against fastd and the on-connect script where they have the last word."""

import copy
import os
import re
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.freifunk.gateway.plugins.filter import fastd as flt
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import INSTANCE_DEFAULTS
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe

FASTD = shutil.which("fastd")
requires_fastd = pytest.mark.skipif(FASTD is None, reason="needs the fastd binary")
REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
ON_CONNECT = os.path.join(REPO, "roles", "on_connect", "files", "freifunk-on-connect")

KEY_A = "84ddcfa9c8887a361f4ee619d79a642c50acd0d04a2b3109ab65a85e34f24f0f"
KEY_B = "57401fc65b85c386feecaba0661fd1e927f08130e61132538839c5728380751a"
KEY_C = "22873f22bc2611fccf5421f86d67a4267f86c9d18cae9c2589d3a0198e4affaf"  # from fastd --generate-key
# A secret only used to let fastd parse test configs.
SECRET = "f8a2832608f6a63a1bf5e70e515c37e1cb1d3550048a56aa532c0050fff16760"
SCRIPT = "/usr/local/sbin/freifunk-on-connect"
FILTERS = ("fastd_instance_errors", "fastd_instances_normalized", "fastd_instance_secret",
           "fastd_peer_dirs", "fastd_bind", "fastd_quote", "fastd_hook", "fastd_interface_name",
           "fastd_listeners")


def instance(**extra):
    inst = {"name": "mesh0", "port": 10000, "interface": "fft-%k"}
    inst.update(extra)
    return inst


# --- plugin (its documentation: test_filter_docs.py) ---------------------------

def test_filter_module_offers_every_filter():
    assert sorted(flt.FilterModule().filters()) == sorted(FILTERS)


# --- fastd_instance_errors -----------------------------------------------------

def test_instance_errors_empty_for_a_valid_list():
    assert flt.fastd_instance_errors([instance(), instance(name="mesh1", port=10001,
                                                           interface="ffb-%k")]) == []


@pytest.mark.parametrize("instances, var, expected", [
    ([{"name": "mesh0", "interface": "fft-%k"}], "fastd_instances",
     ["fastd_instances[0].port is required"]),
    ([{"name": "mesh0", "interface": "fft-%k"}], "site_vpn",
     ["site_vpn[0].port is required"]),
    ({"name": "mesh0"}, "fastd_instances",
     ["fastd_instances must be a list of instances, got dict"]),
    ([instance(), instance(port=10001, interface="ffb-%k")], "fastd_instances",
     ["fastd_instances[1].name: 'mesh0' is already used by fastd_instances[0]"]),
])
def test_instance_errors_name_the_variable(instances, var, expected):
    args = (instances,) if var == "fastd_instances" else (instances, var)
    assert flt.fastd_instance_errors(*args) == expected


def test_instance_errors_reach_into_mesh():
    errors = flt.fastd_instance_errors([instance(mesh={"backend": "babel", "interface": "bat0"})])
    assert len(errors) == 1, errors
    assert errors[0].startswith("fastd_instances[0].mesh.backend must be one of batman_adv, bridge")


# --- fastd_instances_normalized ------------------------------------------------

@pytest.mark.parametrize("name", ["mesh0", "ffki-1", "a"])
def test_normalized_derives_paths_from_the_name(name):
    (inst,) = flt.fastd_instances_normalized([instance(name=name)])
    assert inst["config_dir"] == "/etc/fastd/%s" % name
    assert inst["config_file"] == "/etc/fastd/%s/fastd.conf" % name
    assert inst["secret_file"] == "/etc/fastd/%s/secret.conf" % name
    assert inst["peers_dir"] == "/etc/fastd/%s/peers" % name
    assert inst["status_socket"] == "/run/fastd/%s.sock" % name
    assert inst["pending_file"] == "/run/fastd/%s.pending" % name
    assert inst["unit"] == "fastd@%s.service" % name


def test_normalized_fills_in_defaults_and_keeps_given_values():
    given = [instance(), instance(name="legacy", port=10001, interface="mesh-vpn", mode="tap",
                                  methods=["salsa2012+gmac"], mtu=1280, bind=["192.0.2.1"])]
    before = copy.deepcopy(given)
    first, second = flt.fastd_instances_normalized(given)
    assert given == before, "the input must not change"
    assert (first["mode"], first["methods"], first["mtu"], first["bind"]) == (
        "multitap", ["salsa2012+umac"], 1312, ["any"])
    assert (first["offload_l2tp"], first["peers"], first["peer_groups"], first["mesh"]) == (
        False, [], [], None)
    assert (second["name"], second["mode"], second["interface"], second["methods"],
            second["mtu"], second["bind"]) == (
        "legacy", "tap", "mesh-vpn", ["salsa2012+gmac"], 1280, ["192.0.2.1"])


def test_normalized_default_lists_are_not_shared():
    first, second = flt.fastd_instances_normalized([instance(), instance(
        name="mesh1", port=10001, interface="ffb-%k")])
    first["methods"].append("null")
    first["bind"].append("192.0.2.1")
    assert second["methods"] == ["salsa2012+umac"] and second["bind"] == ["any"]
    (again,) = flt.fastd_instances_normalized([instance()])
    assert again["methods"] == ["salsa2012+umac"] and again["bind"] == ["any"]


def test_normalized_of_nothing_is_nothing():
    assert flt.fastd_instances_normalized([]) == []


@pytest.mark.parametrize("instances, lines", [
    ({"name": "mesh0"}, ["fastd_instances must be a list of instances, got dict"]),
    ([{"name": "mesh0", "interface": "fft-%k"}], ["fastd_instances[0].port is required"]),
    ([{"name": "mesh0"}], ["fastd_instances[0].port is required",
                           "fastd_instances[0].interface is required"]),
    ([instance(mtu=100)], ["fastd_instances[0].mtu must be an integer 576..65535, got 100"]),
])
def test_normalized_raises_with_every_message(instances, lines):
    with pytest.raises(AnsibleFilterError) as err:
        flt.fastd_instances_normalized(instances)
    assert str(err.value).splitlines() == ["fastd_instances is invalid:"] + lines


# --- fastd_peer_dirs -------------------------------------------------------------

def test_peer_dirs_one_per_instance_and_group():
    peer_a = {"name": "node-a", "key": KEY_A}
    peer_b = {"name": "node-b", "key": KEY_B, "remotes": ['"node-b.example.org" port 10000']}
    peer_c = {"name": "node-c", "key": KEY_C}
    instances = [
        instance(peers=[peer_a], peer_groups=[
            {"name": "backbone", "peer_limit": 2, "peers": [peer_b]},
            {"name": "empty"},
        ]),
        instance(name="mesh1", port=10001, interface="ffb-%k", peers=[peer_c]),
    ]
    assert flt.fastd_peer_dirs(instances) == [
        {"instance": "mesh0", "path": "/etc/fastd/mesh0/peers", "peers": [peer_a]},
        {"instance": "mesh0", "path": "/etc/fastd/mesh0/groups/backbone", "peers": [peer_b]},
        {"instance": "mesh0", "path": "/etc/fastd/mesh0/groups/empty", "peers": []},
        {"instance": "mesh1", "path": "/etc/fastd/mesh1/peers", "peers": [peer_c]},
    ]


def test_peer_dirs_of_an_instance_without_peers():
    assert flt.fastd_peer_dirs([instance()]) == [
        {"instance": "mesh0", "path": "/etc/fastd/mesh0/peers", "peers": []}]


def test_peer_dirs_raise_on_invalid_instances():
    with pytest.raises(AnsibleFilterError, match=r"fastd_instances\[0\]\.peers\[0\]\.key is required"):
        flt.fastd_peer_dirs([instance(peers=[{"name": "node-a"}])])


# --- fastd_bind ----------------------------------------------------------------

BINDS = [
    ("any", "any:10000"),
    ("0.0.0.0", "0.0.0.0:10000"),
    ("192.0.2.1", "192.0.2.1:10000"),
    ("[192.0.2.1]", "192.0.2.1:10000"),  # fastd rejects brackets around IPv4
    ("::", "[::]:10000"),
    ("2001:db8::1", "[2001:db8::1]:10000"),
    ("[2001:db8::1]", "[2001:db8::1]:10000"),
    # fastd's lexer reads hex digits and colons only
    ("::ffff:192.0.2.1", "[0000:0000:0000:0000:0000:ffff:c000:0201]:10000"),
    ("fe80::1%lo", "[fe80::1%lo]:10000"),
    ("[fe80::1%lo]", "[fe80::1%lo]:10000"),
]


@pytest.mark.parametrize("address, expected", BINDS)
def test_bind(address, expected):
    assert flt.fastd_bind(address, 10000) == expected


@requires_fastd
@pytest.mark.parametrize("address", [a for a, _e in BINDS])
def test_bind_is_accepted_by_fastd(tmp_path, address, fastd_verify):
    rc, out = fastd_verify("bind %s;" % flt.fastd_bind(address, 10000))
    assert rc == 0, out


@pytest.mark.parametrize("address, port, message", [
    ("192.0.2.1:10000", 10000, "'192.0.2.1:10000' is not 'any' or an IP address (without port)"),
    ("[2001:db8::1]:10000", 10000,
     "'[2001:db8::1]:10000' is not 'any' or an IP address (without port)"),
    ("gw01.example.org", 10000, "'gw01.example.org' is not 'any' or an IP address (without port)"),
    ("192.0.2.1%eth0", 10000, "'192.0.2.1%eth0' is not 'any' or an IP address (without port; "
     "only IPv6 addresses have a scope)"),
    ("", 10000, "'' is not 'any' or an IP address (without port)"),
    (None, 10000, "expected 'any' or an IP address, got null"),
    ("any", "abc", "port must be an integer 1..65535, got string 'abc'"),
    ("any", "0", "port must be an integer 1..65535, got string '0'"),
    ("any", 65536, "port must be an integer 1..65535, got 65536"),
    ("any", True, "port must be an integer 1..65535, got boolean true"),
    ("any", None, "port must be an integer 1..65535, got null"),
])
def test_bind_rejects(address, port, message):
    with pytest.raises(AnsibleFilterError) as err:
        flt.fastd_bind(address, port)
    assert str(err.value) == "fastd_bind: " + message


# --- fastd_quote ---------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("fft-%k", '"fft-%k"'),
    ('say "hi"', r'"say \"hi\""'),
    ("C:\\tmp", r'"C:\\tmp"'),
    ('\\"', r'"\\\""'),
    ("", '""'),
    (10000, '"10000"'),
])
def test_quote(value, expected):
    assert flt.fastd_quote(value) == expected


@requires_fastd
@pytest.mark.parametrize("name", ['say "hi".conf', "back\\slash.conf", 'both\\".conf',
                                  "two\\\\.conf"])
def test_fastd_reads_a_quoted_path_back_exactly(tmp_path, name, fastd_verify):
    """fastd opens an included file while it parses, so a config that includes
    the file by its quoted path only passes if fastd unescapes the string to
    exactly that path; quoted naively, the same path does not."""
    path = tmp_path / name
    path.write_text("log level info;\n")
    rc, out = fastd_verify("include %s;" % flt.fastd_quote(str(path)))
    assert rc == 0, out
    naive_rc, _out = fastd_verify('include "%s";' % path)
    assert naive_rc != 0


# --- fastd_hook ----------------------------------------------------------------

BATMAN = {"backend": "batman_adv", "interface": "bat0"}
BRIDGE = {"backend": "bridge", "interface": "br-client"}


@pytest.mark.parametrize("mesh, action, expected", [
    (dict(BATMAN, hop_penalty=60), "attach",
     SCRIPT + " attach $INTERFACE --backend batman_adv --mesh bat0 --hop-penalty 60"),
    (dict(BATMAN, hop_penalty=0), "attach",
     SCRIPT + " attach $INTERFACE --backend batman_adv --mesh bat0 --hop-penalty 0"),
    (dict(BATMAN, hop_penalty=None), "attach",
     SCRIPT + " attach $INTERFACE --backend batman_adv --mesh bat0"),
    (dict(BATMAN, hop_penalty=60), "detach",
     SCRIPT + " detach $INTERFACE --backend batman_adv --mesh bat0"),
    (dict(BRIDGE, isolated=True), "attach",
     SCRIPT + " attach $INTERFACE --backend bridge --bridge br-client --isolated"),
    (dict(BRIDGE, isolated=False), "attach",
     SCRIPT + " attach $INTERFACE --backend bridge --bridge br-client"),
    (dict(BRIDGE, isolated=True), "detach",
     SCRIPT + " detach $INTERFACE --backend bridge --bridge br-client"),
])
def test_hook(mesh, action, expected):
    assert flt.fastd_hook(mesh, action, SCRIPT) == expected


@pytest.mark.parametrize("mesh", [None, {}])
@pytest.mark.parametrize("action", ["attach", "detach"])
def test_hook_without_mesh_is_none(mesh, action):
    assert flt.fastd_hook(mesh, action, SCRIPT) is None


@pytest.mark.parametrize("mesh", [None, BATMAN])
@pytest.mark.parametrize("action", ["up", "Attach", "", None])
def test_hook_bad_action_raises_even_without_mesh(mesh, action):
    with pytest.raises(AnsibleFilterError) as err:
        flt.fastd_hook(mesh, action, SCRIPT)
    assert str(err.value) == "fastd_hook: action must be attach or detach, got %s" % describe(action)


@pytest.mark.parametrize("script", [None, "", 5])
def test_hook_without_script_names_on_connect_script(script):
    with pytest.raises(AnsibleFilterError, match=r"on_connect_script\), got %s$" % re.escape(describe(script))):
        flt.fastd_hook(BATMAN, "attach", script)


def test_hook_quotes_the_script_for_the_shell():
    assert flt.fastd_hook(BRIDGE, "detach", "/opt/free funk/on-connect") == (
        "'/opt/free funk/on-connect' detach $INTERFACE --backend bridge --bridge br-client")


@pytest.mark.parametrize("mesh", [dict(BATMAN, hop_penalty=60), dict(BRIDGE, isolated=True)])
def test_hook_commands_are_understood_by_the_on_connect_script(tmp_path, mesh):
    """Run the hooks the way fastd does (sh -c, $INTERFACE set) against the
    collection's script, from a path with a space, for an interface that does
    not exist: detach has nothing to do (0), attach stops at the missing
    interface (1); a usage error would be 2."""
    script = tmp_path / "on connect"
    shutil.copy(ON_CONNECT, script)
    env = dict(os.environ, INTERFACE="ffunit-absent0")
    detach = subprocess.run(["/bin/sh", "-c", flt.fastd_hook(mesh, "detach", str(script))],
                            env=env, capture_output=True, text=True, check=False)
    assert detach.returncode == 0, detach.stderr
    attach = subprocess.run(["/bin/sh", "-c", flt.fastd_hook(mesh, "attach", str(script))],
                            env=env, capture_output=True, text=True, check=False)
    assert attach.returncode == 1, attach.stderr
    assert "attach ffunit-absent0: no such interface" in attach.stderr


@pytest.mark.parametrize("pattern, kwargs, expected", [
    ("mesh0-%k", {"key": "A2188E5CA27664D74552B9693CF4DD330DE4C8E80B410F84E060F5419F821711"}, "mesh0-a2188e5ca"),
    ("%k", {"key": "a2188e5ca27664d74552b9693cf4dd330de4c8e80b410f84e060f5419f821711"}, "a2188e5ca27664d"),
    ("mesh-%n", {"name": "node-a"}, "mesh-node-a"),
    ("vpn-%n-x", {"name": "averyveryverylongname"}, "vpn-averyveryve"),
])
def test_fastd_interface_name_cuts_like_fastd(pattern, kwargs, expected):
    from ansible_collections.freifunk.gateway.plugins.filter.fastd import fastd_interface_name
    assert fastd_interface_name(pattern, **kwargs) == expected


# --- promises: secrets, state, integers, injection -------------------------------

# every key of an instance but the secret, plus what the filter derives
NORMALIZED_KEYS = set(INSTANCE_DEFAULTS) - {"secret"} | {
    "secret_given", "config_dir", "config_file", "secret_file", "peers_dir", "pending_file", "unit"}


@pytest.mark.parametrize("secret, given", [(SECRET, True), (None, False)])
def test_normalized_carries_no_secret(secret, given):
    (inst,) = flt.fastd_instances_normalized([instance(secret=secret)])
    assert set(inst) == NORMALIZED_KEYS
    assert inst["secret_given"] is given
    assert SECRET not in repr(inst)


def test_normalized_without_a_secret_key_at_all():
    (inst,) = flt.fastd_instances_normalized([instance()])
    assert inst["secret_given"] is False and "secret" not in inst


def test_normalized_integers_given_as_strings_become_int():
    (inst,) = flt.fastd_instances_normalized([instance(
        port="10010", mtu="1400", peer_limit="20", packet_mark="3",
        peer_groups=[{"name": "backbone", "peer_limit": "2"}],
        mesh={"backend": "batman_adv", "interface": "bat0", "hop_penalty": "60"})])
    assert (inst["port"], inst["mtu"], inst["peer_limit"], inst["packet_mark"]) == (10010, 1400, 20, 3)
    assert inst["peer_groups"] == [{"name": "backbone", "peer_limit": 2, "peers": []}]
    assert inst["mesh"]["hop_penalty"] == 60
    assert flt.fastd_bind("any", inst["port"]) == "any:10010"


def test_normalized_keeps_absent_instances_with_their_paths():
    present, absent = flt.fastd_instances_normalized([instance(), {"name": "old", "state": "absent"}])
    assert (present["state"], absent["state"]) == ("present", "absent")
    assert set(absent) == NORMALIZED_KEYS
    assert absent["config_dir"] == "/etc/fastd/old" and absent["unit"] == "fastd@old.service"
    assert absent["port"] is None and absent["secret_given"] is False


def test_peer_dirs_leave_out_absent_instances():
    instances = [instance(), dict(instance(name="old", peers=[{"name": "node-a", "key": KEY_A}]),
                                  state="absent")]
    assert [d["instance"] for d in flt.fastd_peer_dirs(instances)] == ["mesh0"]


def test_instance_secret_by_name():
    instances = [instance(secret=SECRET.upper()), instance(name="mesh1", port=10001, interface="ffb-%k")]
    assert flt.fastd_instance_secret(instances, "mesh0") == SECRET.upper()
    assert flt.fastd_instance_secret(instances, "mesh1") is None


@pytest.mark.parametrize("instances, name, message", [
    ([instance()], "mesh9", "fastd_instance_secret: no instance has the name 'mesh9'"),
    ([instance()], None, "fastd_instance_secret: no instance has the name null"),
    ({"name": "mesh0"}, "mesh0", "fastd_instance_secret: instances must be a list, got dict"),
    ([instance(secret=SECRET + "\n")], "mesh0",
     "fastd_instance_secret: fastd_instances[0].secret must be a fastd secret key: 64 hexadecimal "
     "digits (got a string that is not)"),
])
def test_instance_secret_refuses(instances, name, message):
    with pytest.raises(AnsibleFilterError) as err:
        flt.fastd_instance_secret(instances, name)
    assert str(err.value) == message


INJECTION = '::1%x]:10000; on establish "touch /tmp/pwned"; #'


@pytest.mark.parametrize("address", [INJECTION, "fe80::1%lo\n", "[fe80::1%lo x]", "fe80::1%"])
def test_bind_refuses_scopes_that_are_not_interface_names(address):
    with pytest.raises(AnsibleFilterError, match="^fastd_bind: "):
        flt.fastd_bind(address, 10000)
    assert flt.fastd_instance_errors([instance(bind=[address])])


@pytest.mark.parametrize("value", ["fft-%k\n", "/etc/fastd/x\"\non up \"id", "\x00", "a\tb"])
def test_quote_refuses_control_characters(value):
    with pytest.raises(AnsibleFilterError, match="^fastd_quote: .*control character"):
        flt.fastd_quote(value)


@pytest.mark.parametrize("value", [None, True, ["x"], {"a": 1}])
def test_quote_refuses_values_that_are_not_strings_or_integers(value):
    with pytest.raises(AnsibleFilterError, match="^fastd_quote: a fastd string must be a string"):
        flt.fastd_quote(value)


@pytest.mark.parametrize("mesh, message", [
    (dict(BATMAN, interface="bat0; id"), "mesh.interface must be an interface name"),
    (dict(BATMAN, interface="bat0\n"), "mesh.interface must be an interface name"),
    (dict(BATMAN, hop_penalty="60; id"), "mesh.hop_penalty must be an integer 0..255"),
    (dict(BATMAN, backend="batman_adv --evil"), "mesh.backend must be one of"),
    (dict(BRIDGE, isolated="yes"), "mesh.isolated must be a boolean"),
])
def test_hook_refuses_what_validation_refuses(mesh, message):
    with pytest.raises(AnsibleFilterError) as err:
        flt.fastd_hook(mesh, "attach", SCRIPT)
    assert str(err.value).startswith("fastd_hook: " + message)


def test_hook_refuses_a_script_path_with_a_newline():
    with pytest.raises(AnsibleFilterError, match="newline"):
        flt.fastd_hook(BATMAN, "attach", "/usr/local/sbin/x\nid")


def test_hook_takes_a_hop_penalty_given_as_string():
    assert flt.fastd_hook(dict(BATMAN, hop_penalty="60"), "attach", SCRIPT) == (
        SCRIPT + " attach $INTERFACE --backend batman_adv --mesh bat0 --hop-penalty 60")


def test_listeners_keep_where_fastd_listens_and_nothing_else():
    peers = [{"name": "n0", "key": "2e979b6ad35ead48442b974d65fac7880c9188d348aaa10273a2fd9d70e1d88f"}]
    normalized = flt.fastd_instances_normalized([instance(peers=peers), {"name": "old", "state": "absent"}])
    listeners = flt.fastd_listeners(normalized)
    assert listeners == [
        {"name": "mesh0", "state": "present", "port": 10000, "bind": ["any"], "mode": "multitap",
         "interface": "fft-%k", "unit": "fastd@mesh0.service"},
        {"name": "old", "state": "absent", "port": None, "bind": ["any"], "mode": "multitap",
         "interface": None, "unit": "fastd@old.service"},
    ]
