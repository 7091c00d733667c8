"""fastd_preflight on this host, in-process: real UDP sockets on loopback
held by this test, the real /proc. The instance names are ones no systemd
unit has, so no instance counts as running (what the own-process rule does
is tested in tests/unit/plugins/module_utils/test_preflight.py)."""

import os
import socket

import pytest
from ansible.module_utils import basic

from ansible_collections.freifunk.gateway.plugins.modules import fastd_preflight

PID = os.getpid()
with open("/proc/self/comm") as _handle:
    COMM = _handle.read().strip()
NAME = "preflight-test-%d" % PID


def held():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def instance(port, bind=("127.0.0.1",), **kwargs):
    return dict(dict(name=NAME, port=port, bind=list(bind), mode="multitap", interface="fft-%k"), **kwargs)


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_free_port_passes_and_changes_nothing(run_module, check_mode):
    port = free_port()
    result, _out = run_module(fastd_preflight, {"instances": [instance(port, ["127.0.0.1"])]},
                              check_mode=check_mode)
    assert not result.get("failed") and result["changed"] is False
    assert result["checked"] == [NAME] and result["problems"] == []
    assert result["ports"] == {NAME: [dict(address="127.0.0.1", port=port, holder=None)]}
    assert result["interfaces"] == sorted(os.listdir("/sys/class/net")) and "lo" in result["interfaces"]


def test_a_held_port_fails_naming_the_variable_and_the_process(run_module):
    with held() as sock:
        port = sock.getsockname()[1]
        result, _out = run_module(fastd_preflight, {"instances": [instance(port, ["any"])]})
    message = ("fastd_instances[0].bind[0]: UDP port %d on any is already used by %s (pid %d), which holds "
               "127.0.0.1:%d; fastd could not start" % (port, COMM, PID, port))
    assert result["failed"] and result["changed"] is False
    assert result["msg"] == message and result["problems"] == [message]
    assert result["ports"][NAME][0]["holder"] == dict(pid=PID, comm=COMM, instance=None)


def test_every_problem_is_one_line_of_the_message(run_module):
    with held() as sock:
        port = sock.getsockname()[1]
        result, _out = run_module(fastd_preflight, {
            "var": "gateway_fastd",
            "instances": [
                dict(name="old", state="absent"),
                instance(port, ["127.0.0.1", "fe80::1"]),
                instance(free_port(), ["any"], name=NAME + "-tap", mode="tap", interface="lo"),
            ]})
    assert result["failed"]
    assert result["checked"] == [NAME, NAME + "-tap"]
    assert result["msg"].split("\n") == result["problems"]
    assert [line.split(": ")[0] for line in result["problems"]] == [
        "gateway_fastd[1].bind[0]", "gateway_fastd[1].bind[1]", "gateway_fastd[2].interface"]


def test_absent_instances_are_not_checked(run_module):
    with held() as sock:
        port = sock.getsockname()[1]
        result, _out = run_module(fastd_preflight, {"instances": [
            dict(name="old", state="absent", port=port, bind=["127.0.0.1"], mode="tap", interface="lo")]})
    assert not result.get("failed")
    assert result["checked"] == [] and result["problems"] == [] and result["ports"] == {}


def test_a_missing_address_fails_unless_allowed(run_module, monkeypatch, absent_address):
    # module.warn() lands in the result or, once controller code is loaded
    # in this process (other tests), on the display: record the calls
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda _self, text: warned.append(text))
    address = absent_address
    args = {"instances": [instance(free_port(), [address])]}
    failed, _out = run_module(fastd_preflight, args)
    allowed, _out = run_module(fastd_preflight, dict(args, allow_missing_addresses=True))
    assert failed["failed"] and failed["msg"].startswith(
        "fastd_instances[0].bind[0]: %s is not an address of this host" % address)
    assert not allowed.get("failed") and allowed["problems"] == []
    assert warned == [failed["msg"].split("; correct it")[0]]


def test_instances_are_required(run_module):
    result, _out = run_module(fastd_preflight, {})
    assert result["failed"] and "instances" in result["msg"]


def test_items_it_cannot_read_fail(run_module):
    result, _out = run_module(fastd_preflight, {"instances": [dict(name=NAME, bind=["any"])]})
    assert result["failed"] and result["checked"] == []
    assert result["msg"] == "fastd_instances[0].port must be an integer 1..65535, got null"
