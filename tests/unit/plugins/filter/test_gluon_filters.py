"""Tests for plugins/filter/gluon.py: the filters reach the rules of
module_utils/gluon_align.py, gluon_render.py and gluon_addressing.py (tested
there) and fail with AnsibleFilterError naming every mistake."""

import os
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.freifunk.gateway.plugins.filter import gluon as flt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "module_utils"))
from gluon_fixtures import fleet, gateway, site  # noqa: E402  pylint: disable=wrong-import-position


def test_the_filters_are_registered():
    assert sorted(flt.FilterModule().filters()) == ["gluon_gateway_addresses", "gluon_site_errors", "gluon_site_lua"]


def test_site_errors():
    assert flt.gluon_site_errors(site("gw01"), "site/site.conf", fleet("gw01")) == []
    data = site("gw01")
    data["mesh_vpn"]["fastd"]["mtu"] = 1280
    assert flt.gluon_site_errors(data, "site/site.conf", fleet("gw01")) == [
        "site.conf: mesh_vpn.fastd.mtu is 1280, but gw01: fastd_instances[0].mtu (mesh0) is 1312"]
    assert flt.gluon_site_errors(data, "site/site.conf", {"gw01": gateway("gw01", domain="d")}, "d") != []


def test_site_lua():
    assert "gw01 = {" in flt.gluon_site_lua(fleet("gw01"))
    with pytest.raises(AnsibleFilterError, match=r"(?s)cannot render.*gw01: fastd_instances\[0\] \(mesh0\): it has "
                                                 r"no key yet.*gw02: fastd_instances\[0\]"):
        flt.gluon_site_lua({"gw01": gateway("gw01", keys={"mesh0": None}), "gw02": gateway("gw02", keys={})})


def test_gateway_addresses():
    assert flt.gluon_gateway_addresses(site(), 2)["ipv6"] == "fd00:1234::2/64"
    with pytest.raises(AnsibleFilterError, match=r"(?s)gluon_site_index must be.*prefix6 is missing"):
        flt.gluon_gateway_addresses({"site_code": "x"}, 0)
