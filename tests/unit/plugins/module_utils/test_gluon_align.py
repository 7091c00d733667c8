"""Tests for module_utils/gluon_align.py: does a Gluon site fit the gateways?
Site data is built as the gluon_site lookup returns it (plain dicts and
lists); the gateways as roles/gluon_site describes them."""

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils.gluon_align import site_errors, site_label
from gluon_fixtures import KEYS, broker, copied, fastd, fleet, gateway, peer, public_key, site

SITE = "/srv/site/site.conf"
PEER = "site.conf: mesh_vpn.fastd.groups.backbone.peers"


def errors(site_data, gateways, domain=None):
    return site_errors(site_data, SITE, gateways, domain)


def test_a_matching_fleet_has_no_errors():
    assert errors(site("gw01", "gw02"), fleet("gw01", "gw02")) == []


def test_labels_name_the_file_and_the_domain():
    assert site_label(SITE) == "site.conf"
    assert site_label(SITE, "dom1") == "site.conf + domains/dom1.conf"


# --- the site's shape ----------------------------------------------------------

def test_missing_mesh_vpn_is_named():
    data = site("gw01")
    del data["mesh_vpn"]
    [message] = errors(data, fleet("gw01"))
    assert message.startswith("site.conf: mesh_vpn is missing")
    assert "fastd_mesh_vpn" in message


def test_the_site_must_be_a_table():
    assert errors(["not", "a", "site"], fleet("gw01")) == [
        "site.conf: the site must be a Lua table of settings, got list"]


def test_missing_methods_and_mtu_are_named_with_their_paths():
    data = site("gw01")
    del data["mesh_vpn"]["fastd"]["methods"]
    del data["mesh_vpn"]["fastd"]["mtu"]
    found = errors(data, fleet("gw01"))
    assert any(e.startswith("site.conf: mesh_vpn.fastd.methods is missing") for e in found)
    assert any(e.startswith("site.conf: mesh_vpn.fastd.mtu (or mesh_vpn.mtu) is missing") for e in found)


def test_unknown_and_removed_site_methods_are_named():
    data = site("gw01", methods=["salsa2012+umak", "xsalsa20-poly1305", "salsa2012+umac"])
    found = errors(data, fleet("gw01"))
    assert ("site.conf: mesh_vpn.fastd.methods: 'salsa2012+umak' is not a fastd method "
            "(did you mean 'salsa2012+umac'?)") in found
    assert any("'xsalsa20-poly1305' was removed in fastd v19" in e for e in found)


def test_the_2016_shape_is_read():
    data = {"fastd_mesh_vpn": {"methods": ["salsa2012+umac"], "mtu": 1280,
                               "groups": {"backbone": {"limit": 1, "peers": {"gw01": peer("gw01")}}}}}
    gateways = fleet("gw01", brokers=[])
    assert errors(data, gateways) == ["site.conf: fastd_mesh_vpn.mtu is 1280, but gw01: fastd_instances[0].mtu "
                                      "(mesh0) is 1312"]
    data["fastd_mesh_vpn"]["mtu"] = 1312
    assert errors(data, gateways) == []


def test_the_shared_mtu_of_2017_to_2021_is_read():
    data = site("gw01")
    del data["mesh_vpn"]["fastd"]["mtu"]
    del data["mesh_vpn"]["tunneldigger"]["mtu"]
    data["mesh_vpn"]["mtu"] = 1364
    found = errors(data, fleet("gw01"))
    assert found == ["site.conf: mesh_vpn.mtu is 1364, but gw01: fastd_instances[0].mtu (mesh0) is 1312"]


def test_other_providers_pass_through():
    data = site("gw01")
    data["mesh_vpn"]["wireguard"] = {"enabled": True, "peers": [{"public_key": "x", "endpoint": "y:1"}]}
    assert errors(data, fleet("gw01")) == []


# --- methods ---------------------------------------------------------------------

