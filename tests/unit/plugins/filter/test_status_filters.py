"""Tests for plugins/filter/status.py on real fastd_status shapes."""

import json
import os

import pytest

from ansible_collections.freifunk.gateway.plugins.filter.status import (
    FilterModule, fastd_peer_line, fastd_status_lines)
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_status import parse_status

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
KEY = "a2188e5ca27664d74552b9693cf4dd330de4c8e80b410f84e060f5419f821711"


@pytest.mark.parametrize("peer, line", [
    ({"name": "node-a", "key": KEY, "connected": True, "method": "salsa2012+umac",
      "established": 42.9, "interface": "mesh-node-a", "address": "192.0.2.7:10001"},
     "node-a (a2188e5ca276) salsa2012+umac, 42s, from 192.0.2.7:10001, via mesh-node-a"),
    ({"name": "node-c", "key": KEY, "connected": True, "method": "null", "established": 0,
      "interface": "mesh-node-c", "address": "any"},
     "node-c (a2188e5ca276) null, 0s, via mesh-node-c"),
    ({"name": None, "key": KEY, "connected": True, "method": "null", "established": 1,
      "interface": None},
     "(unnamed) (a2188e5ca276) null, 1s"),
    ({"name": "node-b", "key": KEY, "connected": False},
     "node-b (a2188e5ca276) not connected"),
])
def test_peer_line(peer, line):
    assert fastd_peer_line(peer) == line


def test_status_lines_list_connected_peers_under_a_heading():
    status = {"peers": [
        {"name": "a", "key": KEY, "connected": True, "method": "null", "established": 3},
        {"name": "b", "key": KEY, "connected": False},
        {"name": "c", "key": KEY, "connected": True, "method": "salsa2012+umac", "established": 5},
    ], "methods": {"salsa2012+umac": 1, "null": 1}}
    assert fastd_status_lines(status, "gw fastd@mesh0") == [
        "gw fastd@mesh0: 2 of 3 peers connected (null: 1, salsa2012+umac: 1)",
        "  a (a2188e5ca276) null, 3s",
        "  c (a2188e5ca276) salsa2012+umac, 5s",
    ]


@pytest.mark.parametrize("fixture", sorted(f for f in os.listdir(FIXTURES) if f.endswith(".json")))
def test_status_lines_on_recorded_documents(fixture):
    with open(os.path.join(FIXTURES, fixture)) as f:
        status = parse_status(json.load(f))
    lines = fastd_status_lines(status, "x")
    assert lines[0].startswith("x: %d of %d peers connected" % (status["connected"], len(status["peers"])))
    assert len(lines) == 1 + status["connected"]


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"fastd_peer_line", "fastd_status_lines", "tunneldigger_status_lines",
                                             "fleet_status", "fleet_status_lines", "gateway_numbers_from_status"}
