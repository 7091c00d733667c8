"""The gluon_site lookup: site files in the shapes communities use, read by
real Lua (lupa) in the sandbox; the domain merge; every kind of bad site
file; and the lookup plugin itself, directly and in a real playbook run."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import yaml
from ansible import constants as C
from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader

from ansible_collections.freifunk.gateway.plugins.lookup import gluon_site as lookup_plugin
from ansible_collections.freifunk.gateway.plugins.lookup.gluon_site import LookupModule
from ansible_collections.freifunk.gateway.plugins.module_utils import gluon_site
from ansible_collections.freifunk.gateway.plugins.module_utils.gluon_site import (
    SiteError,
    evaluate,
    key_path,
    load_site,
    merge,
)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "gluon_site")
MULTI = os.path.join(FIXTURES, "multidomain", "site.conf")
KEY1 = "1f1a3b5f70d0dcee3e52e0e8a5e7b0d4c7a1e2f3b4c5d6e7f8091a2b3c4d5e6f"
KEY2 = "2e2b4c6a81e1edff4f63f1f9b6f8c1e5d8b2f3a4c5d6e7f8091a2b3c4d5e6f70"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def fixture(name):
    return os.path.join(FIXTURES, name, "site.conf")


def error_of(source, **limits):
    with pytest.raises(SiteError) as caught:
        evaluate(source, **limits)
    return str(caught.value)


# --- real-world shapes -------------------------------------------------------

def test_2016_shape_fastd_mesh_vpn():
    site = load_site(fixture("site_2016"))
    vpn = site["fastd_mesh_vpn"]
    assert vpn["methods"] == ["salsa2012+umac"]
    assert vpn["mtu"] == 1426 and vpn["configurable"] is True
    backbone = vpn["groups"]["backbone"]
    assert backbone["limit"] == 2
    assert backbone["peers"]["gw01"] == {"key": KEY1, "remotes": ['"gw01.ffxx.example.org" port 10000']}
    assert backbone["peers"]["gw02"]["remotes"] == ['ipv4 "gw02.ffxx.example.org" port 10000',
                                                    'ipv6 "gw02.ffxx.example.org" port 10000']
    assert site["wifi24"]["ibss"]["mcast_rate"] == 12000
    assert "mesh_vpn" not in site  # not the lookup's business: it returns what is there


def test_2019_shape_one_mtu_comments_long_strings_escapes():
    site = load_site(fixture("site_2019"))
    vpn = site["mesh_vpn"]
    assert vpn["mtu"] == 1312
    assert vpn["fastd"]["methods"] == ["salsa2012+umac"]
    assert sorted(vpn["fastd"]["groups"]["backbone"]["peers"]) == ["gw-02", "gw01"]
    assert vpn["fastd"]["groups"]["backbone"]["peers"]["gw-02"]["remotes"] == [
        "[2001:db8::2] port 10000", "192.0.2.2 port 10000"]
    assert vpn["tunneldigger"] == {"brokers": ["gw01.ffxx.example.org:10042",
                                               "gw-02.ffxx.example.org:10042"]}
    assert vpn["bandwidth_limit"] == {"enabled": False, "egress": 200, "ingress": 3000}
    assert isinstance(vpn["bandwidth_limit"]["ingress"], int)  # 3e3 is a float in Lua
    assert site["ntp_servers"] == ["1.ntp.services.ffxx", "2.ntp.services.ffxx"]
    texts = site["texts"]
    assert texts["welcome"] == ('Welcome to Freifunk Example!\n'
                                'Questions? Write to "info@ffxx.example.org".')
    assert texts["code"] == "keep ]] and [[ as they are"
    assert texts["escapes"] == "tab:\tnewline:\nquote:\"apostrophe:'backslash:\\decimal:ABC"
    assert texts["utf8"] == "Grüße aus der Küche"


def test_2023_shape_mtu_per_provider_and_unknown_provider_passed_through():
    vpn = load_site(fixture("site_2023"))["mesh_vpn"]
    assert "mtu" not in vpn
    assert vpn["fastd"]["mtu"] == 1312
    assert vpn["fastd"]["methods"] == ["null@l2tp", "null"]
    assert vpn["tunneldigger"] == {"mtu": 1364, "brokers": ["gw01.ffxx.example.org:10042"]}
    assert vpn["wireguard"]["mtu"] == 1376
    assert vpn["wireguard"]["peers"]["gw01"]["endpoint"] == "gw01.ffxx.example.org:51820"


def test_dict_keys_come_sorted():
    assert list(evaluate("{ zeta = 1, alpha = 2, mid = { b = 1, a = 2 } }")) == ["alpha", "mid", "zeta"]


# --- Lua syntax as site maintainers write it ----------------------------------

@pytest.mark.parametrize("source, expected", [
    ("{ a = 1 } -- trailing comment", {"a": 1}),
    ("--[[ block\ncomment ]] { a = 1 }", {"a": 1}),
    ("--[==[ block ]] still comment ]==] { a = 1 }", {"a": 1}),
    ("{ a = [[\nfirst line dropped\nsecond]] }", {"a": "first line dropped\nsecond"}),
    ("{ a = [==[ ]] ]=] ]==] }", {"a": " ]] ]=] "}),
    (r"{ a = 'x\n\"y\"\065\10z' }", {"a": 'x\n"y"A\nz'}),
    ("{ a = \"it's\" }", {"a": "it's"}),
    ("{ a = { b = { c = { d = { 'deep' } } } } }", {"a": {"b": {"c": {"d": ["deep"]}}}}),
    ("{ 'x', 'y'; 'z', }", ["x", "y", "z"]),
    ("{ [1] = 'a', [2] = 'b' }", ["a", "b"]),
    ("{ ['with space'] = true, [\"q\"] = false }", {"q": False, "with space": True}),
    ("{ a = {} }", {"a": []}),
    ("{ a = 1.0, b = 0x10, c = 1e3, d = -2, e = 0.5 }", {"a": 1, "b": 16, "c": 1000, "d": -2, "e": 0.5}),
    ("{ a = 'x' .. 'y', b = 2 * 21 }", {"a": "xy", "b": 42}),  # expressions are Lua too
    ("{ a = (function() local t = {} for i = 1, 3 do t[i] = i * i end return t end)() }",
     {"a": [1, 4, 9]}),
])
def test_lua_syntax(source, expected):
    assert evaluate(source) == expected


def test_key_path_reads_like_lua():
    assert key_path(["mesh_vpn", "fastd", "methods", 2]) == "mesh_vpn.fastd.methods[2]"
    assert key_path(["peers", "gw-01", "key"]) == 'peers["gw-01"].key'
    assert key_path([]) == ""


# --- conversion errors name the path ------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("{ a = { 1, 2, x = 3 } }", "site.conf: a: has the key 1 (a number); a table is either a list"),
    ("{ a = { [1] = 'x', [3] = 'y' } }", "site.conf: a: list with gaps (positions 1, 3)"),
    ("{ a = { [true] = 1 } }", "site.conf: a: has the key true (a boolean)"),
    ("{ a = { [1.5] = 1 } }", "site.conf: a: has the key 1.5 (a number)"),
    ("{ a = { b = function() end } }", "site.conf: a.b: is a function; a site file holds only"),
    ("{ a = { 'x', 0/0 } }", "site.conf: a[2]: is nan, not a finite number"),
    ("{ a = 1/0 }", "site.conf: a: is inf, not a finite number"),
    ("{ p = { ['gw 1'] = { key = '\\255\\254' } } }",
     'site.conf: p["gw 1"].key: is a string that is not valid UTF-8 (byte 1 of it)'),
    ("{ ['\\200'] = 1 }", "site.conf: has a key that is not valid UTF-8"),
    ("42", "site.conf: holds a number, not a table { ... }"),
    ("'text'", "site.conf: holds a string, not a table { ... }"),
    ("", "site.conf: holds nothing (nil), not a table { ... }"),
    ("{ a = (function() local t = {} t.self = t return t end)() }",
     "site.conf: a.self.self.self.self.self.self.self.self.self.self.self...: tables nested more than"),
])
def test_conversion_errors_name_the_path(source, expected):
    assert error_of(source).startswith(expected)


def test_shared_tables_cannot_blow_up_the_conversion():
    # 2**30 values if each shared table were converted again and again.
    source = ("{ a = (function() local t = { 'x' } for i = 1, 30 do t = { t, t } end "
              "return t end)() }")
    assert "holds more than %d values" % gluon_site.MAX_VALUES in error_of(source)


# --- the sandbox --------------------------------------------------------------

@pytest.mark.parametrize("code, used", [
    ("os.execute('touch MARKER')", "os.execute"),
    ("os.getenv('HOME')", "os.getenv"),
    ("io.open('MARKER', 'w')", "io.open"),
    ("io.popen('touch MARKER')", "io.popen"),
    ("require('os')", "require"),
    ("require 'io'", "require"),
    ("load('return 1')", "load"),
    ("loadstring('return 1')", "loadstring"),
    ("dofile('/etc/passwd')", "dofile"),
    ("loadfile('/etc/passwd')", "loadfile"),
    ("debug.sethook()", "debug.sethook"),
    ("string.rep('x', 1e9)", "string.rep"),
    ("getmetatable('')", "getmetatable"),
    ("setmetatable({}, {})", "setmetatable"),
    ("pcall(error)", "pcall"),
    ("python.eval('1')", "python.eval"),
    ("_G.os", "_G.os"),
    ("collectgarbage('count')", "collectgarbage"),
])
def test_sandbox_offers_no_library(code, used, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = error_of("{\n  value = %s,\n}" % code)
    assert message == ("site.conf:2: uses %s, which site files may not use (Gluon evaluates a site "
                       "file without any Lua library: it holds plain data)" % used)
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize("code", ["('x'):rep(1e9)", "('%s'):format('x')", "('x'):byte()"])
def test_sandbox_strings_have_no_methods(code):
    assert error_of("{ value = %s }" % code) == (
        "site.conf:1: uses a string method such as ('x'):rep(), which site files may not use "
        "(Gluon evaluates a site file without any Lua library: it holds plain data)")


def test_sandbox_environment_is_empty():
    assert evaluate("{ env = _ENV, g = _G, os = os, version = _VERSION }") == {"env": []}
    assert error_of("{ n = (function() for k in next, _ENV do end end)() }") == (
        "site.conf:1: attempt to call a nil value (for iterator 'for iterator')")


def test_sandbox_runs_no_bytecode():
    assert error_of(b"\x1bLua\x54\x00") == "site.conf:1: unexpected symbol near '<\\27>'"


@pytest.mark.parametrize("loop", [
    "(function() while true do end end)()",
    "(function() local i = 0 repeat i = i + 1 until false end)()",
    "(function(f) return f(f) end)(function(f) local x = 0 for i = 1, 1e9 do x = x + i end return x end)",
])
def test_endless_loops_are_stopped(loop):
    assert error_of("{ a = %s }" % loop, max_instructions=100000) == (
        "site.conf: stopped after 100000 instructions (an endless loop?); a site file needs a few "
        "hundred (max_instructions)")


def test_instruction_limit_is_the_one_given():
    loop = "{ a = (function() local x = 0 for i = 1, 50000 do x = x + 1 end return x end)() }"
    assert evaluate(loop, max_instructions=1000000) == {"a": 50000}
    assert "stopped after 10000 instructions" in error_of(loop, max_instructions=10000)


@pytest.mark.parametrize("hog", [
    "(function() local t = {} for i = 1, 1e7 do t[i] = { i } end return t end)()",
    "(function() local s = 'x' for i = 1, 40 do s = s .. s end return s end)()",
])
def test_memory_is_capped(hog):
    assert error_of("{ a = %s }" % hog, max_memory=4 * 1024 * 1024, max_instructions=10 ** 9) == (
        "site.conf: needs more than 4194304 bytes of memory (max_memory); a site file needs well "
        "under 1 MiB")


def test_deep_recursion_is_a_lua_error():
    message = error_of("{ a = (function(f) return f(f) end)(function(f) return 1 + f(f) end) }",
                       max_instructions=10 ** 8)
    assert message.startswith("site.conf:1: stack overflow")


def test_syntax_error_names_file_and_line():
    assert error_of("{\n  a = 1,\n  b = ,\n}") == "site.conf:3: unexpected symbol near ','"
    assert error_of("{\n  a = 'open\n}") == "site.conf:2: unfinished string near ''open'"
    assert error_of("{ a = 1 } os.execute('x')") == "site.conf:1: <eof> expected near 'os'"


def test_runtime_error_names_file_and_line():
    assert error_of("{\n\n  a = 1 + {},\n}") == "site.conf:3: attempt to perform arithmetic on a table value"


def test_file_over_the_size_cap_is_not_read(tmp_path):
    site = tmp_path / "site.conf"
    body = "{ a = '%s' }"
    site.write_text(body % ("x" * (2048 - len(body) + 2)))
    assert site.stat().st_size == 2048
    assert load_site(str(site), max_size=2048) == {"a": "x" * (2048 - len(body) + 2)}
    site.write_text(body % ("x" * (2049 - len(body) + 2)))
    with pytest.raises(SiteError) as caught:
        load_site(str(site), max_size=2048)
    assert str(caught.value) == ("site.conf: larger than 2048 bytes (max_size); a site file is "
                                 "usually under 64 KiB")


def test_invalid_utf8_in_a_file(tmp_path):
    site = tmp_path / "site.conf"
    site.write_bytes(b"-- caf\xe9 in a comment is fine\n{\n  site_name = 'Caf\xe9',\n}\n")
    with pytest.raises(SiteError) as caught:
        load_site(str(site))
    assert str(caught.value) == "site.conf: site_name: is a string that is not valid UTF-8 (byte 4 of it)"


def test_unreadable_file(tmp_path):
    with pytest.raises(SiteError) as caught:
        load_site(str(tmp_path / "site.conf"))
    assert str(caught.value).startswith("site.conf: cannot read %s: No such file" % (tmp_path / "site.conf"))


@pytest.mark.parametrize("limits, expected", [
    ({"max_instructions": 10}, "max_instructions must be a whole number of at least 1000, not 10"),
    ({"max_memory": 1000}, "max_memory must be a whole number of at least 1048576, not 1000"),
    ({"max_size": True}, "max_size must be a whole number of at least 1024, not True"),
    ({"max_size": "big", "max_memory": 1.5},
     "max_memory must be a whole number of at least 1048576, not 1.5; "
     "max_size must be a whole number of at least 1024, not 'big'"),
])
def test_limits_are_checked(limits, expected):
    with pytest.raises(SiteError) as caught:
        load_site(fixture("site_2019"), **limits)
    assert str(caught.value) == expected


# --- domains ------------------------------------------------------------------

def test_domain_merged_over_site():
    site = load_site(MULTI, domain="north")
    backbone = site["mesh_vpn"]["fastd"]["groups"]["backbone"]
    assert backbone["limit"] == 1  # from site.conf
    assert backbone["peers"] == {"gw01": {"key": KEY1, "remotes": ['"gw01.ffxx.example.org" port 10001']}}
    assert site["mesh_vpn"]["fastd"]["methods"] == ["salsa2012+umac"]  # kept from site.conf
    assert site["mesh_vpn"]["tunneldigger"] == {"mtu": 1364, "brokers": ["gw01.ffxx.example.org:10043"]}
    assert site["ntp_servers"] == ["ntp.north.ffxx"]  # list replaced, not extended
    assert site["prefix4"] == "10.37.0.0/16"
    assert site["site_code"] == "ffxx" and site["default_domain"] == "north"


def test_other_domain_replaces_lists_and_merges_dicts():
    site = load_site(MULTI, domain="south")
    fastd = site["mesh_vpn"]["fastd"]
    assert fastd["methods"] == ["null@l2tp", "null"]
    assert fastd["mtu"] == 1312
    assert list(fastd["groups"]["backbone"]["peers"]) == ["gw02"]
    assert fastd["groups"]["backbone"]["peers"]["gw02"]["key"] == KEY2
    assert site["mesh_vpn"]["bandwidth_limit"] == {"enabled": True, "egress": 1000, "ingress": 10000}
    assert site["ntp_servers"] == ["1.ntp.services.ffxx", "2.ntp.services.ffxx"]
    assert site["domain_names"] == {"south": "Example South", "south_old": "Example South (old name)"}


def test_site_alone_without_domain():
    site = load_site(MULTI)
    assert "peers" not in site["mesh_vpn"]["fastd"]["groups"]["backbone"]
    assert "domain_names" not in site


def test_missing_domain_lists_the_domains():
    with pytest.raises(SiteError) as caught:
        load_site(MULTI, domain="west")
    assert str(caught.value) == ("domain 'west': there is no file domains/west.conf beside site.conf; "
                                 "domains there: north, south")


def test_domain_of_a_single_domain_site():
    with pytest.raises(SiteError) as caught:
        load_site(fixture("site_2023"), domain="north")
    assert str(caught.value) == ("domain 'north': there is no folder domains/ beside site.conf "
                                 "(a single-domain site: leave the domain unset)")


@pytest.mark.parametrize("domain", ["../site_2019/site", "a/b", ".hidden", "", "-x", 5])
def test_domain_name_must_be_a_plain_name(domain):
    with pytest.raises(SiteError) as caught:
        load_site(MULTI, domain=domain)
    assert str(caught.value).startswith("domain must be the name of a file domains/NAME.conf")


def test_errors_in_a_domain_file_name_it(tmp_path):
    (tmp_path / "domains").mkdir()
    (tmp_path / "site.conf").write_text("{ a = 1 }")
    (tmp_path / "domains" / "one.conf").write_text("{\n  b = os.execute('x'),\n}")
    (tmp_path / "domains" / "two.conf").write_text("{\n  b = {\n}")
    (tmp_path / "domains" / "three.conf").write_text("{ b = { [2] = 1 } }")
    with pytest.raises(SiteError) as caught:
        load_site(str(tmp_path / "site.conf"), domain="one")
    assert str(caught.value).startswith("domains/one.conf:2: uses os.execute, which")
    with pytest.raises(SiteError) as caught:
        load_site(str(tmp_path / "site.conf"), domain="two")
    assert str(caught.value) == "domains/two.conf:3: '}' expected (to close '{' at line 1) near <eof>"
    with pytest.raises(SiteError) as caught:
        load_site(str(tmp_path / "site.conf"), domain="three")
    assert str(caught.value).startswith("domains/three.conf: b: list with gaps")


@pytest.mark.parametrize("base, override, expected", [
    ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}),
    ({"a": [1, 2, 3]}, {"a": [4]}, {"a": [4]}),
    ({"a": {"x": 1}}, {"a": []}, {"a": []}),  # {} is a list once converted, as on the node
    ({"a": [1]}, {"a": {"x": 1}}, {"a": {"x": 1}}),
    ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ({"a": {"b": {"c": {"d": 1}}}}, {"a": {"b": {"c": {"e": 2}}}}, {"a": {"b": {"c": {"d": 1, "e": 2}}}}),
    ({"a": "x"}, {"a": {"y": 1}}, {"a": {"y": 1}}),
])
def test_merge(base, override, expected):
    before = json.dumps(base, sort_keys=True)
    assert merge(base, override) == expected
    assert json.dumps(base, sort_keys=True) == before  # the site's data is left as it was


# --- the lookup plugin --------------------------------------------------------

def lookup():
    """The plugin as Ansible's plugin loader sets it up: its options from DOCUMENTATION."""
    plugin = LookupModule(loader=DataLoader())
    plugin._load_name = "freifunk.gateway.gluon_site"
    options = yaml.safe_load(lookup_plugin.DOCUMENTATION)["options"]
    C.config.initialize_plugin_configuration_definitions("lookup", plugin._load_name, options)
    return plugin


