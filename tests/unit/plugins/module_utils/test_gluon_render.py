"""Tests for module_utils/gluon_render.py: the Lua snippet rendered from the
fleet, read back with the collection's own sandboxed reader (lupa) and
checked against the same fleet."""

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import gluon_render as render
from ansible_collections.freifunk.gateway.plugins.module_utils.gluon_align import site_errors
from ansible_collections.freifunk.gateway.plugins.module_utils.gluon_site import evaluate, merge
from gluon_fixtures import KEYS, fastd, fleet, gateway, public_key, site


def read(text):
    return evaluate(text, "rendered.lua")


def test_the_rendered_peers_and_brokers_read_back():
    text = render.fleet_lua(fleet("gw02", "gw01"))
    assert text.startswith("-- For site.conf, rendered by freifunk.gateway")
    data = read(text)
    assert data == {"mesh_vpn": {
        "fastd": {"groups": {"backbone": {"peers": {
            "gw01": {"key": KEYS["gw01"], "remotes": ['"gw01.example.org" port 10000']},
            "gw02": {"key": KEYS["gw02"], "remotes": ['"gw02.example.org" port 10000']},
        }}}},
        "tunneldigger": {"brokers": ["gw01.example.org:10042", "gw02.example.org:10042"]},
    }}
    assert list(data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]) == ["gw01", "gw02"]


def test_a_site_with_the_rendered_block_passes_the_check():
    gateways = fleet("gw01", "gw02", "gw03")
    base = site()  # methods, MTUs and limit, but no peers or brokers
    merged = merge(base, read(render.fleet_lua(gateways)))
    assert merged["mesh_vpn"]["fastd"]["groups"]["backbone"]["limit"] == 1
    assert site_errors(merged, "site.conf", gateways) == []
    assert site_errors(base, "site.conf", gateways) != []


def test_the_same_fleet_gives_the_same_text():
    gateways = fleet("gw03", "gw01", "gw02")
    assert render.fleet_lua(gateways) == render.fleet_lua(dict(reversed(list(gateways.items()))))


def test_peer_names_become_gluon_names():
    gateways = {"gw-01.example.org": gateway("gw01"), "1gw": gateway("gw02")}
    peers = read(render.fleet_lua(gateways))["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]
    assert sorted(peers) == ["1gw", "gw_01_example_org"]
    assert "['1gw'] = {" in render.fleet_lua(gateways)


def test_clashing_peer_names_are_refused():
    gateways = {"gw-01": gateway("gw01"), "gw_01": gateway("gw02")}
    with pytest.raises(render.RenderError) as info:
        render.fleet_lua(gateways)
    assert info.value.errors == ["gw-01 and gw_01 both give the peer name gw_01 (Gluon allows letters, digits and "
                                 "'_' only); rename one of the hosts"]


def test_gateways_without_keys_are_all_named():
    gateways = {"gw01": gateway("gw01", keys={"mesh0": None}), "gw02": gateway("gw02", keys=None)}
    with pytest.raises(render.RenderError) as info:
        render.fleet_lua(gateways)
    assert info.value.errors == [
        "gw01: fastd_instances[0] (mesh0): it has no key yet; run the fastd role on gw01 first, then render again",
        "gw02: fastd_instances[0] (mesh0): its public key was not read (the gateway is not in this play); run the "
        "fastd role on gw02 first, then render again"]


def test_several_keys_and_shared_keys():
    instances = [fastd(secret_name="gw01"), fastd(name="mesh1", port=10001, interface="mesh1-%k", secret_name="gw01"),
                 fastd(name="mesh2", port=10002, interface="mesh2-%k")]
    keys = {"mesh0": KEYS["gw01"], "mesh1": KEYS["gw01"], "mesh2": public_key("mesh2")}
    gateways = {"gw01": gateway("gw01", fastd_instances=instances, keys=keys,
                                remote_host=["gw01.example.org", "2001:db8::1"])}
    peers = read(render.fleet_lua(gateways))["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]
    assert peers == {
        "gw01_mesh0": {"key": KEYS["gw01"], "remotes": [
            '"gw01.example.org" port 10000', '"gw01.example.org" port 10001', "[2001:db8::1]:10000",
            "[2001:db8::1]:10001"]},
        "gw01_mesh2": {"key": public_key("mesh2"), "remotes": ['"gw01.example.org" port 10002',
                                                               "[2001:db8::1]:10002"]},
    }
    assert site_errors(merge(site(), read(render.fleet_lua(gateways))), "site.conf", gateways) == []


def test_brokers_only_over_ipv4():
    gateways = {"gw01": gateway("gw01", fastd_instances=[], keys={}, remote_host=["2001:db8::1", "192.0.2.1"])}
    assert read(render.fleet_lua(gateways)) == {"mesh_vpn": {"tunneldigger": {"brokers": ["192.0.2.1:10042"]}}}
    gateways["gw01"]["remote_host"] = "2001:db8::1"
    with pytest.raises(render.RenderError, match="tunneldigger reaches brokers over IPv4 only"):
        render.fleet_lua(gateways)


def test_domains_and_groups():
    gateways = {"gw01": gateway("gw01", domain="dom1"), "gw02": gateway("gw02", domain="dom2")}
    text = render.fleet_lua(gateways, "dom1", group="north")
    assert text.startswith("-- For domains/dom1.conf")
    data = read(text)
    assert list(data["mesh_vpn"]["fastd"]["groups"]["north"]["peers"]) == ["gw01"]
    with pytest.raises(render.RenderError, match="the peer group must be a Gluon group name"):
        render.fleet_lua(gateways, "dom1", group="no-rth")


@pytest.mark.parametrize("text", ["it's", "back\\slash", "new\nline", "tab\there", "\u00e4"])
def test_lua_strings_read_back(text):
    assert read(render.to_lua({"a": [text]})) == {"a": [text]}


def test_keys_in_paths_and_constructors():
    assert render.key_path("a.b", "gw01") == "a.b.gw01"
    assert render.key_path("a.b", "gw-01") == "a.b['gw-01']"
    assert render.key_path("a.b", "end") == "a.b['end']"
    assert render.lua_key(3) == "[3]"
    assert read(render.to_lua({"end": 1, "x y": True, "n": False})) == {"end": 1, "x y": True, "n": False}
