"""Tests for plugins/module_utils/tunneldigger_status.py: ip l2tp output,
session records, /sys/class/net and how they are joined.

The ``ip l2tp`` outputs are recorded from iproute2 6.1.0 on Debian 12's kernel
6.1.0 (the QEMU guest of tests/bed): tunnels 100-102 made like the broker
makes them (a UDP socket per tunnel bound to 10.0.2.15:10042 with
SO_REUSEPORT, connected to the node, handed to the kernel with
L2TP_ATTR_FD; tunnel 102 with session id 1 as for old clients), and tunnel
4009 standing for a fastd L2TP offload tunnel, outside the broker's ids.
"""

import os

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger_status as td

TUNNELS_JSON = (
    '[{"tunnel_id":100,"encap":"UDP","local":"10.0.2.15","peer":"198.51.100.7","peer_tunnel":7,'
    '"local_port":10042,"peer_port":41235,"checksum":true},'
    '{"tunnel_id":101,"encap":"UDP","local":"10.0.2.15","peer":"203.0.113.20","peer_tunnel":3,'
    '"local_port":10042,"peer_port":53001,"checksum":true},'
    '{"tunnel_id":102,"encap":"UDP","local":"10.0.2.15","peer":"192.0.2.99","peer_tunnel":9,'
    '"local_port":10042,"peer_port":40000,"checksum":true},'
    '{"tunnel_id":4009,"encap":"UDP","local":"10.0.2.15","peer":"198.51.100.50","peer_tunnel":4100,'
    '"local_port":10000,"peer_port":10000,"checksum":false}]\n')

TUNNELS_TEXT = """\
Tunnel 100, encap UDP
  From 10.0.2.15 to 198.51.100.7
  Peer tunnel 7
  UDP source / dest ports: 10042/41235
  UDP checksum: enabled
Tunnel 101, encap UDP
  From 10.0.2.15 to 203.0.113.20
  Peer tunnel 3
  UDP source / dest ports: 10042/53001
  UDP checksum: enabled
Tunnel 102, encap UDP
  From 10.0.2.15 to 192.0.2.99
  Peer tunnel 9
  UDP source / dest ports: 10042/40000
  UDP checksum: enabled
Tunnel 4009, encap UDP
  From 10.0.2.15 to 198.51.100.50
  Peer tunnel 4100
  UDP source / dest ports: 10000/10000
  UDP checksum: disabled
"""

SESSIONS_JSON = (
    '[{"session_id":100,"tunnel_id":100,"peer_session_id":7,"peer_tunnel_id":7,"interface":"l2tp100-100"},'
    '{"session_id":101,"tunnel_id":101,"peer_session_id":3,"peer_tunnel_id":3,"interface":"l2tp101-101"},'
    '{"session_id":1,"tunnel_id":102,"peer_session_id":1,"peer_tunnel_id":9,"interface":"l2tp102-1"},'
    '{"session_id":4009,"tunnel_id":4009,"peer_session_id":4100,"peer_tunnel_id":4100,'
    '"interface":"mesh-vpn-n1"}]\n')

SESSIONS_TEXT = """\
Session 100 in tunnel 100
  Peer session 7, tunnel 7
  interface name: l2tp100-100
  offset 0, peer offset 0

Session 101 in tunnel 101
  Peer session 3, tunnel 3
  interface name: l2tp101-101
  offset 0, peer offset 0

Session 1 in tunnel 102
  Peer session 1, tunnel 9
  interface name: l2tp102-1
  offset 0, peer offset 0

Session 4009 in tunnel 4009
  Peer session 4100, tunnel 4100
  interface name: mesh-vpn-n1
  offset 0, peer offset 0

"""

# ip -j -p (pretty) as printed for the same sessions: still JSON.
SESSIONS_PRETTY = """\
[ {
        "session_id": 100,
        "tunnel_id": 100,
        "peer_session_id": 7,
        "peer_tunnel_id": 7,
        "interface": "l2tp100-100"
    } ]
"""

