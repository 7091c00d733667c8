"""Tests for plugins/filter/tunneldigger.py: what the tunneldigger role checks
and renders from tunneldigger_instances, tunneldigger_source and
tunneldigger_blocked_uuids. The rules themselves are tested in
tests/unit/plugins/module_utils/test_tunneldigger.py; here: that the filters
reach them, fail with AnsibleFilterError, and that a hook command survives
the shell of the wrapper the role writes."""

import configparser
import copy
import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.freifunk.gateway.plugins.filter import tunneldigger as flt
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe

REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
FILTER_DIR = os.path.join(REPO, "plugins", "filter")
ON_CONNECT = os.path.join(REPO, "roles", "on_connect", "files", "freifunk-on-connect")
SCRIPT = "/usr/local/sbin/freifunk-on-connect"
SHA = "sha256:" + "0123456789abcdef" * 4
NFT_SET = ["inet", "freifunk_tunneldigger", "blocked4"]
FILTERS = ("tunneldigger_errors", "tunneldigger_instances_normalized", "tunneldigger_host_errors",
           "tunneldigger_source_normalized", "tunneldigger_config", "tunneldigger_hook", "tunneldigger_blocklist")
EVENTS = ("session.up", "session.pre-down", "session.down", "session.mtu-changed", "broker.connection-rate-limit")
BATMAN = {"backend": "batman_adv", "interface": "bat0", "hop_penalty": 60}


def instance(**extra):
    inst = {"name": "td0", "address": "192.0.2.1", "ports": [8942], "interface": "eth0"}
    inst.update(extra)
    return inst


def normalized(**extra):
    (inst,) = flt.tunneldigger_instances_normalized([instance(**extra)])
    return inst


# --- plugin (its documentation: test_filter_docs.py) ---------------------------

def test_filter_module_offers_every_filter():
    assert sorted(flt.FilterModule().filters()) == sorted(FILTERS)


def test_documented_hook_example_is_what_the_filter_returns():
    """The sample in tunneldigger_hook.yml is a real result."""
    with open(os.path.join(FILTER_DIR, "tunneldigger_hook.yml")) as handle:
        doc = yaml.safe_load(handle)
    inst = normalized(mesh=BATMAN, mtu=1364)
    assert doc["RETURN"]["_value"]["sample"] == flt.tunneldigger_hook(inst, "session.up", SCRIPT)


# --- tunneldigger_errors -----------------------------------------------------------

def test_errors_empty_for_valid_settings():
    assert flt.tunneldigger_errors([instance()], [{"name": "mesh0", "port": 10000}],
                                   {"url": "https://example.org/td.git", "version": "v0.4.0"},
                                   ["aa:bb:cc:dd:ee:ff"]) == []
    assert flt.tunneldigger_errors([]) == []


def test_errors_of_every_variable_at_once():
    errors = flt.tunneldigger_errors(
        [instance(address="2001:db8::1")], [{"name": "mesh0", "port": 8942}],
        {"type": "archive", "src": "/srv/td.tar.gz"}, ["not a uuid"])
    assert errors == [
        "tunneldigger_instances[0].address: 2001:db8::1 is IPv6, but the tunneldigger broker has no IPv6 "
        "transport (nodes reach brokers over IPv4 only); give the interface's IPv4 address",
        "tunneldigger_source.checksum must be sha256:<64 hex digits> of the archive (sha256sum prints it), "
        "got null",
        "tunneldigger_blocked_uuids[0] must be a node uuid (Gluon: the node's primary MAC, with or without "
        "colons; 1-64 of letters, digits, '_', '.', ':', '-'), got string 'not a uuid'",
    ]


def test_errors_see_fastd_ports():
    assert flt.tunneldigger_errors([instance()], [{"name": "mesh0", "port": 8942}]) == [
        "tunneldigger_instances[0].ports[0]: port 8942 is already used by fastd_instances[0] (mesh0); brokers "
        "bind with SO_REUSEPORT, so a shared port starts without error and then loses handshakes at random"]
    assert flt.tunneldigger_errors([instance()], [{"name": "mesh0", "port": 8942, "state": "absent"}]) == []


