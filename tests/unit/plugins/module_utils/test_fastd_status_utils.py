"""Tests for plugins/module_utils/fastd_status.py: the status socket document of fastd 22 and 23."""

import json
import os

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import fastd_status as f

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
KEY_A = "84ddcfa9c8887a361f4ee619d79a642c50acd0d04a2b3109ab65a85e34f24f0f"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def test_parse_status_v22_multitap():
    status = f.parse_status(fixture("fastd_status_v22_multitap.json"))
    assert status["uptime"] == pytest.approx(17.707)
    assert status["interface"] is None
    assert (status["count"], status["connected"]) == (3, 2)
    assert status["methods"] == {"salsa2012+umac": 1, "null@l2tp": 1}
    assert [p["name"] for p in status["peers"]] == ["node1", "node2", None]
    node1, node2, unnamed = status["peers"]
    assert node1["key"] == KEY_A and node1["connected"] and node1["method"] == "salsa2012+umac"
    assert node1["interface"] == "fft-84ddcfa9c88" and node1["mtu"] is None
    assert node1["established"] == pytest.approx(17.685)
    assert node1["statistics"]["rx"] == {"packets": 7, "bytes": 586}
    assert not node2["connected"] and node2["method"] is None and node2["established"] is None
    assert node2["address"] == "any"
    assert unnamed["method"] == "null@l2tp" and unnamed["address"] == "127.0.0.1:40103"


def test_parse_status_v23_has_mtu():
    status = f.parse_status(fixture("fastd_status_v23_multitap.json").encode())
    assert [p["mtu"] for p in status["peers"]] == [1312, 1312, 1312]
    assert status["connected"] == 2


def test_parse_status_tap_puts_the_interface_on_each_peer():
    status = f.parse_status(json.loads(fixture("fastd_status_v22_tap.json")))
    assert status["interface"] == "fft-b"
    (gw,) = status["peers"]
    assert gw["interface"] == "fft-b" and gw["mac_addresses"] == ["36:bf:c0:56:05:7b"]
    assert f.count_connected(status) == 1
    assert f.count_connected(status, "salsa2012+umac") == 1
    assert f.count_connected(status, "null@l2tp") == 0


@pytest.mark.parametrize("doc", ["[]", "{}", '{"peers": []}', "not json"])
def test_parse_status_rejects_other_documents(doc):
    with pytest.raises(ValueError):
        f.parse_status(doc)


def test_method_counts_ignores_disconnected_peers():
    peers = [{"connected": True, "method": "null"}, {"connected": False, "method": None},
             {"connected": True, "method": "null"}, {"connected": True, "method": "salsa2012+umac"}]
    assert f.method_counts(peers) == {"null": 2, "salsa2012+umac": 1}


def test_status_socket_path():
    assert f.status_socket_path("mesh0") == "/run/fastd/mesh0.sock"
