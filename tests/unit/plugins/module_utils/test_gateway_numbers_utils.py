"""Tests for plugins/module_utils/gateway_numbers.py: the numbers of a
gateway from fastd's status documents (the recorded ones in
tests/unit/fixtures) and the kernel's L2TP state, the fleet table, the
Prometheus text, and the program freifunk-gateway-metrics against a real
Unix socket and the real ``ip``."""

import json
import os
import socket
import stat
import threading

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import fastd_status as fs
from ansible_collections.freifunk.gateway.plugins.module_utils import gateway_numbers as gn
from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger_status as td

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")


def status(name="fastd_status_v22_multitap.json"):
    """node1 salsa2012+umac, an unnamed peer null@l2tp, node2 not connected."""
    with open(os.path.join(FIXTURES, name), "rb") as handle:
        return fs.parse_status(handle.read())


# Broker td0 (ids 100..1123): tunnels 100 and 101 with a session each, and
# 4009, a fastd offload tunnel that is not the broker's.
TUNNELS = json.dumps([
    {"tunnel_id": 100, "encap": "UDP", "local": "10.0.2.15", "peer": "198.51.100.7", "peer_tunnel": 7,
     "local_port": 10042, "peer_port": 41235},
    {"tunnel_id": 101, "encap": "UDP", "local": "10.0.2.15", "peer": "203.0.113.20", "peer_tunnel": 3,
     "local_port": 10042, "peer_port": 53001},
    {"tunnel_id": 4009, "encap": "UDP", "local": "10.0.2.15", "peer": "198.51.100.50", "peer_tunnel": 4100,
     "local_port": 10000, "peer_port": 10000}])
SESSIONS = json.dumps([
    {"tunnel_id": 100, "session_id": 100, "peer_tunnel_id": 7, "peer_session_id": 7, "interface": "l2tp100-100"},
    {"tunnel_id": 101, "session_id": 101, "peer_tunnel_id": 3, "peer_session_id": 3, "interface": "l2tp101-101"},
    {"tunnel_id": 4009, "session_id": 4009, "peer_tunnel_id": 4100, "peer_session_id": 4100, "interface": "mesh0-x"}])
MESH = {"backend": "batman_adv", "interface": "bat0"}


def sysfs_with(tmp_path, masters):
    """A /sys/class/net with the session interfaces, up, in their masters."""
    root = tmp_path / "sys"
    for name, master in masters.items():
        (root / name).mkdir(parents=True)
        (root / name / "mtu").write_text("1364\n")
        (root / name / "operstate").write_text("unknown\n")
        (root / name / "flags").write_text("0x1003\n")
        if master:
            (root / master).mkdir(exist_ok=True)
            os.symlink(str(root / master), str(root / name / "master"))
    return str(root)


def broker_status(tmp_path, masters=None):
    masters = {"l2tp100-100": "bat0", "l2tp101-101": None} if masters is None else masters
    return td.gather(TUNNELS, SESSIONS, "td0", 100, 1024, MESH, str(tmp_path / "run"), sysfs_with(tmp_path, masters))


# --- one instance, one broker ------------------------------------------------------------

def test_fastd_numbers_count_peers_methods_and_offload():
    numbers = gn.fastd_numbers("mesh0", status(), offload_l2tp=True)
    assert numbers == {"instance": "mesh0", "up": True, "error": None, "peers": 3, "connected": 2,
                       "methods": {"null@l2tp": 1, "salsa2012+umac": 1}, "offloaded": 1}


@pytest.mark.parametrize("name", ["fastd_status_v22_multitap.json", "fastd_status_v23_multitap.json"])
def test_null_at_l2tp_without_offload_is_not_offloaded(name):
    # fastd carries null@l2tp itself unless offload_l2tp is on
    assert gn.fastd_numbers("mesh0", status(name))["offloaded"] == 0


def test_an_instance_that_did_not_answer_has_no_numbers_but_its_error():
    numbers = gn.fastd_numbers("mesh0", None, error="status socket /run/fastd/mesh0.sock does not exist")
    assert numbers["up"] is False and numbers["connected"] is None and numbers["offloaded"] is None
    assert "does not exist" in numbers["error"]


def test_broker_numbers_count_only_the_brokers_sessions_and_those_in_the_mesh(tmp_path):
    numbers = gn.broker_numbers("td0", broker_status(tmp_path), active=True)
    assert numbers == {"broker": "td0", "up": True, "error": None, "sessions": 2, "in_mesh": 1, "stale": 0}