def test_errors_skip_what_is_not_given():
    """Without a source or blocklist there is nothing to check of them."""
    assert flt.tunneldigger_errors([instance()], None, None, None) == []


def test_errors_of_a_non_list():
    assert flt.tunneldigger_errors("td0") == [
        "tunneldigger_instances must be a list of broker instances, got string 'td0'"]


# --- tunneldigger_instances_normalized -------------------------------------------

def test_normalized_fills_in_defaults_and_paths():
    given = [instance(ports=["8942"], mtu="1400"), {"name": "old", "state": "absent"}]
    before = copy.deepcopy(given)
    present, absent = flt.tunneldigger_instances_normalized(given)
    assert given == before, "the input must not change"
    assert (present["ports"], present["mtu"], present["max_tunnels"], present["tunnel_id_base"]) == (
        [8942], 1400, 1024, 100)
    assert (present["connection_rate_limit"], present["pmtu"], present["log_verbosity"],
            present["log_ip_addresses"], present["mesh"]) == (0.2, 0, "INFO", False, None)
    assert (present["config_file"], present["hooks_dir"], present["state_dir"], present["unit"]) == (
        "/etc/tunneldigger/td0/broker.cfg", "/etc/tunneldigger/td0/hooks", "/run/tunneldigger/td0",
        "tunneldigger@td0.service")
    assert (absent["state"], absent["config_dir"], absent["unit"]) == (
        "absent", "/etc/tunneldigger/old", "tunneldigger@old.service")
    assert (present["index"], absent["index"]) == (0, 1), "the place in tunneldigger_instances, for messages"


def test_normalized_of_nothing_is_nothing():
    assert flt.tunneldigger_instances_normalized([]) == []


def test_normalized_raises_with_every_message():
    with pytest.raises(AnsibleFilterError) as err:
        flt.tunneldigger_instances_normalized([{"name": "td0"}, instance(pmtu=1500)])
    assert str(err.value) == "\n".join([
        "tunneldigger_instances is invalid:",
        "tunneldigger_instances[0].address is required",
        "tunneldigger_instances[0].ports is required",
        "tunneldigger_instances[0].interface is required",
        "tunneldigger_instances[1].pmtu must be 0 (path MTU discovery) or a fixed MTU 1280..1446, got 1500",
        "tunneldigger_instances[1].name: 'td0' is already used by tunneldigger_instances[0]",
    ])


# --- tunneldigger_host_errors ---------------------------------------------------------

def link(name, *addresses):
    """One interface as ``ip -json address show`` prints it."""
    info = [{"family": "inet", "local": a, "prefixlen": 24} for a in addresses]
    info.append({"family": "inet6", "local": "fe80::1", "prefixlen": 64})
    return {"ifindex": 2, "ifname": name, "flags": ["UP"], "addr_info": info}


def test_host_errors():
    brokers = flt.tunneldigger_instances_normalized([
        instance(), {"name": "old", "state": "absent"},
        instance(name="td2", ports=[8943], tunnel_id_base=2000, interface="eth1", address="198.51.100.1"),
        instance(name="td3", ports=[8944], tunnel_id_base=4000, interface="wg0", address="203.0.113.1"),
        instance(name="td4", ports=[8945], tunnel_id_base=6000, interface="lo", address="127.0.0.1"),
    ])
    present = [b for b in brokers if b["state"] == "present"]
    links = [link("lo", "127.0.0.1"), link("eth0", "198.51.100.9", "192.0.2.1"), link("eth1", "198.51.100.2"),
             {"ifname": "wg1"}]
    assert flt.tunneldigger_host_errors(present, links) == [
        "tunneldigger_instances[2].address: 198.51.100.1 is not an address of eth1 (it has 198.51.100.2); the "
        "broker would start and serve no one",
        "tunneldigger_instances[3].interface: wg0 does not exist on the host (the broker binds to it)",
    ]
    assert flt.tunneldigger_host_errors(present[:1], [{"ifname": "eth0"}]) == [
        "tunneldigger_instances[0].address: 192.0.2.1 is not an address of eth0 (it has no IPv4 address); the "
        "broker would start and serve no one"]
    assert flt.tunneldigger_host_errors([], links) == []


# --- tunneldigger_source_normalized ------------------------------------------------

