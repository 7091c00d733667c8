"""fastd_status against unix sockets: recorded documents served by a thread, and real fastd."""

import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from ansible_collections.freifunk.gateway.plugins.modules import fastd_status

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as handle:
        return handle.read()


class StatusServer:
    """Answer every connection with the next document, like fastd: write, close."""

    def __init__(self, path, *documents):
        self.path, self.documents, self.served = str(path), list(documents), 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                doc = self.documents[min(self.served, len(self.documents) - 1)]
                self.served += 1
                conn.sendall(doc)

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(*documents):
        server = StatusServer(tmp_path / ("s%d.sock" % len(servers)), *documents)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.close()


def status(run_module, **args):
    return run_module(fastd_status, args)[0]


def test_v22_multitap(run_module, serve):
    server = serve(fixture("fastd_status_v22_multitap.json"))
    result = status(run_module, socket=server.path)
    assert not result["changed"] and result["socket"] == server.path
    assert (result["count"], result["connected"]) == (3, 2)
    assert result["methods"] == {"salsa2012+umac": 1, "null@l2tp": 1}
    assert result["uptime"] == pytest.approx(17.707)
    assert [p["name"] for p in result["peers"]] == ["node1", "node2", None]
    assert result["peers"][0]["interface"] == "fft-84ddcfa9c88"
    assert "raw" not in result


def test_v23_multitap_with_raw(run_module, serve):
    doc = fixture("fastd_status_v23_multitap.json")
    server = serve(doc)
    result = status(run_module, socket=server.path, raw=True)
    assert [p["mtu"] for p in result["peers"]] == [1312, 1312, 1312]
    assert result["raw"] == json.loads(doc)


def test_tap_and_check_mode(run_module, serve):
    server = serve(fixture("fastd_status_v22_tap.json"))
    result = run_module(fastd_status, {"socket": server.path}, check_mode=True)[0]
    assert not result["changed"] and result["interface"] == "fft-b"
    assert result["peers"][0]["mac_addresses"] == ["36:bf:c0:56:05:7b"]


def test_wait_for_polls_until_enough_peers(run_module, serve):
    nobody = json.dumps({"uptime": 10, "statistics": {}, "peers": {}}).encode()
    server = serve(nobody, nobody, fixture("fastd_status_v22_multitap.json"))
    result = status(run_module, socket=server.path, timeout=10,
                    wait_for={"peers": 1, "method": "null@l2tp"})
    assert result["methods"]["null@l2tp"] == 1 and server.served == 3


@pytest.mark.parametrize("wait_for, seen", [
    ({"peers": 3}, "saw 2 connected"),
    ({"peers": 1, "method": "null"}, "using null; saw 2 connected"),
])
def test_wait_for_times_out_with_what_it_saw(run_module, serve, wait_for, seen):
    server = serve(fixture("fastd_status_v22_multitap.json"))
    start = time.monotonic()
    result = status(run_module, socket=server.path, timeout=1, wait_for=wait_for)
    assert result["failed"] and "timed out after 1.0s" in result["msg"] and seen in result["msg"]
    assert result["connected"] == 2
    assert 0.9 < time.monotonic() - start < 5


def test_wait_for_rejects_unknown_method(run_module, serve):
    server = serve(fixture("fastd_status_v22_multitap.json"))
    result = status(run_module, socket=server.path, wait_for={"method": "l2tp@null"})
    assert result["failed"] and result["msg"].startswith("wait_for.method[0]")
    assert server.served == 0


def test_missing_socket(run_module):
    result = status(run_module, instance="no-such-instance-for-tests")
    assert result["failed"]
    assert "/run/fastd/no-such-instance-for-tests.sock does not exist" in result["msg"]


def test_missing_socket_with_wait_for_times_out(run_module, tmp_path):
    result = status(run_module, socket=str(tmp_path / "x.sock"), timeout=0.5, wait_for={})
    assert result["failed"] and "timed out" in result["msg"] and "does not exist" in result["msg"]


def test_stale_socket_is_refused(run_module, tmp_path):
    path = str(tmp_path / "stale.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.close()  # the file stays, nobody listens: what a crashed fastd leaves
    result = status(run_module, socket=path)
    assert result["failed"] and "refused" in result["msg"]


@pytest.mark.parametrize("doc", [b"", b"<html>", b"[1, 2]"])
def test_garbage_is_reported(run_module, serve, doc):
    server = serve(doc)
    result = status(run_module, socket=server.path)
    assert result["failed"] and "no valid status document" in result["msg"]


@pytest.mark.parametrize("args", [{}, {"instance": "a", "socket": "/tmp/a.sock"}])
def test_instance_xor_socket(run_module, args):
    assert status(run_module, **args)["failed"]


# --- real fastd ------------------------------------------------------------

def can_run_fastd():
    return (shutil.which("fastd") and os.geteuid() == 0 and os.path.exists("/dev/net/tun"))


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keypair():
    secret = subprocess.run(["fastd", "--generate-key", "--machine-readable"], check=True,
                            stdout=subprocess.PIPE, text=True).stdout.strip()
    public = subprocess.run(["fastd", "--show-key", "--machine-readable", "--config", "-"],
                            input='secret "%s";' % secret, check=True, stdout=subprocess.PIPE,
                            text=True).stdout.strip()
    return secret, public


@pytest.mark.skipif(not can_run_fastd(), reason="needs fastd, root and /dev/net/tun")
def test_real_fastd_gateway_and_node(run_module, tmp_path):
    """A multitap gateway and a tap node on 127.0.0.1; wait until they connect."""
    (gw_secret, gw_public), (node_secret, node_public) = keypair(), keypair()
    gw_port, node_port, tag = free_udp_port(), free_udp_port(), "%05d" % (os.getpid() % 100000)
    (tmp_path / "peers").mkdir()
    (tmp_path / "peers" / "node1").write_text('key "%s";\n' % node_public)
    (tmp_path / "gw.conf").write_text(
        'secret "%s";\nmode multitap;\ninterface "ut%s%%k";\nbind 127.0.0.1:%d;\nmtu 1312;\n'
        'method "null@l2tp";\nmethod "salsa2012+umac";\ninclude peers from "%s";\n'
        'status socket "%s";\n' % (gw_secret, tag[-2:], gw_port, tmp_path / "peers",
                                   tmp_path / "gw.sock"))
    (tmp_path / "node.conf").write_text(
        'secret "%s";\nmode tap;\ninterface "utn%s";\nbind 127.0.0.1:%d;\nmtu 1312;\n'
        'method "salsa2012+umac";\npeer "gw" { key "%s"; remote 127.0.0.1:%d; }\n'
        % (node_secret, tag, node_port, gw_public, gw_port))
    procs = []
    try:
        for conf in ("gw.conf", "node.conf"):
            procs.append(subprocess.Popen(["fastd", "--config", str(tmp_path / conf)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            # The node's first handshake is lost if the gateway is not yet
            # listening, and fastd retries only after about 20 s: start the
            # node once the gateway answers on its status socket.
            if conf == "gw.conf":
                assert not status(run_module, socket=str(tmp_path / "gw.sock"),
                                  timeout=30, wait_for={"peers": 0}).get("failed")
        result = status(run_module, socket=str(tmp_path / "gw.sock"), timeout=60,
                        wait_for={"peers": 1, "method": "salsa2012+umac"})
        assert not result.get("failed"), result
        (node1,) = result["peers"]
        assert node1["name"] == "node1" and node1["key"] == node_public
        assert node1["address"] == "127.0.0.1:%d" % node_port
        assert node1["interface"] == ("ut%s%s" % (tag[-2:], node_public))[:15]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