def test_mtu_mismatch_names_both_sides():
    gateways = fleet("gw01", "gw02")
    gateways["gw02"] = gateway("gw02", fastd_instances=[fastd(mtu=1280)])
    assert errors(site("gw01", "gw02"), gateways) == [
        "site.conf: mesh_vpn.fastd.mtu is 1312, but gw02: fastd_instances[0].mtu (mesh0) is 1280"]


def test_a_gateway_without_a_common_method():
    gateways = {"gw01": gateway("gw01", fastd_instances=[fastd(methods=["aes128-gcm"])])}
    assert errors(site("gw01"), gateways) == [
        "site.conf: nodes offer 'salsa2012+umac' (mesh_vpn.fastd.methods), but gw01: fastd_instances[0].methods "
        "(mesh0) accepts none of them (it lists 'aes128-gcm'); add one"]


CONFIGURABLE = dict(configurable=True)


def test_configurable_sites_need_performance_mode_served():
    gateways = fleet("gw01")
    [message] = errors(site("gw01", **CONFIGURABLE), gateways)
    assert message.startswith("site.conf: nodes in performance mode (mesh_vpn.fastd.configurable is true) offer "
                              "'null@l2tp', 'null', 'salsa2012+umac'")
    assert "lists 'salsa2012+umac' first, so they get encryption anyway" in message


def test_configurable_sites_with_a_gateway_serving_both_modes():
    methods = ["null@l2tp", "null", "salsa2012+umac"]
    gateways = {"gw01": gateway("gw01", fastd_instances=[fastd(methods=methods, offload_l2tp=True)])}
    assert errors(site("gw01", **CONFIGURABLE), gateways) == []


def test_an_encrypted_method_before_null_takes_performance_mode_away():
    gateways = {"gw01": gateway("gw01", fastd_instances=[fastd(methods=["salsa2012+umac", "null"])])}
    [message] = errors(site("gw01", **CONFIGURABLE), gateways)
    assert "lists 'salsa2012+umac' first" in message


def test_null_without_null_at_l2tp_is_refused_where_nodes_offer_it():
    gateways = {"gw01": gateway("gw01", fastd_instances=[fastd(methods=["null", "salsa2012+umac"])])}
    [message] = errors(site("gw01", **CONFIGURABLE), gateways)
    assert message.endswith("gives them 'null', handled in userspace; add 'null@l2tp' before 'null' with "
                            "offload_l2tp: true")


def test_null_before_null_at_l2tp_is_refused():
    """The fastd role refuses this order itself; the site check says it again
    for instances that did not come through it."""
    gateways = fleet("gw01")
    gateways["gw01"]["fastd_instances"][0].update(methods=["null", "null@l2tp"], offload_l2tp=True)
    data = site("gw01", methods=["null@l2tp", "null"])
    [message] = errors(data, gateways)
    assert message.endswith("list 'null@l2tp' before 'null'")


def test_null_at_l2tp_without_offload():
    gateways = {"gw01": gateway("gw01", fastd_instances=[fastd(methods=["null@l2tp", "salsa2012+umac"])])}
    [message] = errors(site("gw01", methods=["null@l2tp", "salsa2012+umac"]), gateways)
    assert message.endswith("but gw01: fastd_instances[0].offload_l2tp is false, so fastd handles every packet "
                            "in userspace; set offload_l2tp: true")


def test_configurable_with_only_null_methods_leaves_security_mode_empty():
    gateways = {"gw01": gateway("gw01", fastd_instances=[fastd(methods=["null@l2tp", "null"], offload_l2tp=True)])}
    found = errors(site("gw01", methods=["null@l2tp", "null"], **CONFIGURABLE), gateways)
    assert found == ["site.conf: mesh_vpn.fastd.configurable is true, but mesh_vpn.fastd.methods has no method "
                     "besides 'null@l2tp' and 'null': nodes switched to security mode would offer none"]


def test_configurable_must_be_a_boolean():
    assert "site.conf: mesh_vpn.fastd.configurable must be true or false, got string 'yes'" in errors(
        site("gw01", configurable="yes"), fleet("gw01"))


# --- peers ------------------------------------------------------------------------