def test_source_normalized():
    assert flt.tunneldigger_source_normalized({"url": "https://example.org/td.git", "version": "v0.4.0"}) == {
        "type": "git", "url": "https://example.org/td.git", "version": "v0.4.0", "label": "v0.4.0"}
    source = flt.tunneldigger_source_normalized({"type": "archive", "src": "https://example.org/td.tar.gz",
                                                 "checksum": SHA.replace("abcdef", "ABCDEF")})
    assert (source["remote"], source["checksum"], source["label"]) == (True, SHA, "archive-0123456789ab")


@pytest.mark.parametrize("source, message", [
    ({"type": "svn"}, "tunneldigger_source.type must be one of git, archive, directory, got string 'svn'"),
    ({"type": "directory", "src": "td"}, "tunneldigger_source.src must be an absolute path on the controller, "
                                         "got string 'td'"),
    (None, "tunneldigger_source must be a dict with a type (git, archive, directory), got null"),
])
def test_source_normalized_raises(source, message):
    with pytest.raises(AnsibleFilterError) as err:
        flt.tunneldigger_source_normalized(source)
    assert str(err.value) == "tunneldigger_source is invalid:\n" + message


# --- tunneldigger_config -----------------------------------------------------------

def test_config_is_what_the_broker_reads():
    text = flt.tunneldigger_config(normalized(ports=[8942, "10000"], connection_rate_limit="0.5"))
    config = configparser.ConfigParser()
    config.read_string(text)
    assert config.get("broker", "port") == "8942,10000"
    assert config.getfloat("broker", "connection_rate_limit") == 0.5
    assert config.get("hooks", "session.up") == "/etc/tunneldigger/td0/hooks/session.up"


def test_config_from_an_item_of_the_normalized_list():
    """What the role loops over: items of tunneldigger_instances_normalized, index included."""
    first, second = flt.tunneldigger_instances_normalized([
        instance(), instance(name="td1", ports=[8943], tunnel_id_base=2000)])
    assert second["index"] == 1
    assert "tunnel_id_base=2000\n" in flt.tunneldigger_config(second)
    assert flt.tunneldigger_hook(second, "session.down", SCRIPT).startswith(
        SCRIPT + " tunneldigger session.down --instance td1 ")


def test_config_of_a_raw_instance_is_that_of_its_normalized_form():
    assert flt.tunneldigger_config(instance(max_tunnels="10")) == flt.tunneldigger_config(
        normalized(max_tunnels=10))


@pytest.mark.parametrize("value, message", [
    (None, "tunneldigger_config: instance must be a tunneldigger instance (a dict), got null"),
    ("td0", "tunneldigger_config: instance must be a tunneldigger instance (a dict), got string 'td0'"),
    ({"name": "old", "state": "absent"},
     "tunneldigger_config: instance: broker old is absent; only present brokers have a config and hooks"),
    (instance(address="::1"), "tunneldigger_config: instance.address: ::1 is IPv6"),
    (dict(instance(), pmtu=1500, config_dir="/etc/tunneldigger/td0"),
     "tunneldigger_config: instance.pmtu must be 0 (path MTU discovery) or a fixed MTU 1280..1446, got 1500"),
])
def test_config_raises_on_bad_input(value, message):
    with pytest.raises(AnsibleFilterError) as err:
        flt.tunneldigger_config(value)
    assert str(err.value).startswith(message), str(err.value)


# --- tunneldigger_hook -------------------------------------------------------------

@pytest.mark.parametrize("extra, event, expected", [
    ({}, "session.up", SCRIPT + " tunneldigger session.up --instance td0 --blocklist "
                                "/etc/tunneldigger/blocked-uuids --state-dir /run/tunneldigger/td0/sessions --"),
    ({"mesh": BATMAN, "mtu": 1364}, "session.down",
     SCRIPT + " tunneldigger session.down --instance td0 --backend batman_adv --mesh bat0 "
              "--state-dir /run/tunneldigger/td0/sessions --"),
    ({"mesh": {"backend": "bridge", "interface": "br-client", "isolated": True}}, "session.up",
     SCRIPT + " tunneldigger session.up --instance td0 --backend bridge --bridge br-client --isolated "
              "--blocklist /etc/tunneldigger/blocked-uuids --state-dir /run/tunneldigger/td0/sessions --"),
    ({"mtu": "1400"}, "session.mtu-changed",
     SCRIPT + " tunneldigger session.mtu-changed --instance td0 --mtu 1400 "
              "--state-dir /run/tunneldigger/td0/sessions --"),
    ({}, "broker.connection-rate-limit", SCRIPT + " tunneldigger broker.connection-rate-limit --instance td0 --"),
])
def test_hook(extra, event, expected):
    assert flt.tunneldigger_hook(normalized(**extra), event, SCRIPT) == expected