def test_from_results_reads_the_registered_loops_of_the_status_playbook(tmp_path):
    ok = dict(status(), changed=False, item={"name": "mesh0", "offload_l2tp": True})
    failed = {"failed": True, "msg": "status socket /run/fastd/mesh1.sock does not exist",
              "item": {"name": "mesh1", "offload_l2tp": False}}
    broker = dict(broker_status(tmp_path), active=False, item={"name": "td0"})
    numbers = gn.from_results({"results": [failed, ok]}, {"results": [broker]})
    assert [i["instance"] for i in numbers["fastd"]] == ["mesh0", "mesh1"]
    assert numbers["fastd"][1]["up"] is False and "mesh1.sock" in numbers["fastd"][1]["error"]
    assert numbers["tunneldigger"][0]["up"] is False
    assert numbers["totals"] == {"nodes": 4, "fastd_connected": 2, "fastd_peers": 3,
                                 "methods": {"null@l2tp": 1, "salsa2012+umac": 1}, "offloaded": 1,
                                 "sessions": 2, "in_mesh": 1, "not_answering": 1}


def test_from_results_without_brokers_or_instances():
    assert gn.from_results(None, None)["totals"]["nodes"] == 0
    assert gn.from_results({"results": [{"skipped": True}]}, [])["fastd"] == []


# --- the fleet ------------------------------------------------------------------------------

def gw(connected_methods, sessions=None, up=True):
    fastd = [gn.fastd_numbers("mesh0", {"count": sum(connected_methods.values()) + 1,
                                        "connected": sum(connected_methods.values()),
                                        "methods": connected_methods}, offload_l2tp=True)
             if up else gn.fastd_numbers("mesh0", None, error="gone")]
    brokers = [] if sessions is None else [gn.broker_numbers("td0", {"count": sessions, "in_mesh_count": sessions,
                                                                     "stale": []}, active=True)]
    return gn.host_numbers(fastd, brokers)


def test_fleet_sums_the_gateways_that_answered_and_lists_the_others():
    doc = gn.fleet({"gw02": gw({"null": 1}), "gw01": gw({"null@l2tp": 2, "null": 1}, sessions=4),
                    "gw03": None, "gw04": gw({}, up=False)})
    assert [g["gateway"] for g in doc["gateways"]] == ["gw01", "gw02", "gw03", "gw04"]
    assert doc["gateways"][2]["answered"] is False
    assert doc["totals"] == {"nodes": 8, "fastd_connected": 4, "fastd_peers": 6,
                             "methods": {"null": 2, "null@l2tp": 2}, "offloaded": 2, "sessions": 4,
                             "in_mesh": 4, "not_answering": 1, "gateways": 4, "gateways_answered": 3}
    json.dumps(doc)  # the playbook writes it as JSON


def test_fleet_lines_is_one_aligned_row_per_gateway_and_the_totals():
    lines = gn.fleet_lines(gn.fleet({"gw01": gw({"null@l2tp": 2, "null": 1}, sessions=4), "gw02": None,
                                     "gw03": gw({}, up=False)}))
    assert lines == [
        "gateway  nodes  fastd  methods              offloaded  tunneldigger sessions  problems",
        "-" * 102,
        "gw01     7      3/4    null 1, null@l2tp 2  2          td0 4",
        "gw02     -      -      -                    -          -                      no answer",
        "gw03     0      -      -                    -          -                      fastd@mesh0 down",
        "-" * 102,
        "all 3    7      3/4    null 1, null@l2tp 2  2          4                      2 of 3 gateways answered",
    ]


# --- Prometheus -----------------------------------------------------------------------------

