"""The filters of the fleet view (plugins/filter/status.py) and of the role
freifunk.gateway.metrics (plugins/filter/metrics.py)."""

from ansible_collections.freifunk.gateway.plugins.filter import metrics, status
from ansible_collections.freifunk.gateway.plugins.filter.fastd import fastd_instances_normalized
from ansible_collections.freifunk.gateway.plugins.filter.tunneldigger import tunneldigger_instances_normalized


def fastd_result(name, methods, offload=False):
    connected = sum(methods.values())
    return {"changed": False, "count": connected, "connected": connected, "methods": methods,
            "peers": [], "item": {"name": name, "offload_l2tp": offload}}


def test_the_fleet_from_the_hosts_results_and_a_host_without_them():
    hostvars = {
        "gw01": {"__gateway_numbers": status.gateway_numbers_from_status(
            {"results": [fastd_result("mesh0", {"null@l2tp": 3}, offload=True)]},
            {"results": [{"count": 2, "in_mesh_count": 2, "stale": [], "active": True, "item": {"name": "td0"}}]})},
        "gw02": {"__gateway_numbers": status.gateway_numbers_from_status(
            {"results": [fastd_result("mesh0", {"salsa2012+umac": 1})]})},
        "gw03": {},
    }
    fleet = status.fleet_status(hostvars, ["gw03", "gw02", "gw01"])
    assert [(g["gateway"], g["answered"]) for g in fleet["gateways"]] == [
        ("gw01", True), ("gw02", True), ("gw03", False)]
    assert fleet["totals"]["nodes"] == 6 and fleet["totals"]["offloaded"] == 3
    assert fleet["totals"]["methods"] == {"null@l2tp": 3, "salsa2012+umac": 1}
    lines = status.fleet_status_lines(fleet)
    assert lines[2].split() == ["gw01", "5", "3/3", "null@l2tp", "3", "3", "td0", "2"]
    assert lines[4].split()[-2:] == ["no", "answer"]
    assert lines[-1].startswith("all 3") and lines[-1].endswith("2 of 3 gateways answered")


def test_metrics_errors_name_both_variables():
    assert metrics.gateway_metrics_errors(60, "/var/lib/prometheus/node-exporter") == []
    errors = metrics.gateway_metrics_errors(1, "textfiles")
    assert [e.split(" ")[0] for e in errors] == ["metrics_interval", "metrics_textfile_directory"]


def test_metrics_config_from_the_normalized_instances():
    fastd = fastd_instances_normalized([{"name": "mesh0", "secret": "0" * 64, "port": 10000, "interface": "mesh0-%k",
                                         "methods": ["null@l2tp", "salsa2012+umac"], "offload_l2tp": True}])
    brokers = tunneldigger_instances_normalized([{"name": "td0", "interface": "eth0", "address": "192.0.2.1",
                                                  "ports": [10042]}])
    cfg = metrics.gateway_metrics_config(fastd, brokers, "gw01", "/var/lib/prometheus/node-exporter")
    assert cfg["fastd"] == [{"name": "mesh0", "status_socket": "/run/fastd/mesh0.sock", "offload_l2tp": True}]
    assert [b["name"] for b in cfg["tunneldigger"]] == ["td0"]
    assert "0" * 64 not in str(cfg)