def test_a_stale_peer_is_named_with_path_and_key_prefix():
    data = site("gw01", "gw02")
    gateways = fleet("gw01")
    data["mesh_vpn"]["tunneldigger"]["brokers"] = ["gw01.example.org:10042"]
    assert errors(data, gateways) == [
        "%s.gw02 (key %s...) is no gateway's: no fastd instance serving the site has this key and its remotes "
        "name no gateway; remove the stale entry, or add its gateway to the play" % (PEER, KEYS["gw02"][:16])]


def test_a_missing_gateway_is_named_with_the_entry_to_add():
    gateways = fleet("gw01", "gw02")
    found = errors(site("gw01"), gateways)
    assert found == [
        "site.conf: no peer in mesh_vpn.fastd.groups has the key of gw02: fastd_instances[0] (mesh0); nodes never "
        "connect to it; add gw02 = { key = '%s', remotes = { '\"gw02.example.org\" port 10000' } } to the peers "
        "of a group (or render the block: role freifunk.gateway.gluon_site, tasks_from: render)" % KEYS["gw02"],
        "site.conf: mesh_vpn.tunneldigger.brokers lacks gw02: tunneldigger_instances[0] (td0); nodes never use it; "
        "add 'gw02.example.org:10042'"]


def test_a_changed_gateway_key_is_one_error_not_two():
    data = site("gw01", "gw02")
    data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]["gw02"]["key"] = public_key("old gw02")
    [message] = errors(data, fleet("gw01", "gw02"))
    assert message.startswith("%s.gw02.key (%s...) is not the key of the gateway its remotes name: "
                              "gw02: fastd_instances[0] (mesh0) has '%s'"
                              % (PEER, public_key("old gw02")[:16], KEYS["gw02"]))


def test_a_key_off_the_curve_is_named():
    data = site("gw01")
    bad = "ab" * 32
    data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]["gw09"] = {"key": bad, "remotes": ['"x.org" port 1']}
    found = errors(data, fleet("gw01"))
    assert any(e.startswith("%s.gw09.key (abababababababab...) is not a valid fastd public key" % PEER)
               for e in found)


def test_a_gateway_without_a_key_yet():
    gateways = fleet("gw01")
    gateways["gw02"] = gateway("gw02", keys={"mesh0": None})
    found = errors(site("gw01"), gateways)
    assert found[0].startswith("gw02: fastd_instances[0] (mesh0) has no fastd key yet, so the site cannot list it")


def test_gateways_whose_keys_were_not_read_are_not_stale_or_missing():
    gateways = fleet("gw01")
    gateways["gw02"] = gateway("gw02", keys=None)
    assert gateways["gw02"]["public_keys"] is None
    assert errors(site("gw01", "gw02"), gateways) == []
    assert errors(site("gw01"), gateways) == [
        "site.conf: mesh_vpn.tunneldigger.brokers lacks gw02: tunneldigger_instances[0] (td0); nodes never use "
        "it; add 'gw02.example.org:10042'"]


def test_remotes_must_name_the_gateway_and_its_port():
    data = site("gw01")
    data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]["gw01"]["remotes"] = [
        '"gw1.example.org" port 10000', '"GW01.example.org." port 10001', "ipv4 \"gw01.example.org\" port 10000"]
    found = errors(data, fleet("gw01"))
    assert found == [
        "%s.gw01.remotes: '\"gw1.example.org\" port 10000' names gw1.example.org, but the key is that of gw01: "
        "fastd_instances[0] (mesh0) (gw01's gluon_site_remote_host is 'gw01.example.org'); nodes would look for "
        "the gateway elsewhere" % PEER,
        "%s.gw01.remotes: '\"GW01.example.org.\" port 10001' has port 10001, but gw01: fastd_instances[0].port "
        "(mesh0) is 10000" % PEER]


def test_remote_addresses_match_a_list_of_remote_hosts():
    gateways = fleet("gw01", remote_host=["gw01.example.org", "2001:db8::1", "192.0.2.1"])
    data = site("gw01")
    data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]["gw01"]["remotes"] += [
        "[2001:db8:0::1]:10000", "192.0.2.1 port 10000"]
    assert errors(data, gateways) == []


