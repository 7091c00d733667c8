"""tunneldigger_status run as Ansible runs it, with stand-ins for ip and
systemctl on PATH (this host's kernel has no L2TP), a fake /sys/class/net
and session records under a temporary state_dir."""

import importlib.util
import os
import stat
import time

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger_status as td
from ansible_collections.freifunk.gateway.plugins.modules import tunneldigger_status

# The recorded ip outputs, records and fake /sys of the module_utils tests.
_spec = importlib.util.spec_from_file_location("tunneldigger_status_data", os.path.join(
    os.path.dirname(__file__), "..", "module_utils", "test_tunneldigger_status_utils.py"))
_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_data)
MESH, RECORD_100, SESSIONS_JSON, SESSIONS_TEXT, TUNNELS_JSON = (
    _data.MESH, _data.RECORD_100, _data.SESSIONS_JSON, _data.SESSIONS_TEXT, _data.TUNNELS_JSON)
sysfs, state_dir = _data.sysfs, _data.state_dir  # fixtures

# ip: serves the files in $FAKE_IP; "sessions" may list several outputs, one per call.
FAKE_IP = """#!/bin/sh
d=$FAKE_IP
echo "$*" >> "$d/calls"
[ "$1 $2 $3" = "-j l2tp show" ] || { echo "fake ip: unexpected $*" >&2; exit 2; }
if [ -f "$d/stderr" ]; then cat "$d/stderr" >&2; exit 1; fi
case $4 in
    tunnel) cat "$d/tunnel" ;;
    session)
        n=$(grep -c session "$d/calls")
        if [ -f "$d/session.$n" ]; then cat "$d/session.$n"; else cat "$d/session"; fi ;;
esac
"""
FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$FAKE_IP/systemctl"
[ "$1 $2" = "is-active tunneldigger@td0.service" ] && [ -f "$FAKE_IP/active" ] && { echo active; exit 0; }
echo inactive; exit 3
"""


@pytest.fixture
def fake(tmp_path, monkeypatch, sysfs):
    """The stand-ins; returns their folder, where tests put what ip prints."""
    bin_dir, data = tmp_path / "bin", tmp_path / "ip"
    bin_dir.mkdir()
    data.mkdir()
    for name, text in (("ip", FAKE_IP), ("systemctl", FAKE_SYSTEMCTL)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (data / "tunnel").write_text(TUNNELS_JSON)
    (data / "session").write_text(SESSIONS_JSON)
    (data / "active").write_text("")
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_IP", str(data))
    monkeypatch.setattr(td, "SYSFS_NET", sysfs)
    return data


def run(run_module, state_dir, check_mode=False, **args):
    args = dict(dict(instance="td0", tunnel_id_base=100, max_tunnels=1024, mesh=MESH,
                     state_dir=state_dir), **args)
    return run_module(tunneldigger_status, args, check_mode=check_mode)[0]


def test_reports_sessions(run_module, fake, state_dir):
    result = run(run_module, state_dir)
    assert not result["changed"] and "failed" not in result
    assert result["instance"] == "td0" and result["active"] is True
    assert (result["count"], result["in_mesh_count"], result["stale"]) == (3, 1, ["l2tp103-103"])
    assert [(s["interface"], s["uuid"], s["endpoint"], s["mtu"], s["in_mesh"]) for s in result["sessions"]] == [
        ("l2tp100-100", "0242ac110002", "198.51.100.7:41235", 1364, True),
        ("l2tp101-101", None, "203.0.113.20:53001", 1364, False),
        ("l2tp102-1", "6e6f64653032", "192.0.2.99:40000", 1364, False),
    ]
    assert result["sessions"][0]["since"] == 1732579200
    assert (fake / "calls").read_text() == "-j l2tp show tunnel\n-j l2tp show session\n"
    assert (fake / "systemctl").read_text() == "is-active tunneldigger@td0.service\n"


def test_check_mode_and_no_mesh(run_module, fake, state_dir):
    result = run(run_module, state_dir, check_mode=True, mesh=None)
    assert not result["changed"] and result["in_mesh_count"] is None
    assert [s["in_mesh"] for s in result["sessions"]] == [None, None, None]


def test_inactive_unit_and_no_records(run_module, fake, tmp_path):
    (fake / "active").unlink()
    result = run(run_module, str(tmp_path / "nothing"))
    assert result["active"] is False and result["stale"] == []
    assert [s["uuid"] for s in result["sessions"]] == [None, None, None]


def test_text_output_of_an_older_ip(run_module, fake, state_dir):
    (fake / "session").write_text(SESSIONS_TEXT)
    assert run(run_module, state_dir)["count"] == 3


def test_kernel_without_l2tp_netlink(run_module, fake, state_dir, monkeypatch):
    warned = []  # (where warnings go depends on whether controller code was imported in this process)
    monkeypatch.setattr(tunneldigger_status.AnsibleModule, "warn", lambda self, msg, **kw: warned.append(msg))
    # what iproute2 6.1 prints here, where the kernel has no L2TP
    (fake / "stderr").write_text("RTNETLINK answers: No such file or directory\nError talking to the kernel\n")
    result = run(run_module, state_dir)
    assert "failed" not in result and result["count"] == 0
    assert result["stale"] == ["l2tp100-100", "l2tp102-1", "l2tp103-103"]
    assert len(warned) == 1 and "l2tp_netlink not loaded" in warned[0]
    assert (fake / "calls").read_text() == "-j l2tp show tunnel\n"


def test_other_ip_failures_fail(run_module, fake, state_dir):
    (fake / "stderr").write_text("Dump terminated\n")
    result = run(run_module, state_dir)
    assert result["failed"] and result["msg"] == "ip -j l2tp show tunnel failed (rc 1): Dump terminated"


def test_garbage_from_ip_fails(run_module, fake, state_dir):
    (fake / "session").write_text("[{")
    result = run(run_module, state_dir)
    assert result["failed"] and result["msg"].startswith("ip -j l2tp show session printed no valid JSON")


def test_wait_for_polls_until_enough_sessions(run_module, fake, state_dir):
    (fake / "session.1").write_text("[]")
    (fake / "session.2").write_text(SESSIONS_JSON.replace('"l2tp100-100"', '"l2tp999-999"'))
    result = run(run_module, state_dir, timeout=20, wait_for={"sessions": 1})
    assert "failed" not in result and result["in_mesh_count"] == 1
    assert (fake / "calls").read_text().count("session") == 3


def test_wait_for_times_out_with_what_it_saw(run_module, fake, state_dir):
    start = time.monotonic()
    result = run(run_module, state_dir, timeout=1, wait_for={"sessions": 2})
    assert result["failed"] and 0.9 < time.monotonic() - start < 5
    assert result["msg"].startswith(
        "timed out after 1.0s waiting for 2 session(s) up and in bat0 of tunneldigger instance td0; "
        "saw 3 session(s), 1 ready: l2tp100-100 (up, in bat0); ")
    assert "l2tp102-1 (down, no master)" in result["msg"]
    assert result["count"] == 3 and result["active"] is True and len(result["sessions"]) == 3


def test_wait_for_with_timeout_0_checks_once(run_module, fake, state_dir):
    (fake / "active").unlink()
    result = run(run_module, state_dir, wait_for={"sessions": 5})
    assert result["failed"] and "timed out after 0.0s" in result["msg"]
    assert result["msg"].endswith("; unit tunneldigger@td0.service is not active")
    assert (fake / "calls").read_text().count("session") == 1


def test_wait_for_default_is_one_session(run_module, fake, state_dir):
    assert "failed" not in run(run_module, state_dir, wait_for={})


@pytest.mark.parametrize("args, msg", [
    ({"instance": "../x"}, "instance must be"),
    ({"max_tunnels": 0}, "max_tunnels must be an integer 1..4294967295, got 0"),
    ({"mesh": {"backend": "babel", "interface": "bat0"}}, "mesh.backend must be one of"),
    ({"wait_for": {"sessions": -1}}, "wait_for.sessions must be an integer >= 0"),
])
def test_bad_options_fail_before_anything_runs(run_module, fake, state_dir, args, msg):
    result = run(run_module, state_dir, **args)
    assert result["failed"] and result["msg"].startswith(msg)
    assert not (fake / "calls").exists()


def test_record_with_another_endpoint(run_module, fake, state_dir):
    with open(os.path.join(td.sessions_dir("td0", state_dir), "l2tp100-100"), "w") as f:
        f.write(RECORD_100.replace("endpoint_port=41235", "endpoint_port=41236"))
    result = run(run_module, state_dir)
    assert result["sessions"][0]["uuid"] is None and "l2tp100-100" in result["stale"]