def test_lookup_returns_one_dict_per_term():
    result = lookup().run([fixture("site_2019"), fixture("site_2023")], variables={})
    assert [sorted(site["mesh_vpn"]) for site in result] == [
        ["bandwidth_limit", "fastd", "mtu", "tunneldigger"],
        ["bandwidth_limit", "enabled", "fastd", "tunneldigger", "wireguard"]]


def test_lookup_with_domain_and_limits():
    [site] = lookup().run([MULTI], variables={}, domain="south", max_instructions=5000)
    assert site["mesh_vpn"]["fastd"]["methods"] == ["null@l2tp", "null"]
    [site] = lookup().run([MULTI], variables={}, domain="")  # empty: no domain
    assert "domain_names" not in site


def test_lookup_finds_relative_paths_in_the_search_path():
    [site] = lookup().run(["site_2016/site.conf"], variables={"ansible_search_path": [FIXTURES]})
    assert site["fastd_mesh_vpn"]["mtu"] == 1426


def test_lookup_errors():
    with pytest.raises(AnsibleLookupError) as caught:
        lookup().run([MULTI], variables={}, domain="west")
    assert str(caught.value) == ("gluon_site: domain 'west': there is no file domains/west.conf beside "
                                 "site.conf; domains there: north, south")
    with pytest.raises(AnsibleLookupError) as caught:
        lookup().run(["no/such/site.conf"], variables={"ansible_search_path": [FIXTURES]})
    assert str(caught.value).startswith("gluon_site: cannot find the site file no/such/site.conf")
    with pytest.raises(AnsibleLookupError) as caught:
        lookup().run([fixture("site_2019")], variables={}, max_instructions=100)
    assert "max_instructions must be a whole number of at least 1000, not 100" in str(caught.value)


