"""Tests for tunneldigger_status_lines in plugins/filter/status.py."""

from ansible_collections.freifunk.gateway.plugins.filter.status import tunneldigger_status_lines


def session(interface, uuid, endpoint, mtu, up, master, in_mesh):
    return {"interface": interface, "tunnel_id": 100, "session_id": 100, "uuid": uuid, "endpoint": endpoint,
            "mtu": mtu, "up": up, "operstate": "unknown" if up else "down", "master": master,
            "in_mesh": in_mesh, "since": None}


RESULT = {
    "instance": "td0", "active": True, "count": 3, "in_mesh_count": 1, "stale": ["l2tp103-103"],
    "sessions": [
        session("l2tp100-100", "0242ac110002", "198.51.100.7:41235", 1364, True, "bat0", True),
        session("l2tp101-101", None, "203.0.113.20:53001", 1364, True, "br-client", False),
        session("l2tp102-1", "6e6f64653032", "192.0.2.99:40000", 1364, False, None, False),
    ],
}


def test_status_lines_as_a_table():
    assert tunneldigger_status_lines(RESULT, "gw01 tunneldigger@td0") == [
        "gw01 tunneldigger@td0: 3 sessions, 1 in the mesh",
        "  l2tp100-100  0242ac110002  198.51.100.7:41235  mtu 1364  up, in bat0",
        "  l2tp101-101  (no record)   203.0.113.20:53001  mtu 1364  up, master br-client, not in the mesh",
        "  l2tp102-1    6e6f64653032  192.0.2.99:40000    mtu 1364  down, no master",
        "  stale records (no kernel session): l2tp103-103",
    ]


def test_status_lines_without_mesh_or_interface():
    result = {"instance": "td0", "active": None, "count": 1, "in_mesh_count": None, "stale": [],
              "sessions": [session("l2tp7-7", None, None, None, False, None, None)]}
    assert tunneldigger_status_lines(result, "gw") == [
        "gw: 1 session, mesh not checked",
        "  l2tp7-7  (no record)  -  mtu -  down, no master",
    ]


def test_status_lines_of_a_stopped_broker():
    result = {"instance": "td0", "active": False, "count": 0, "in_mesh_count": 0, "stale": [], "sessions": []}
    assert tunneldigger_status_lines(result, "gw td0") == ["gw td0: 0 sessions, 0 in the mesh, broker not active"]


def test_status_lines_of_a_failed_wait_for():
    # a failed run carries the same keys (and msg, failed), so the lines still read
    result = dict(RESULT, failed=True, msg="timed out ...")
    assert len(tunneldigger_status_lines(result, "gw")) == 5