TUNNEL_100 = {"tunnel_id": 100, "peer_tunnel_id": 7, "encap": "UDP", "local": "10.0.2.15",
              "peer": "198.51.100.7", "local_port": 10042, "peer_port": 41235}
SESSION_102 = {"tunnel_id": 102, "session_id": 1, "peer_tunnel_id": 9, "peer_session_id": 1,
               "interface": "l2tp102-1"}
MESH = {"backend": "batman_adv", "interface": "bat0", "hop_penalty": None, "isolated": None}


def record(**fields):
    return "".join("%s=%s\n" % kv for kv in fields.items())


RECORD_100 = record(instance="td0", interface="l2tp100-100", tunnel_id=100, session_id=100,
                    uuid="0242ac110002", endpoint_ip="198.51.100.7", endpoint_port=41235,
                    local_port=10042, broker_port=10042, mtu=1364, since=1732579200)
RECORD_102 = record(instance="td0", interface="l2tp102-1", tunnel_id=102, session_id=1,
                    uuid="6e6f64653032", endpoint_ip="192.0.2.99", endpoint_port=40000,
                    local_port=10042, broker_port=10042, mtu=1364, since=1732579260)
RECORD_103 = record(instance="td0", interface="l2tp103-103", tunnel_id=103, session_id=103,
                    uuid="de0000000103", endpoint_ip="198.51.100.30", endpoint_port=50000,
                    local_port=10042, broker_port=10042, mtu=1364, since=1732570000)


@pytest.fixture
def sysfs(tmp_path):
    """A /sys/class/net as the guest showed it: l2tp100-100 in bat0, l2tp101-101
    in a bridge, l2tp102-1 down and unattached, the fastd interface in bat0."""
    root = tmp_path / "sys" / "class" / "net"

    def link(name, operstate, flags, master=None, mtu=1364):
        path = root / name
        path.mkdir(parents=True)
        (path / "mtu").write_text("%d\n" % mtu)
        (path / "operstate").write_text(operstate + "\n")
        (path / "flags").write_text(flags + "\n")
        if master:
            os.symlink("../" + master, str(path / "master"))
    link("bat0", "unknown", "0x1003", mtu=1500)
    link("br-client", "up", "0x1003", mtu=1500)
    link("l2tp100-100", "unknown", "0x1003", "bat0")
    link("l2tp101-101", "unknown", "0x1303", "br-client")
    link("l2tp102-1", "down", "0x1002")
    link("mesh-vpn-n1", "unknown", "0x1003", "bat0")
    return str(root)


@pytest.fixture
def state_dir(tmp_path):
    """Records of instance td0: 100 and 102 (kernel sessions), 103 (stale),
    none for 101; the hook's temporary file and a stray folder are no records."""
    sessions = tmp_path / "run" / "td0" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "l2tp100-100").write_text(RECORD_100)
    (sessions / "l2tp102-1").write_text(RECORD_102)
    (sessions / "l2tp103-103").write_text(RECORD_103)
    (sessions / ".l2tp104-104.4242").write_text(record(uuid="half-written"))
    (sessions / "lost+found").mkdir()
    return str(tmp_path / "run")


# --- ip l2tp ----------------------------------------------------------------------

@pytest.mark.parametrize("text", [TUNNELS_JSON, TUNNELS_TEXT], ids=["json", "text"])
def test_parse_tunnels(text):
    tunnels = td.parse_tunnels(text)
    assert [t["tunnel_id"] for t in tunnels] == [100, 101, 102, 4009]
    assert tunnels[0] == TUNNEL_100
    assert tunnels[3]["peer"] == "198.51.100.50" and tunnels[3]["peer_tunnel_id"] == 4100


def test_json_and_text_say_the_same():
    assert td.parse_tunnels(TUNNELS_JSON) == td.parse_tunnels(TUNNELS_TEXT)
    assert td.parse_sessions(SESSIONS_JSON) == td.parse_sessions(SESSIONS_TEXT)