def test_prometheus_text_has_help_type_labels_in_a_stable_order(tmp_path):
    numbers = gn.host_numbers([gn.fastd_numbers("mesh1", None, error="gone"),
                               gn.fastd_numbers("mesh0", status(), offload_l2tp=True)],
                              [gn.broker_numbers("td0", broker_status(tmp_path), active=True)])
    assert gn.prometheus_text(numbers, "gw01", now=1700000000.5) == "".join(line + "\n" for line in [
        "# HELP freifunk_gateway_fastd_up 1 when the fastd instance's status socket answered, else 0.",
        "# TYPE freifunk_gateway_fastd_up gauge",
        'freifunk_gateway_fastd_up{fastd_instance="mesh0",gateway="gw01"} 1',
        'freifunk_gateway_fastd_up{fastd_instance="mesh1",gateway="gw01"} 0',
        "# HELP freifunk_gateway_fastd_peers Peers the fastd instance knows (configured, or connected "
        "through on verify).",
        "# TYPE freifunk_gateway_fastd_peers gauge",
        'freifunk_gateway_fastd_peers{fastd_instance="mesh0",gateway="gw01"} 3',
        "# HELP freifunk_gateway_fastd_peers_connected Peers with an established fastd session.",
        "# TYPE freifunk_gateway_fastd_peers_connected gauge",
        'freifunk_gateway_fastd_peers_connected{fastd_instance="mesh0",gateway="gw01"} 2',
        "# HELP freifunk_gateway_fastd_method_peers Connected fastd peers per method in use.",
        "# TYPE freifunk_gateway_fastd_method_peers gauge",
        'freifunk_gateway_fastd_method_peers{fastd_instance="mesh0",gateway="gw01",method="null@l2tp"} 1',
        'freifunk_gateway_fastd_method_peers{fastd_instance="mesh0",gateway="gw01",method="salsa2012+umac"} 1',
        "# HELP freifunk_gateway_fastd_peers_offloaded Peers connected with null@l2tp on an instance with "
        "L2TP offload: the kernel carries their data.",
        "# TYPE freifunk_gateway_fastd_peers_offloaded gauge",
        'freifunk_gateway_fastd_peers_offloaded{fastd_instance="mesh0",gateway="gw01"} 1',
        "# HELP freifunk_gateway_tunneldigger_up 1 when the broker's unit tunneldigger@BROKER is active, else 0.",
        "# TYPE freifunk_gateway_tunneldigger_up gauge",
        'freifunk_gateway_tunneldigger_up{broker="td0",gateway="gw01"} 1',
        "# HELP freifunk_gateway_tunneldigger_sessions L2TP sessions of the tunneldigger broker in the kernel.",
        "# TYPE freifunk_gateway_tunneldigger_sessions gauge",
        'freifunk_gateway_tunneldigger_sessions{broker="td0",gateway="gw01"} 2',
        "# HELP freifunk_gateway_tunneldigger_sessions_in_mesh Broker sessions whose interface is in the mesh.",
        "# TYPE freifunk_gateway_tunneldigger_sessions_in_mesh gauge",
        'freifunk_gateway_tunneldigger_sessions_in_mesh{broker="td0",gateway="gw01"} 1',
        "# HELP freifunk_gateway_tunneldigger_stale_records Session records of the broker without a kernel session.",
        "# TYPE freifunk_gateway_tunneldigger_stale_records gauge",
        'freifunk_gateway_tunneldigger_stale_records{broker="td0",gateway="gw01"} 0',
        "# HELP freifunk_gateway_metrics_timestamp_seconds When freifunk-gateway-metrics wrote these numbers "
        "(Unix time).",
        "# TYPE freifunk_gateway_metrics_timestamp_seconds gauge",
        'freifunk_gateway_metrics_timestamp_seconds{gateway="gw01"} 1700000000',
    ])


def test_label_values_are_escaped():
    assert gn.escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    numbers = gn.host_numbers([gn.fastd_numbers('we"ird', None, error="x")])
    assert 'freifunk_gateway_fastd_up{fastd_instance="we\\"ird",gateway="gw\\\\1"} 0' in \
        gn.prometheus_text(numbers, "gw\\1")


def test_a_host_without_instances_writes_an_empty_file_or_only_the_timestamp():
    assert gn.prometheus_text(gn.host_numbers(), "gw01") == ""
    assert gn.prometheus_text(gn.host_numbers(), "gw01", now=5).endswith(
        'freifunk_gateway_metrics_timestamp_seconds{gateway="gw01"} 5\n')


def test_a_broker_without_mesh_has_no_in_mesh_series_and_without_systemctl_no_up():
    numbers = gn.host_numbers(brokers=[gn.broker_numbers("td0", {"count": 1, "in_mesh_count": None, "stale": []})])
    text = gn.prometheus_text(numbers, "gw01")
    assert "sessions_in_mesh" not in text and "tunneldigger_up" not in text
    assert 'freifunk_gateway_tunneldigger_sessions{broker="td0",gateway="gw01"} 1' in text


# --- validation and the configuration ---------------------------------------------------------

