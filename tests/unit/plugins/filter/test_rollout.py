"""Tests for the health gate of playbooks/gateway.yml (plugins/filter/rollout.py,
plugins/module_utils/rollout.py), on the shapes the status modules and
systemctl really return."""

import pytest

from ansible_collections.freifunk.gateway.plugins.filter.rollout import (
    FilterModule, rollout_errors, rollout_play_keywords, rollout_report, rollout_served, rollout_waits)
from ansible_collections.freifunk.gateway.plugins.module_utils.rollout import needed, unit_states

MESH = {"backend": "batman_adv", "interface": "bat0"}

# systemctl show --property=Id,MainPID,ActiveState,ActiveEnterTimestampMonotonic (its own order)
SHOW_BEFORE = """MainPID=812
ActiveState=active
ActiveEnterTimestampMonotonic=48291002
Id=fastd@mesh0.service

MainPID=813
ActiveState=active
ActiveEnterTimestampMonotonic=48291950
Id=fastd@mesh1.service

MainPID=900
ActiveState=active
ActiveEnterTimestampMonotonic=50001000
Id=tunneldigger@td0.service
"""
# mesh0 restarted, mesh1 reloaded (same process), td0 restarted
SHOW_AFTER = SHOW_BEFORE.replace("MainPID=812", "MainPID=1204").replace(
    "ActiveEnterTimestampMonotonic=48291002", "ActiveEnterTimestampMonotonic=96000123").replace(
    "MainPID=900\nActiveState=active\nActiveEnterTimestampMonotonic=50001000",
    "MainPID=1300\nActiveState=active\nActiveEnterTimestampMonotonic=97000000")


def fastd_result(name, connected=None, msg=None):
    res = {"item": {"name": name, "unit": "fastd@%s.service" % name,
                    "status_socket": "/run/fastd/%s.sock" % name}, "changed": False, "failed": False}
    if connected is not None:
        res.update(connected=connected, count=connected, peers=[], methods={})
    if msg:
        res["msg"] = msg
    return res


def session(up=True, in_mesh=True, uuid="0242ac110002"):
    return {"interface": "l2tp100-100", "up": up, "in_mesh": in_mesh, "uuid": uuid}


def td_result(name, sessions=None, mesh="bat0", msg=None):
    mesh = dict(MESH) if mesh == "bat0" else mesh
    res = {"item": {"name": name, "unit": "tunneldigger@%s.service" % name, "tunnel_id_base": 100,
                    "max_tunnels": 1024, "mesh": mesh}, "changed": False, "failed": False}
    if sessions is not None:
        res.update(sessions=sessions, count=len(sessions))
    if msg:
        res["msg"] = msg
    return res


def test_every_filter_is_registered():
    assert sorted(FilterModule().filters()) == [
        "rollout_errors", "rollout_play_keywords", "rollout_report", "rollout_served", "rollout_waits"]


# --- settings ------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [
    {},
    {"gateway_serial": None, "gateway_recovery_share": None},
    {"gateway_serial": 1, "gateway_max_fail_percentage": 0, "gateway_recovery_share": 0.8,
     "gateway_recovery_timeout": 300},
    {"gateway_serial": "2"},
    {"gateway_serial": "25%"},
    {"gateway_serial": "12.5%"},
    {"gateway_serial": [1, "50%", "100%"]},
    {"gateway_recovery_share": 0},
    {"gateway_recovery_share": 1},
    {"gateway_recovery_share": "0.5"},
    {"gateway_max_fail_percentage": 100},
    {"gateway_max_fail_percentage": "20"},
    {"gateway_recovery_timeout": "60"},
])
def test_good_settings(settings):
    assert rollout_errors({"gw01": settings}) == []


@pytest.mark.parametrize("settings, expected", [
    ({"gateway_serial": 0}, "gw01: gateway_serial must be a number of gateways per batch (1 or more), "
                            "a percentage of them (\"25%\"), or a list of these (batch sizes in turn), got 0"),
    ({"gateway_serial": "0%"}, "gw01: gateway_serial must be"),
    ({"gateway_serial": "150%"}, "gw01: gateway_serial must be"),
    ({"gateway_serial": "1.5"}, "gw01: gateway_serial must be"),
    ({"gateway_serial": "all"}, "gw01: gateway_serial must be"),
    ({"gateway_serial": True}, "gw01: gateway_serial must be"),
    ({"gateway_serial": []}, "gw01: gateway_serial must be"),
    ({"gateway_serial": [1, 0]}, "gw01: gateway_serial must be"),
    ({"gateway_recovery_share": 80}, "gw01: gateway_recovery_share must be a number from 0 to 1 "
                                     "(0.8: 80% of the peers and sessions a restarted daemon served must "
                                     "be back; 0: do not wait), got 80"),
    ({"gateway_recovery_share": -0.1}, "gw01: gateway_recovery_share must be"),
    ({"gateway_recovery_share": "most"}, "gw01: gateway_recovery_share must be"),
    ({"gateway_recovery_share": True}, "gw01: gateway_recovery_share must be"),
    ({"gateway_max_fail_percentage": 101}, "gw01: gateway_max_fail_percentage must be a number from 0 to 100"),
    ({"gateway_max_fail_percentage": "10%"}, "gw01: gateway_max_fail_percentage must be"),
    ({"gateway_recovery_timeout": 0}, "gw01: gateway_recovery_timeout must be a whole number of seconds "
                                      "(1 or more), got 0"),
    ({"gateway_recovery_timeout": 2.5}, "gw01: gateway_recovery_timeout must be"),
    ({"gateway_recovery_timeout": "soon"}, "gw01: gateway_recovery_timeout must be"),
])
def test_bad_settings(settings, expected):
    errors = rollout_errors({"gw01": settings})
    assert len(errors) == 1
    assert errors[0].startswith(expected)