@pytest.mark.parametrize("text", [SESSIONS_JSON, SESSIONS_TEXT], ids=["json", "text"])
def test_parse_sessions(text):
    sessions = td.parse_sessions(text)
    assert [(s["tunnel_id"], s["session_id"], s["interface"]) for s in sessions] == [
        (100, 100, "l2tp100-100"), (101, 101, "l2tp101-101"), (102, 1, "l2tp102-1"),
        (4009, 4009, "mesh-vpn-n1")]
    assert sessions[2] == SESSION_102


def test_parse_pretty_json():
    assert td.parse_sessions(SESSIONS_PRETTY)[0]["interface"] == "l2tp100-100"


def test_parse_session_with_cookies_and_sequence_numbers():
    text = ("Session 5 in tunnel 5\n  Peer session 6, tunnel 6\n  interface name: l2tp5-5\n"
            "  offset 0, peer offset 0\n  cookie 01020304  peer cookie 0a0b0c0d0e0f1011\n"
            "  reorder timeout: 100\n  sequence numbering: send recv\n\n")
    assert td.parse_sessions(text) == [{"tunnel_id": 5, "session_id": 5, "peer_tunnel_id": 6,
                                        "peer_session_id": 6, "interface": "l2tp5-5"}]
    doc = ('[{"session_id":5,"tunnel_id":5,"peer_session_id":6,"peer_tunnel_id":6,"interface":"l2tp5-5",'
           '"cookie":"01020304","reorder_timeout":100,"send_seq":null,"recv_seq":null}]')
    assert td.parse_sessions(doc) == td.parse_sessions(text)


def test_parse_session_without_interface():
    assert td.parse_sessions("Session 9 in tunnel 9\n  Peer session 9, tunnel 9\n"
                             "  offset 0, peer offset 0\n\n")[0]["interface"] is None


def test_parse_tunnel_without_socket_addresses():
    # a tunnel the kernel knows no socket for prints "::" (IPv6 family by default) and no ports
    tunnels = td.parse_tunnels("Tunnel 7, encap IP\n  From :: to ::\n  Peer tunnel 8\n")
    assert tunnels == [{"tunnel_id": 7, "peer_tunnel_id": 8, "encap": "IP", "local": "::",
                        "peer": "::", "local_port": None, "peer_port": None}]


@pytest.mark.parametrize("text", ["", "\n", "[]", "[]\n"])
def test_no_tunnels(text):
    # ip -j prints [] without tunnels, plain ip nothing (checked in an empty network namespace)
    assert td.parse_tunnels(text) == [] and td.parse_sessions(text) == []


@pytest.mark.parametrize("text", ["[{", '{"tunnel_id": 1}', "[1, 2]", "RTNETLINK answers: nonsense\n"])
def test_garbage_is_refused(text):
    with pytest.raises(ValueError):
        td.parse_tunnels(text)


def test_no_l2tp_netlink():
    # what iproute2 6.1 prints without l2tp_netlink (checked on this host: the kernel has no L2TP)
    assert td.no_l2tp_netlink("RTNETLINK answers: No such file or directory\nError talking to the kernel\n")
    assert not td.no_l2tp_netlink("Dump terminated\n")


@pytest.mark.parametrize("address, port, text", [
    ("198.51.100.7", 41235, "198.51.100.7:41235"),
    ("2001:db8::1", 10042, "[2001:db8::1]:10042"),
    ("0.0.0.0", 10042, None), ("::", 10042, None),
    ("198.51.100.7", 0, None), ("198.51.100.7", None, None), (None, 1, None), ("nonsense", 1, None),
])
def test_endpoint(address, port, text):
    assert td.endpoint(address, port) == text


# --- records and sysfs ------------------------------------------------------------------