@pytest.mark.parametrize("value", [60, "60", 10, 3600])
def test_good_intervals(value):
    assert gn.validate_interval(value) == []


@pytest.mark.parametrize("value", [9, 3601, "1m", None, True, 1.5])
def test_bad_intervals_name_the_variable_and_the_range(value):
    errors = gn.validate_interval(value)
    assert len(errors) == 1 and errors[0].startswith("metrics_interval must be an integer 10..3600")


@pytest.mark.parametrize("value", ["var/lib/x", "/", "/var/lib/../x", "/var/lib/x/", "/var/lib/my dir",
                                   "/var/lib/%i", None, 5])
def test_bad_directories(value):
    errors = gn.validate_directory(value)
    assert len(errors) == 1 and errors[0].startswith("metrics_textfile_directory")


def test_validate_config_reports_every_mistake_naming_its_key():
    errors = gn.validate_config({
        "hostname": "", "directory": "relative",
        "fastd": [{"name": "mesh0", "status_socket": "x.sock", "offload_l2tp": "yes"}, "mesh1"],
        "tunneldigger": [{"name": "td0", "tunnel_id_base": 0, "max_tunnels": 10, "mesh": None}]})
    assert [e.split(" ")[0].rstrip(":") for e in errors] == [
        "hostname", "directory", "fastd[0].status_socket", "fastd[0].offload_l2tp", "fastd[1]", "tunneldigger[0]"]
    assert "tunnel_id_base must be an integer" in errors[-1]


def test_config_has_the_present_instances_and_nothing_secret():
    cfg = gn.config("gw01", "/var/lib/prometheus/node-exporter",
                    [{"name": "mesh0", "status_socket": None, "state": "present", "secret": "s3cret",
                      "offload_l2tp": True},
                     {"name": "old", "state": "absent"}],
                    [{"name": "td0", "tunnel_id_base": 100, "max_tunnels": 64, "mesh": MESH, "state": "present"}])
    assert cfg == {"hostname": "gw01", "directory": "/var/lib/prometheus/node-exporter",
                   "fastd": [{"name": "mesh0", "status_socket": "/run/fastd/mesh0.sock", "offload_l2tp": True}],
                   "tunneldigger": [{"name": "td0", "tunnel_id_base": 100, "max_tunnels": 64, "mesh": MESH}]}
    assert gn.validate_config(cfg) == []
    assert "s3cret" not in json.dumps(cfg)


# --- reading a host: a real socket, the real ip ---------------------------------------------

class Server:
    """Answer each connection with the document, like fastd: write, close."""

    def __init__(self, path, document):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.document = document
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(self.document)

    def close(self):
        self.sock.close()


@pytest.fixture
def fastd_socket(tmp_path):
    with open(os.path.join(FIXTURES, "fastd_status_v23_multitap.json"), "rb") as handle:
        server = Server(tmp_path / "mesh0.sock", handle.read())
    yield str(tmp_path / "mesh0.sock")
    server.close()


def write_config(tmp_path, **cfg):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_main_writes_the_prom_file_atomically_from_a_real_socket(tmp_path, fastd_socket, capsys):
    out = tmp_path / "textfile"
    out.mkdir()
    path = write_config(tmp_path, hostname="gw01", directory=str(out), tunneldigger=[],
                        fastd=[{"name": "mesh0", "status_socket": fastd_socket, "offload_l2tp": True},
                               {"name": "mesh1", "status_socket": str(tmp_path / "none.sock")}])
    assert gn.main(["--config", path]) == 0
    assert os.listdir(str(out)) == ["freifunk_gateway.prom"]  # no temporary file left
    text = (out / "freifunk_gateway.prom").read_text()
    assert 'freifunk_gateway_fastd_peers_connected{fastd_instance="mesh0",gateway="gw01"} 2\n' in text
    assert 'freifunk_gateway_fastd_peers_offloaded{fastd_instance="mesh0",gateway="gw01"} 1\n' in text
    assert 'freifunk_gateway_fastd_up{fastd_instance="mesh1",gateway="gw01"} 0\n' in text
    assert stat.S_IMODE(os.stat(str(out / "freifunk_gateway.prom")).st_mode) == 0o644
    assert "none.sock does not exist" in capsys.readouterr().err