def test_hook_with_the_nftables_set():
    assert flt.tunneldigger_hook(normalized(), "broker.connection-rate-limit", SCRIPT, NFT_SET, 600) == (
        SCRIPT + " tunneldigger broker.connection-rate-limit --instance td0 "
                 "--nft-set inet freifunk_tunneldigger blocked4 --block-time 600 --")


@pytest.mark.parametrize("script", ["/opt/free funk/on-connect", "/opt/it's/on-connect", "/opt/$HOME/`id`;x",
                                    '/opt/"q"/*'])
def test_hook_quotes_the_script_for_the_shell(script):
    command = flt.tunneldigger_hook(normalized(), "session.down", script)
    assert shlex.split(command)[0] == script
    assert command.startswith(shlex.quote(script) + " tunneldigger session.down ")


@pytest.mark.parametrize("event", EVENTS)
def test_hook_wrapper_passes_every_word_on(tmp_path, event):
    """Write the wrapper as roles/tunneldigger/templates/hook.j2 does
    (exec COMMAND "$@") around a stand-in for the on-connect script, in a
    folder whose name needs quoting; run it without a shell, the way the
    broker runs hooks, with the broker's arguments: the script gets the
    filter's words, then "--" and the broker's arguments untouched."""
    folder = tmp_path / "on connect's $dir"
    folder.mkdir()
    script = folder / "on-connect"
    script.write_text('#!/bin/sh\nfor arg in "$@"; do printf "%s\\n" "$arg"; done\n')
    script.chmod(0o755)
    inst = normalized(mesh=BATMAN, mtu=1364)
    command = flt.tunneldigger_hook(inst, event, str(script), NFT_SET, 600)
    wrapper = tmp_path / event
    wrapper.write_text('#!/bin/sh\nexec %s "$@"\n' % command)
    wrapper.chmod(0o755)
    broker_args = ["100", "100", "l2tp100-100", "1446", "198.51.100.7", "41000", "8942", "a b;$(id)", "8942"]
    out = subprocess.run([str(wrapper)] + broker_args, capture_output=True, text=True, check=True).stdout
    words = out.split("\n")[:-1]
    assert words == shlex.split(command)[1:] + broker_args
    assert words[:3] == ["tunneldigger", event, "--instance"]
    assert words[words.index("--") + 1:] == broker_args


# The broker's arguments for a session that does not exist here (v0.4.0 order).
ABSENT_SESSION = {
    "session.up": ["64999", "64999", "l2tp64999-64999", "1446", "198.51.100.7", "41000", "8942",
                   "aabbccddeeff", "8942"],
    "session.mtu-changed": ["64999", "64999", "l2tp64999-64999", "1446", "1406", "aabbccddeeff"],
    "broker.connection-rate-limit": ["198.51.100.7", "41000", "aabbccddeeff"],
}
ABSENT_SESSION["session.pre-down"] = ABSENT_SESSION["session.down"] = ABSENT_SESSION["session.up"]


@pytest.mark.parametrize("event, rc", [("session.up", 1), ("session.pre-down", 0), ("session.down", 0),
                                       ("session.mtu-changed", 0), ("broker.connection-rate-limit", 0)])