def test_parse_record():
    rec = td.parse_record("# written by freifunk-on-connect\n\n" + RECORD_100 + "junk line\n")
    assert rec == {"instance": "td0", "interface": "l2tp100-100", "tunnel_id": 100, "session_id": 100,
                   "uuid": "0242ac110002", "endpoint_ip": "198.51.100.7", "endpoint_port": 41235,
                   "local_port": 10042, "broker_port": 10042, "mtu": 1364, "since": 1732579200}
    assert td.parse_record("since=1732579200.5\nmtu=\nlocal_port=inf\n") == {
        "since": 1732579200, "mtu": None, "local_port": None}
    assert td.record_endpoint(rec) == "198.51.100.7:41235"


def test_read_records(state_dir):
    records = td.read_records(td.sessions_dir("td0", state_dir))
    assert sorted(records) == ["l2tp100-100", "l2tp102-1", "l2tp103-103"]
    assert records["l2tp102-1"]["uuid"] == "6e6f64653032"


def test_read_records_of_a_stopped_broker(tmp_path):
    assert td.read_records(str(tmp_path / "gone" / "sessions")) == {}


def test_read_interface(sysfs):
    assert td.read_interface("l2tp100-100", sysfs) == {
        "mtu": 1364, "operstate": "unknown", "up": True, "master": "bat0"}
    assert td.read_interface("l2tp101-101", sysfs)["master"] == "br-client"
    assert td.read_interface("l2tp102-1", sysfs) == {
        "mtu": 1364, "operstate": "down", "up": False, "master": None}
    assert td.read_interface("l2tp999-999", sysfs) == {
        "mtu": None, "operstate": None, "up": False, "master": None}
    assert td.read_interface("../../etc", sysfs)["mtu"] is None


def test_admin_down_is_down_whatever_operstate_says(sysfs):
    with open(os.path.join(sysfs, "l2tp100-100", "flags"), "w") as f:
        f.write("0x1002\n")
    assert td.read_interface("l2tp100-100", sysfs)["up"] is False


# --- the join -----------------------------------------------------------------------------

def status(state_dir, sysfs, **kw):
    """gather() on the recorded outputs, for instance td0 (ids 100..1123) in bat0,
    unless ``kw`` (mesh, base, max_tunnels, tunnels, sessions) says otherwise."""
    args = dict(mesh=MESH, base=100, max_tunnels=1024, tunnels=TUNNELS_JSON, sessions=SESSIONS_JSON)
    args.update(kw)
    return td.gather(args["tunnels"], args["sessions"], "td0", args["base"], args["max_tunnels"], args["mesh"],
                     state_dir, sysfs)


def test_gather_joins_kernel_records_and_sysfs(state_dir, sysfs):
    result = status(state_dir, sysfs)
    assert result["count"] == 3 and result["in_mesh_count"] == 1
    assert result["stale"] == ["l2tp103-103"]
    s100, s101, s102 = result["sessions"]
    assert s100 == {"interface": "l2tp100-100", "tunnel_id": 100, "session_id": 100,
                    "uuid": "0242ac110002", "endpoint": "198.51.100.7:41235", "mtu": 1364,
                    "up": True, "operstate": "unknown", "master": "bat0", "in_mesh": True,
                    "since": 1732579200}
    # no record: reported, uuid null, endpoint from the kernel
    assert s101["uuid"] is None and s101["since"] is None
    assert s101["endpoint"] == "203.0.113.20:53001"
    assert s101["master"] == "br-client" and s101["in_mesh"] is False and s101["up"]
    assert (s102["session_id"], s102["uuid"], s102["up"], s102["master"], s102["in_mesh"]) == (
        1, "6e6f64653032", False, None, False)


@pytest.mark.parametrize("tunnels, sessions", [(TUNNELS_TEXT, SESSIONS_TEXT), (TUNNELS_JSON, SESSIONS_TEXT)])
def test_gather_reads_text_output_the_same(state_dir, sysfs, tunnels, sessions):
    assert status(state_dir, sysfs, tunnels=tunnels, sessions=sessions) == status(state_dir, sysfs)