def test_main_print_and_the_real_ip_without_kernel_l2tp(tmp_path, capsys):
    # This machine's kernel may have no L2TP: ip then says so and the broker has 0 sessions.
    path = write_config(tmp_path, hostname="gw01", directory=str(tmp_path), fastd=[],
                        tunneldigger=[{"name": "td0", "tunnel_id_base": 100, "max_tunnels": 8, "mesh": None}])
    assert gn.main(["--config", path, "--print"]) == 0
    text = capsys.readouterr().out
    assert 'freifunk_gateway_tunneldigger_sessions{broker="td0",gateway="gw01"} ' in text
    assert not os.path.exists(str(tmp_path / "freifunk_gateway.prom"))


def test_main_refuses_a_bad_configuration_naming_every_key(tmp_path, capsys):
    path = write_config(tmp_path, hostname="gw01", directory="relative", fastd=[{"status_socket": 5}])
    assert gn.main(["--config", path]) == 1
    err = capsys.readouterr().err
    assert "directory must be an absolute folder" in err and "fastd[0].name" in err
    assert "fastd[0].status_socket" in err


def test_main_without_its_configuration(tmp_path, capsys):
    assert gn.main(["--config", str(tmp_path / "missing.json")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_read_brokers_with_recorded_ip_output(tmp_path):
    outputs = {"tunnel": (0, TUNNELS, ""), "session": (0, SESSIONS, "")}
    numbers = gn.read_brokers([{"name": "td0", "tunnel_id_base": 100, "max_tunnels": 1024, "mesh": MESH}],
                              run=outputs.get, active=lambda name: True, state_dir=str(tmp_path / "run"),
                              sysfs=sysfs_with(tmp_path, {"l2tp100-100": "bat0", "l2tp101-101": "bat0"}))
    assert numbers == [{"broker": "td0", "up": True, "error": None, "sessions": 2, "in_mesh": 2, "stale": 0}]


def test_read_brokers_reports_a_failing_ip_per_broker():
    numbers = gn.read_brokers([{"name": "td0", "tunnel_id_base": 100, "max_tunnels": 8}],
                              run=lambda what: (1, "", "Object \"l2tp\" is unknown"), active=lambda name: None)
    assert numbers[0]["sessions"] is None and "ip -j l2tp show tunnel failed" in numbers[0]["error"]


def test_write_atomically_replaces_and_leaves_nothing_behind_on_error(tmp_path):
    target = tmp_path / "x.prom"
    target.write_text("old\n")
    gn.write_atomically(str(target), "new\n")
    assert target.read_text() == "new\n"
    with pytest.raises(OSError):
        gn.write_atomically(str(tmp_path / "missing" / "x.prom"), "x")
    assert sorted(os.listdir(str(tmp_path))) == ["x.prom"]


# --- the node exporter's ARGS -----------------------------------------------------------------

DEBIAN_DEFAULTS = """\
# Set the command-line arguments to pass to the server.
# Due to shell escaping, to pass backslashes for regexes, you need to double
# them (\\\\d for \\d). If running under systemd, you need to double them again
# (\\\\\\\\d to mean \\d), and escape newlines too.
ARGS=""
"""


@pytest.mark.parametrize("text", [DEBIAN_DEFAULTS, "", None,
                                  'ARGS="--collector.textfile.directory=/var/lib/prometheus/node-exporter/"',
                                  'ARGS="--web.listen-address=:9100"\n# ARGS="--no-collector.textfile"'])
def test_the_exporter_reads_debians_folder(text):
    assert gn.exporter_errors(text, "/var/lib/prometheus/node-exporter") == []


def test_another_folder_in_args_must_be_the_roles():
    text = DEBIAN_DEFAULTS + 'ARGS="--collector.textfile.directory /srv/textfiles --collector.systemd"\n'
    assert gn.exporter_args(text) == ["--collector.textfile.directory", "/srv/textfiles", "--collector.systemd"]
    assert gn.exporter_errors(text, "/srv/textfiles") == []
    assert gn.exporter_errors(text, "/var/lib/prometheus/node-exporter") == [
        "metrics_textfile_directory is /var/lib/prometheus/node-exporter, but the node exporter reads "
        "/srv/textfiles (ARGS of /etc/default/prometheus-node-exporter); set metrics_textfile_directory: "
        "/srv/textfiles"]


def test_a_textfile_collector_that_is_off_is_refused():
    errors = gn.exporter_errors("ARGS='--no-collector.textfile'", "/var/lib/prometheus/node-exporter")
    assert len(errors) == 1 and "textfile collector is off" in errors[0]
