"""Tests for module_utils/gluon_addressing.py: a gateway's addresses and MAC
in a Gluon site from its index."""

import re

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils.gluon_addressing import (
    AddressError,
    gateway_addresses,
    mac_address,
)

SITE = {"site_code": "ffxx", "prefix4": "10.130.0.0/20", "prefix6": "fd00:1234::/64",
        "next_node": {"ip4": "10.130.0.254", "ip6": "fd00:1234::abcd"}}


def failures(*args, **kwargs):
    with pytest.raises(AddressError) as info:
        gateway_addresses(*args, **kwargs)
    return info.value.errors


def test_the_index_th_addresses():
    result = gateway_addresses(SITE, 3)
    assert result["ipv4"] == "10.130.0.3/20"
    assert result["ipv6"] == "fd00:1234::3/64"
    assert result["mac"] == mac_address("ffxx", 3)
    assert gateway_addresses(SITE, 300)["ipv4"] == "10.130.1.44/20"


def test_the_mac_is_local_unicast_stable_and_differs_per_domain_and_index():
    mac = gateway_addresses(SITE, 1, domain="dom1")["mac"]
    assert re.fullmatch(r"02(:[0-9a-f]{2}){5}", mac)
    first = int(mac[:2], 16)
    assert first & 0x02 and not first & 0x01  # locally administered, unicast
    assert mac.endswith(":00:01")
    assert mac == gateway_addresses(SITE, 1, domain="dom1")["mac"]
    assert mac != gateway_addresses(SITE, 1, domain="dom2")["mac"]
    assert mac != gateway_addresses(SITE, 2, domain="dom1")["mac"]
    assert mac_address("dom1", 258).endswith(":01:02")


def test_a_site_without_prefix4():
    site = dict(SITE)
    del site["prefix4"]
    assert gateway_addresses(site, 1)["ipv4"] is None


@pytest.mark.parametrize("index, shown", [(0, "0"), (-1, "-1"), (True, "boolean true"), ("1", "string '1'"),
                                          (1.0, "float 1.0"), (65536, "65536")])
def test_bad_indexes(index, shown):
    assert failures(SITE, index) == ["gluon_site_index must be the gateway's number, 1..65535, got %s" % shown]


def test_a_prefix_too_small_for_the_index():
    site = dict(SITE, prefix4="10.130.0.0/30")
    assert failures(site, 3) == ["site.conf: prefix4 (10.130.0.0/30) has 2 addresses for gateways, too few for "
                                 "gluon_site_index 3"]
    assert gateway_addresses(site, 2)["ipv4"] == "10.130.0.2/30"


def test_the_next_node_address_is_not_taken():
    site = dict(SITE, prefix4="10.130.0.0/24")
    assert failures(site, 254) == ["site.conf: gluon_site_index 254 gives 10.130.0.254, which is next_node.ip4 (the "
                                   "address every node answers on); give the gateway another index"]
    assert any("gives fd00:1234::abcd, which is next_node.ip6" in e for e in failures(SITE, 0xabcd))


def test_prefix_mistakes_all_at_once():
    site = {"site_code": "ffxx", "prefix4": "10.130.0.1/20", "prefix6": "fd00:1234::"}
    assert failures(site, 1, site_file="/srv/site/site.conf") == [
        "site.conf: prefix4 is 10.130.0.1/20, which has host bits set; did you mean 10.130.0.0/20?",
        "site.conf: prefix6 must be an IPv6 prefix such as fd00:1234::/64, got string 'fd00:1234::'"]
    assert failures({"site_code": "x", "prefix4": "fd00::/64"}, 1) == [
        "site.conf: prefix4 must be an IPv4 prefix such as 10.0.0.0/20, got string 'fd00::/64'",
        "site.conf: prefix6 is missing; Gluon needs the mesh's IPv6 prefix, e.g. 'fd00:1234::/64'"]


def test_overlapping_domains_are_refused():
    domains = {
        "dom1": dict(SITE),
        "dom2": dict(SITE, prefix4="10.130.8.0/21", prefix6="fd00:5678::/64"),
        "dom3": dict(SITE, prefix4="10.131.0.0/20", prefix6="fd00:9999::/64"),
    }
    assert failures(domains["dom1"], 1, domain="dom1", domains=domains) == [
        "site.conf + domains/dom1.conf: prefix4 10.130.0.0/20 overlaps prefix4 of domain dom2 (10.130.8.0/21); "
        "every domain needs a prefix of its own"]
    assert gateway_addresses(domains["dom3"], 1, domain="dom3", domains=domains)["ipv4"] == "10.131.0.1/20"


def test_site_code_or_domain_is_needed_for_the_mac():
    site = dict(SITE)
    del site["site_code"]
    assert failures(site, 1) == ["site.conf: site_code is missing; it makes the gateway's MAC differ between sites"]
    assert gateway_addresses(site, 1, domain="dom1")["mac"] == mac_address("dom1", 1)