def test_fastd_offload_tunnel_outside_the_range_is_not_ours(state_dir, sysfs):
    interfaces = [s["interface"] for s in status(state_dir, sysfs)["sessions"]]
    assert "mesh-vpn-n1" not in interfaces
    # the range is tunnel_id_base .. tunnel_id_base + max_tunnels - 1
    assert [s["tunnel_id"] for s in status(state_dir, sysfs, base=101, max_tunnels=1)["sessions"]] == [101]
    assert [s["tunnel_id"] for s in status(state_dir, sysfs, base=4000, max_tunnels=10)["sessions"]] == [4009]


def test_records_outside_the_range_are_stale(state_dir, sysfs):
    result = status(state_dir, sysfs, base=101, max_tunnels=1)
    assert result["stale"] == ["l2tp100-100", "l2tp102-1", "l2tp103-103"]


def test_without_mesh_in_mesh_is_null(state_dir, sysfs):
    result = status(state_dir, sysfs, mesh=None)
    assert result["in_mesh_count"] is None
    assert [s["in_mesh"] for s in result["sessions"]] == [None, None, None]
    assert [s["master"] for s in result["sessions"]] == ["bat0", "br-client", None]


def test_bridge_mesh(state_dir, sysfs):
    result = status(state_dir, sysfs, mesh={"backend": "bridge", "interface": "br-client"})
    assert [s["in_mesh"] for s in result["sessions"]] == [False, True, False]
    assert result["in_mesh_count"] == 1


def test_record_of_an_earlier_tunnel_with_the_same_id_is_stale(state_dir, sysfs):
    # the broker reused tunnel id 100 for another node; its down hook never ran
    path = os.path.join(td.sessions_dir("td0", state_dir), "l2tp100-100")
    with open(path, "w") as f:
        f.write(RECORD_100.replace("198.51.100.7", "198.51.100.8"))
    result = status(state_dir, sysfs)
    s100 = result["sessions"][0]
    assert s100["uuid"] is None and s100["since"] is None
    assert s100["endpoint"] == "198.51.100.7:41235"
    assert result["stale"] == ["l2tp100-100", "l2tp103-103"]


def test_endpoint_falls_back_to_the_record(state_dir, sysfs):
    # the tunnel vanished between the two ip commands, or reports no addresses
    result = status(state_dir, sysfs, tunnels="[]")
    assert [s["endpoint"] for s in result["sessions"]] == ["198.51.100.7:41235", None, "192.0.2.99:40000"]
    assert result["sessions"][0]["uuid"] == "0242ac110002"


def test_session_whose_interface_is_gone(state_dir, sysfs):
    os.rename(os.path.join(sysfs, "l2tp100-100"), os.path.join(sysfs, "gone"))
    s100 = status(state_dir, sysfs)["sessions"][0]
    assert (s100["mtu"], s100["up"], s100["operstate"], s100["master"], s100["in_mesh"]) == (
        None, False, None, None, False)


def test_session_without_interface_or_tunnel_id(state_dir, sysfs):
    sessions = ('[{"session_id":5,"tunnel_id":105,"peer_session_id":5,"peer_tunnel_id":5},'
                '{"session_id":6,"peer_session_id":6,"peer_tunnel_id":6,"interface":"l2tp106-6"}]')
    result = status(state_dir, sysfs, sessions=sessions)
    assert [(s["interface"], s["tunnel_id"], s["up"], s["in_mesh"]) for s in result["sessions"]] == [
        (None, 105, False, False)]


def test_no_kernel_sessions_makes_every_record_stale(state_dir, sysfs):
    result = status(state_dir, sysfs, tunnels="", sessions="")
    assert result == {"sessions": [], "count": 0, "in_mesh_count": 0,
                      "stale": ["l2tp100-100", "l2tp102-1", "l2tp103-103"]}


# --- wait_for -----------------------------------------------------------------------------