def test_lookup_in_a_playbook(tmp_path):
    """Real templating: lookup() gives the dict itself, query() a list, and a
    bad site fails the task with the file and line."""
    bad = tmp_path / "bad" / "site.conf"
    bad.parent.mkdir()
    bad.write_text("{\n  a = os.execute('touch %s'),\n}" % (tmp_path / "MARKER"))
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Read sites
              ansible.builtin.set_fact:
                one: "{{ lookup('freifunk.gateway.gluon_site', '%(multi)s', domain='north') }}"
                many: "{{ query('freifunk.gateway.gluon_site', '%(multi)s') }}"
            - name: Show them
              ansible.builtin.debug:
                msg: "{{ {'peers': one.mesh_vpn.fastd.groups.backbone.peers | list,
                          'limit': one.mesh_vpn.fastd.groups.backbone.limit,
                          'count': many | length} | to_json }}"
            - name: A bad site
              block:
                - name: Read it
                  ansible.builtin.debug:
                    msg: "{{ lookup('freifunk.gateway.gluon_site', '%(bad)s') }}"
              rescue:
                - name: Show the failure
                  ansible.builtin.debug:
                    msg: "{{ ansible_failed_result.msg }}"
        """) % {"multi": MULTI, "bad": bad})
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, check=False,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    shown = [task["hosts"]["localhost"].get("msg") for task in tasks if task["task"]["name"].startswith("Show")]
    assert json.loads(shown[0]) == {"peers": ["gw01"], "limit": 1, "count": 1}
    assert "site.conf:2: uses os.execute, which site files may not use" in shown[1]
    assert not (tmp_path / "MARKER").exists()