def test_bad_and_missing_remotes():
    data = site("gw01")
    data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]["gw01"]["remotes"] = ["gw01.example.org 10000"]
    found = errors(data, fleet("gw01"))
    assert found == ["%s.gw01.remotes: string 'gw01.example.org 10000' is not a fastd remote: expected "
                     "'\"host\" port N', 'IPv4:N' or '[IPv6]:N'" % PEER]
    data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]["gw01"]["remotes"] = []
    assert errors(data, fleet("gw01"))[0].startswith("%s.gw01.remotes is missing or empty" % PEER)


def test_a_key_listed_twice():
    data = site("gw01")
    data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]["gw01b"] = peer("gw01")
    assert "%s.gw01b.key is the same key as %s.gw01.key; fastd refuses a key twice" % (PEER, PEER[11:]) in errors(
        data, fleet("gw01"))


def test_nested_groups_and_odd_peer_names():
    data = site()
    data["mesh_vpn"]["fastd"]["groups"] = {"backbone": {"peers": [], "groups": {"north": {"peers": {
        "gw-01": peer("gw01")}}}}}
    data["mesh_vpn"]["tunneldigger"]["brokers"] = ["gw01.example.org:10042"]
    assert errors(data, fleet("gw01")) == []
    data["mesh_vpn"]["fastd"]["groups"]["backbone"]["groups"]["north"]["peers"]["gw-01"]["remotes"] = [
        '"gw01.example.org" port 1']
    [message] = errors(data, fleet("gw01"))
    assert message.startswith("site.conf: mesh_vpn.fastd.groups.backbone.groups.north.peers['gw-01'].remotes")


def test_instances_sharing_a_key_share_a_peer():
    instances = [fastd(secret_name="gw01"),
                 fastd(name="mesh1", port=10001, interface="mesh1-%k", secret_name="gw01")]
    gateways = {"gw01": gateway("gw01", fastd_instances=instances)}
    data = site("gw01")
    data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"]["gw01"]["remotes"].append(
        '"gw01.example.org" port 10001')
    assert errors(data, gateways) == []


def test_serving_instances_can_be_narrowed():
    instances = [fastd(), fastd(name="backbone", port=10100, interface="bb-%k", mtu=1400)]
    keys = {"mesh0": KEYS["gw01"], "backbone": public_key("backbone")}
    gateways = {"gw01": gateway("gw01", fastd_instances=instances, keys=keys)}
    assert len(errors(site("gw01"), gateways)) == 2  # the backbone's MTU, and its key not in the site
    gateways["gw01"]["fastd_names"] = ["mesh0"]
    assert errors(site("gw01"), gateways) == []
    gateways["gw01"]["fastd_names"] = ["mesh9"]
    assert errors(site("gw01"), gateways)[0] == (
        "gw01: gluon_site_fastd_instances[0]: 'mesh9' is not a present instance of fastd_instances "
        "(present: backbone, mesh0)")


def test_absent_instances_do_not_serve():
    gateways = {"gw01": gateway("gw01", fastd_instances=[fastd(), fastd(name="old", state="absent")])}
    assert errors(site("gw01"), gateways) == []


# --- tunneldigger -----------------------------------------------------------------

BROKERS = "site.conf: mesh_vpn.tunneldigger.brokers"