def test_count_ready(state_dir, sysfs):
    assert td.count_ready(status(state_dir, sysfs), MESH) == 1
    # without a mesh, up and recorded is enough: l2tp101-101 is up but has no record
    assert td.count_ready(status(state_dir, sysfs, mesh=None), None) == 1


def test_session_in_the_mesh_without_record_is_not_ready(state_dir, sysfs):
    # the hook attaches first and records last: in bat0 but not yet recorded means
    # the hook has not finished, and wait_for must not return on it
    os.unlink(os.path.join(state_dir, "td0", "sessions", "l2tp100-100"))
    result = status(state_dir, sysfs)
    s100 = result["sessions"][0]
    assert (s100["in_mesh"], s100["uuid"]) == (True, None)
    assert td.count_ready(result, MESH) == 0
    assert "l2tp100-100 (up, in bat0, no record: the hook has not finished)" in \
        td.timeout_message("td0", result, True, 1, 5.0, MESH)


def test_timeout_message_names_what_was_seen(state_dir, sysfs):
    msg = td.timeout_message("td0", status(state_dir, sysfs), False, 2, 5.0, MESH)
    assert msg == (
        "timed out after 5.0s waiting for 2 session(s) up and in bat0 of tunneldigger instance td0; "
        "saw 3 session(s), 1 ready: l2tp100-100 (up, in bat0); "
        "l2tp101-101 (up, master br-client, not in the mesh, no record: the hook has not finished); "
        "l2tp102-1 (down, no master); "
        "stale records (no kernel session): l2tp103-103; unit tunneldigger@td0.service is not active")


def test_timeout_message_without_sessions(tmp_path, sysfs):
    result = td.gather("", "", "td0", 100, 10, None, str(tmp_path), sysfs)
    assert td.timeout_message("td0", result, True, 1, 0.0, None) == (
        "timed out after 0.0s waiting for 1 session(s) up of tunneldigger instance td0; "
        "saw 0 session(s), 0 ready")


@pytest.mark.parametrize("session, text", [
    ({"up": True, "master": "bat0", "in_mesh": True}, "up, in bat0"),
    ({"up": True, "master": "bat0", "in_mesh": None}, "up, master bat0"),
    ({"up": True, "master": "br-x", "in_mesh": False}, "up, master br-x, not in the mesh"),
    ({"up": False, "master": None, "in_mesh": False}, "down, no master"),
])
def test_session_state(session, text):
    assert td.session_state(session) == text


# --- options ------------------------------------------------------------------------------

def test_valid_options():
    assert td.validate_options("td0", 100, 1024, MESH, 0, 1) == []
    assert td.validate_options("mtu-1364.v2", 1, 2 ** 32 - 1, None, 60.5, None) == []


@pytest.mark.parametrize("args, error", [
    (("../etc", 100, 10), "instance must be 1-64 letters"),
    (("", 100, 10), "instance must be"),
    (("td0", 0, 10), "tunnel_id_base must be an integer 1..4294967295, got 0"),
    (("td0", 100, 0), "max_tunnels must be an integer 1..4294967295, got 0"),
    (("td0", 2 ** 32 - 10, 20), "tunnel_id_base + max_tunnels - 1 must be at most 4294967295"),
    (("td0", 100, 10, {"backend": "batman_adv", "interface": "bat0", "bogus": 1}), "mesh: unknown keys bogus"),
    (("td0", 100, 10, None, -1), "timeout must be 0 or more seconds"),
    (("td0", 100, 10, None, 0, -1), "wait_for.sessions must be an integer >= 0, got -1"),
])
def test_invalid_options(args, error):
    errors = td.validate_options(*args)
    assert len(errors) == 1 and errors[0].startswith(error), errors


def test_paths():
    assert td.sessions_dir("td0") == "/run/tunneldigger/td0/sessions"
    assert td.unit_name("td0") == "tunneldigger@td0.service"
    assert [t for t in (99, 100, 101, 102, 103, None, "100") if td.is_ours(t, 100, 3)] == [100, 101, 102]