def test_every_mistake_of_every_gateway_at_once():
    errors = rollout_errors({
        "gw02": {"gateway_recovery_share": 2, "gateway_recovery_timeout": -1},
        "gw01": {"gateway_serial": "x"},
    })
    assert [e.split(":")[0] + ":" + e.split(":")[1].split(" ")[1] for e in errors] == [
        "gw01:gateway_serial", "gw02:gateway_recovery_share", "gw02:gateway_recovery_timeout"]


def test_gateways_must_agree_on_the_play_keywords():
    errors = rollout_errors({
        "gw01": {"gateway_serial": 1},
        "gw02": {"gateway_serial": 2},
        "gw03": {"gateway_serial": 1, "gateway_recovery_share": 0.5},  # per host: fine
    })
    assert errors == ["gateway_serial differs between the gateways (1: gw01, gw03; 2: gw02); a run has one: "
                      "set it once for all gateways (group_vars) or with -e gateway_serial=..."]


def test_a_default_and_the_same_value_given_agree():
    assert rollout_errors({"gw01": {"gateway_max_fail_percentage": 0}, "gw02": {}}) == []
    assert len(rollout_errors({"gw01": {"gateway_max_fail_percentage": 10}, "gw02": {}})) == 1


@pytest.mark.parametrize("settings, keywords", [
    ({}, {"serial": "25%", "max_fail_percentage": 0}),
    ({"gateway_serial": 1, "gateway_max_fail_percentage": "20"}, {"serial": 1, "max_fail_percentage": 20}),
    ({"gateway_serial": [1, "50%"], "gateway_max_fail_percentage": None},
     {"serial": [1, "50%"], "max_fail_percentage": 0}),
])
def test_play_keywords(settings, keywords):
    assert rollout_play_keywords(settings) == keywords


# --- the arithmetic ------------------------------------------------------------------------

@pytest.mark.parametrize("before, share, need", [
    (3, 0.8, 3), (5, 0.8, 4), (10, 0.8, 8), (1, 0.8, 1), (2, 0.5, 1), (7, 1, 7), (4, 0, 0),
    (100, 0.3, 30), (3, 0.1, 1),
])
def test_needed_rounds_up_without_float_noise(before, share, need):
    assert needed(before, share) == need


def test_unit_states_reads_systemctl_show():
    states = unit_states(SHOW_BEFORE)
    assert states["fastd@mesh0.service"] == {"pid": 812, "since": 48291002, "active": "active"}
    assert sorted(states) == ["fastd@mesh0.service", "fastd@mesh1.service", "tunneldigger@td0.service"]


def test_unit_states_of_a_unit_that_never_ran():
    text = "MainPID=0\nActiveState=inactive\nActiveEnterTimestampMonotonic=0\nId=fastd@new.service\n"
    assert unit_states(text) == {"fastd@new.service": {"pid": 0, "since": 0, "active": "inactive"}}


# --- what is served ------------------------------------------------------------------------

def test_served_counts_peers_and_ready_sessions():
    served = rollout_served(
        [fastd_result("mesh0", 3), fastd_result("mesh1", msg="cannot connect to /run/fastd/mesh1.sock: "
                                                             "No such file or directory")],
        [td_result("td0", [session(), session(in_mesh=False), session(up=False), session(uuid=None)]),
         td_result("td1", [session(), session()], mesh=None)])
    assert [(d["daemon"], d["count"], d["line"]) for d in served] == [
        ("fastd@mesh0", 3, "fastd@mesh0: 3 peers connected"),
        ("fastd@mesh1", 0, "fastd@mesh1: not answering (cannot connect to /run/fastd/mesh1.sock: "
                           "No such file or directory)"),
        ("tunneldigger@td0", 1, "tunneldigger@td0: 1 sessions up"),
        ("tunneldigger@td1", 2, "tunneldigger@td1: 2 sessions up"),
    ]
    assert served[0]["socket"] == "/run/fastd/mesh0.sock"
    assert served[2]["tunnel_id_base"] == 100 and served[2]["mesh"] == MESH