def test_broker_mistakes_all_at_once():
    data = site("gw01")
    data["mesh_vpn"]["tunneldigger"]["brokers"] = [
        "gw01.example.org:10043", "gw09.example.org:10042", "[2001:db8::1]:10042", "gw01.example.org"]
    gateways = {"gw01": gateway("gw01", brokers=[broker(mtu=None)])}
    assert errors(data, gateways) == [
        "%s: 'gw01.example.org:10043' has port 10043, but gw01: tunneldigger_instances[0].ports (td0) are 10042"
        % BROKERS,
        "%s: 'gw09.example.org:10042' names no gateway serving the site (their gluon_site_remote_host: "
        "'gw01.example.org'); remove the stale entry, or add its gateway to the play" % BROKERS,
        "%s: string '[2001:db8::1]:10042' is not a broker: tunneldigger reaches brokers over IPv4 only" % BROKERS,
        "%s: string 'gw01.example.org' is not a broker: expected 'host:port' with a port 1..65535" % BROKERS,
        "%s lacks gw01: tunneldigger_instances[0] (td0); nodes never use it; add 'gw01.example.org:10042'"
        % BROKERS,
        "site.conf: mesh_vpn.tunneldigger.mtu is 1364, but gw01: tunneldigger_instances[0].mtu (td0) is not set; "
        "set it to 1364 so the session interfaces match the nodes"]


def test_a_broker_mtu_mismatch():
    gateways = {"gw01": gateway("gw01", brokers=[broker(mtu=1280)])}
    assert errors(site("gw01"), gateways) == [
        "site.conf: mesh_vpn.tunneldigger.mtu is 1364, but gw01: tunneldigger_instances[0].mtu (td0) is 1280; "
        "set it to 1364 so the session interfaces match the nodes"]


def test_a_site_without_tunneldigger_and_gateways_with_brokers():
    data = site("gw01")
    del data["mesh_vpn"]["tunneldigger"]
    gateways = fleet("gw01")
    assert errors(data, gateways) == [
        "site.conf: mesh_vpn.tunneldigger is missing, so nodes never use it, but gw01: tunneldigger_instances[0] "
        "(td0) would serve the site; set gluon_site_tunneldigger_instances: [] for gw01, or add "
        "mesh_vpn.tunneldigger to the site"]
    gateways["gw01"]["tunneldigger_names"] = []
    assert errors(data, gateways) == []


def test_a_tunneldigger_only_site():
    data = site("gw01")
    del data["mesh_vpn"]["fastd"]
    gateways = fleet("gw01", fastd_instances=[], keys={})
    assert errors(data, gateways) == []


# --- domains and input ---------------------------------------------------------------

def test_only_the_gateways_of_the_domain_are_checked():
    gateways = {"gw01": gateway("gw01", domain="dom1"), "gw02": gateway("gw02", domain="dom2")}
    assert errors(site("gw01"), gateways, domain="dom1") == []
    found = errors(site("gw02"), gateways, domain="dom1")
    assert found[0].startswith("site.conf + domains/dom1.conf: mesh_vpn.fastd.groups.backbone.peers.gw02 (key")


def test_bad_gateway_input_is_named():
    gateways = fleet("gw01")
    gateways["gw01"]["remote_host"] = "gw01 example"
    gateways["gw02"] = "not a gateway"
    found = errors(site("gw01"), gateways)
    assert found[:2] == [
        "gw01: gluon_site_remote_host must be a host name (letters, digits, '-', '_' and dots) or an IP address "
        "without port, got string 'gw01 example'",
        "gw02: the gateway must be a dict with fastd_instances, tunneldigger_instances, public_keys, remote_host, "
        "domain, fastd_names, tunneldigger_names, got string 'not a gateway'"]


def test_every_mistake_at_once():
    data = copied(site("gw01", "gw03"))
    data["mesh_vpn"]["fastd"]["mtu"] = 1280
    data["mesh_vpn"]["tunneldigger"]["mtu"] = 1400
    found = errors(data, fleet("gw01", "gw02"))
    # 2 fastd MTUs, gw03 stale, gw02 missing, gw03's broker stale, gw02's broker missing, 2 broker MTUs
    assert len(found) == 8, found


@pytest.mark.parametrize("empty", [[], {}])
def test_empty_tables_read_as_lists_or_dicts(empty):
    data = site("gw01")
    data["mesh_vpn"]["fastd"]["groups"]["backbone"]["peers"] = empty
    data["mesh_vpn"]["tunneldigger"]["brokers"] = empty
    found = errors(data, fleet("gw01"))
    assert len(found) == 2 and "no peer in mesh_vpn.fastd.groups" in found[0] and "lacks" in found[1]