def test_hook_commands_are_understood_by_the_on_connect_script(tmp_path, event, rc):
    """The wrapper around the collection's script, from a path with a space,
    for a session whose interface does not exist: the down events and a
    fixed MTU have nothing to do (0), session.up stops at the missing
    interface (1); a usage error would be 2. No nft set is given, so the
    rate-limit hook only logs."""
    script = tmp_path / "on connect"
    shutil.copy(ON_CONNECT, script)
    inst = normalized(mesh=BATMAN, mtu=1364)
    wrapper = tmp_path / event
    wrapper.write_text('#!/bin/sh\nexec %s "$@"\n' % flt.tunneldigger_hook(inst, event, str(script)))
    wrapper.chmod(0o755)
    proc = subprocess.run([str(wrapper)] + ABSENT_SESSION[event], capture_output=True, text=True, check=False)
    assert proc.returncode == rc, proc.stderr
    if rc:
        assert "l2tp64999-64999" in proc.stderr and "usage" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("script", [None, "", 5, "on-connect", "usr/local/sbin/on-connect",
                                    "/usr/local/sbin/x\nid", "/usr/local/sbin/x\x00"])
def test_hook_refuses_a_script_that_is_not_an_absolute_path(script):
    with pytest.raises(AnsibleFilterError) as err:
        flt.tunneldigger_hook(normalized(), "session.up", script)
    assert str(err.value) == ("tunneldigger_hook: script must be the absolute path of the on-connect script "
                              "(on_connect_script), got %s" % describe(script))


@pytest.mark.parametrize("event", ["up", "session.Up", "", None, ["session.up"]])
def test_hook_refuses_unknown_events(event):
    with pytest.raises(AnsibleFilterError) as err:
        flt.tunneldigger_hook(normalized(), event, SCRIPT)
    assert str(err.value) == ("tunneldigger_hook: event must be one of session.up, session.pre-down, session.down, "
                              "session.mtu-changed, broker.connection-rate-limit, got %s" % describe(event))


@pytest.mark.parametrize("nft_set, block_time, message", [
    (["inet", "t"], 600, r"^tunneldigger_hook: nft_set must be null or \[FAMILY, TABLE, SET\]"),
    (["inet", "t", "s;drop"], 600, r"^tunneldigger_hook: nft_set must be null or \[FAMILY, TABLE, SET\]"),
    (NFT_SET, None, r"^tunneldigger_hook: block_time must be the seconds"),
    (NFT_SET, 0, r"^tunneldigger_hook: block_time must be the seconds"),
])
def test_hook_refuses_a_bad_nftables_setting(nft_set, block_time, message):
    with pytest.raises(AnsibleFilterError, match=message):
        flt.tunneldigger_hook(normalized(), "broker.connection-rate-limit", SCRIPT, nft_set, block_time)


@pytest.mark.parametrize("value, message", [
    (None, "tunneldigger_hook: instance must be a tunneldigger instance (a dict), got null"),
    ({"name": "old", "state": "absent"},
     "tunneldigger_hook: instance: broker old is absent; only present brokers have a config and hooks"),
    (instance(mesh={"backend": "bridge", "interface": "br client"}),
     "tunneldigger_hook: instance.mesh.interface must be an interface name"),
    (instance(mtu="big"), "tunneldigger_hook: instance.mtu must be the MTU every session interface gets"),
])
def test_hook_refuses_bad_instances(value, message):
    with pytest.raises(AnsibleFilterError) as err:
        flt.tunneldigger_hook(value, "session.up", SCRIPT)
    assert str(err.value).startswith(message), str(err.value)


# --- tunneldigger_blocklist --------------------------------------------------------

def test_blocklist():
    text = flt.tunneldigger_blocklist(["AA:BB:CC:DD:EE:FF", "112233445566", "aabbccddeeff"])
    lines = text.splitlines()
    assert lines[0].startswith("# ") and lines[1:] == ["112233445566", "aabbccddeeff"]
    assert re.fullmatch(r"#[^\n]*\n", flt.tunneldigger_blocklist([]))


@pytest.mark.parametrize("uuids, message", [
    ("aabbccddeeff", "tunneldigger_blocked_uuids must be a list of node uuids, got string 'aabbccddeeff'"),
    (["ok", "a\nb"], "tunneldigger_blocked_uuids[1] must be a node uuid"),
])
def test_blocklist_raises(uuids, message):
    with pytest.raises(AnsibleFilterError) as err:
        flt.tunneldigger_blocklist(uuids)
    assert str(err.value).startswith("tunneldigger_blocked_uuids is invalid:\n" + message), str(err.value)