def test_served_skips_skipped_items_and_takes_nothing():
    assert rollout_served([{"skipped": True, "item": {"name": "x"}}], []) == []
    assert rollout_served(None, None) == []


# --- whom to wait for ----------------------------------------------------------------------

def _served():
    return rollout_served([fastd_result("mesh0", 3), fastd_result("mesh1", 2)],
                          [td_result("td0", [session(), session()])])


def test_waits_for_restarted_daemons_that_served_someone():
    waits = rollout_waits(_served(), SHOW_BEFORE, SHOW_AFTER, 0.8, 300)
    assert [(w["daemon"], w["before"], w["need"], w["timeout"]) for w in waits] == [
        ("fastd@mesh0", 3, 3, 300), ("tunneldigger@td0", 2, 2, 300)]  # mesh1 was only reloaded


def test_no_wait_without_a_restart():
    assert rollout_waits(_served(), SHOW_BEFORE, SHOW_BEFORE, 0.8, 300) == []


def test_no_wait_for_a_daemon_that_served_no_one():
    served = rollout_served([fastd_result("mesh0", 0)], [])
    assert rollout_waits(served, SHOW_BEFORE, SHOW_AFTER) == []


def test_no_wait_with_share_zero():
    assert rollout_waits(_served(), SHOW_BEFORE, SHOW_AFTER, 0, 300) == []


def test_a_daemon_that_went_down_is_waited_for():
    after = SHOW_BEFORE.replace("MainPID=813\nActiveState=active", "MainPID=0\nActiveState=failed")
    waits = rollout_waits(_served(), SHOW_BEFORE, after, "0.5", "60")
    assert [(w["daemon"], w["need"], w["share"], w["timeout"]) for w in waits] == [("fastd@mesh1", 1, 0.5, 60)]


def test_defaults_when_share_and_timeout_are_not_set():
    waits = rollout_waits(_served(), SHOW_BEFORE, SHOW_AFTER, None, None)
    assert {(w["share"], w["timeout"]) for w in waits} == {(0.8, 300)}


# --- the verdict ---------------------------------------------------------------------------

def _wait_result(wait, **status):
    res = {"item": wait, "changed": False, "failed": False}
    res.update(status)
    return res


def test_report_all_back():
    waits = rollout_waits(_served(), SHOW_BEFORE, SHOW_AFTER, 0.8, 300)
    results = [_wait_result(waits[0], connected=3), _wait_result(waits[1], sessions=[session(), session()])]
    assert rollout_report(results, "gw02") == [
        {"ok": True, "line": "gw02 fastd@mesh0: 3 of 3 peers back"},
        {"ok": True, "line": "gw02 tunneldigger@td0: 2 of 2 sessions back"},
    ]


def test_report_a_gateway_that_did_not_recover():
    waits = rollout_waits(_served(), SHOW_BEFORE, SHOW_AFTER, 0.8, 300)
    results = [
        _wait_result(waits[0], connected=2, msg="timed out after 300.0s waiting for 3 connected peer(s); saw 2"),
        _wait_result(waits[1], msg="tunneldigger@td0: timed out"),  # no status at all
    ]
    report = rollout_report(results, "gw02")
    assert report == [
        {"ok": False, "line": "gw02 fastd@mesh0: 2 of 3 peers back after 300 s (3 needed: "
                              "gateway_recovery_share 0.8); the rollout stops after this batch, gateways "
                              "of later batches were not changed"},
        {"ok": False, "line": "gw02 tunneldigger@td0: 0 of 2 sessions back after 300 s (2 needed: "
                              "gateway_recovery_share 0.8); tunneldigger@td0: timed out; the rollout stops "
                              "after this batch, gateways of later batches were not changed"},
    ]


def test_report_a_fastd_that_does_not_answer():
    waits = rollout_waits(_served(), SHOW_BEFORE, SHOW_AFTER, 0.8, 300)
    msg = "timed out after 300.0s waiting for 3 connected peer(s): cannot connect to /run/fastd/mesh0.sock"
    report = rollout_report([_wait_result(waits[0], msg=msg)], "gw02")
    assert report[0]["line"].startswith("gw02 fastd@mesh0: 0 of 3 peers back after 300 s (3 needed: "
                                        "gateway_recovery_share 0.8); timed out after 300.0s")


def test_report_skips_skipped_and_takes_nothing():
    assert rollout_report([{"skipped": True}], "gw01") == []
    assert rollout_report(None, "gw01") == []
