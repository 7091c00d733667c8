"""gateway_numbers against a real Unix socket serving a recorded fastd
document, and the real ``ip`` of this machine."""

import os
import socket
import threading

import pytest

from ansible_collections.freifunk.gateway.plugins.modules import gateway_numbers

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")


@pytest.fixture
def fastd_socket(tmp_path):
    with open(os.path.join(FIXTURES, "fastd_status_v22_multitap.json"), "rb") as handle:
        document = handle.read()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "mesh0.sock"))
    sock.listen(4)

    def serve():
        while True:
            try:
                conn, _addr = sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(document)
    threading.Thread(target=serve, daemon=True).start()
    yield str(tmp_path / "mesh0.sock")
    sock.close()


def test_numbers_of_an_instance_and_one_that_does_not_answer(run_module, fastd_socket, tmp_path):
    result, _out = run_module(gateway_numbers, {"fastd": [
        {"name": "mesh0", "status_socket": fastd_socket, "offload_l2tp": True},
        {"name": "gone", "status_socket": str(tmp_path / "gone.sock")}]})
    assert not result["changed"] and "failed" not in result
    assert result["fastd"][0] == {"instance": "gone", "up": False, "peers": None, "connected": None,
                                  "methods": {}, "offloaded": None,
                                  "error": "status socket %s does not exist: is the fastd instance running, "
                                           "with `status socket` in its config?" % (tmp_path / "gone.sock")}
    assert result["fastd"][1] == {"instance": "mesh0", "up": True, "error": None, "peers": 3, "connected": 2,
                                  "methods": {"null@l2tp": 1, "salsa2012+umac": 1}, "offloaded": 1}
    assert result["totals"]["nodes"] == 2 and result["totals"]["not_answering"] == 1


def test_a_broker_is_read_with_the_real_ip(run_module):
    result, _out = run_module(gateway_numbers, {"tunneldigger": [
        {"name": "td0", "tunnel_id_base": 100, "max_tunnels": 8, "mesh": None}]})
    broker = result["tunneldigger"][0]
    # no broker runs on the machine of the tests: no session of its ids
    assert broker["broker"] == "td0" and broker["sessions"] == 0 and broker["in_mesh"] is None


def test_bad_options_are_refused_all_at_once(run_module):
    result, _out = run_module(gateway_numbers, {
        "fastd": [{"name": "mesh0", "status_socket": "relative.sock"}],
        "tunneldigger": [{"name": "td/0", "tunnel_id_base": 0, "max_tunnels": 8}]})
    assert result["failed"]
    assert "fastd[0].status_socket must be an absolute path" in result["msg"]
    assert "tunneldigger[0]: instance must be" in result["msg"]
    assert "tunneldigger[0]: tunnel_id_base must be" in result["msg"]
