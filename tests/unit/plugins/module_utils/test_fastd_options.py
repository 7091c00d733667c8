"""fastd options real configurations use (log_level, hide_mac_addresses,
status_socket, secret_name), the refusals of removed and test methods, of a
multitap interface without placeholder, of too few %k digits, and of binds
of one instance that overlap; each fact fastd decides is checked against
the real fastd binary."""

import os
import shutil
import socket
import subprocess
import time

import pytest

from ansible_collections.freifunk.gateway.plugins.filter import fastd as flt
from ansible_collections.freifunk.gateway.plugins.filter import fastd_files
from ansible_collections.freifunk.gateway.plugins.module_utils import fastd as f
from ansible_collections.freifunk.gateway.plugins.module_utils import preflight
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_status import validate_status_socket

SECRET = "f8a2832608f6a63a1bf5e70e515c37e1cb1d3550048a56aa532c0050fff16760"
OTHER_SECRET = "e8a2832608f6a63a1bf5e70e515c37e1cb1d3550048a56aa532c0050fff16760"


def inst(**kw):
    base = dict(name="mesh0", port=10000, interface="mesh0-%k")
    base.update(kw)
    return base


def errors(*instances):
    return f.validate_instances(list(instances))


# --- log_level, hide_mac_addresses -------------------------------------------------------

def test_log_levels_are_fastds_most_severe_first():
    assert f.LOG_LEVELS == ("fatal", "error", "warn", "info", "verbose", "debug", "debug2")


@pytest.mark.parametrize("level", f.LOG_LEVELS)
def test_fastd_accepts_every_log_level(fastd_verify, level):
    assert errors(inst(log_level=level)) == []
    assert fastd_verify("log level %s;" % level)[0] == 0


def test_an_unknown_log_level_is_refused_and_fastd_agrees(fastd_verify):
    assert errors(inst(log_level="critical")) == [
        "fastd_instances[0].log_level must be one of fatal, error, warn, info, verbose, debug, debug2, "
        "got string 'critical'"]
    assert fastd_verify("log level critical;")[0] != 0


def test_hide_mac_addresses_is_a_boolean_fastd_knows(fastd_verify):
    assert errors(inst(hide_mac_addresses=True)) == []
    assert fastd_verify("hide mac addresses yes;")[0] == 0
    assert errors(inst(hide_mac_addresses="yes")) == [
        "fastd_instances[0].hide_mac_addresses must be a boolean (true or false), got string 'yes' "
        "(write true or false without quotes)"]


# --- methods fastd removed, and its test methods -------------------------------------------

@pytest.mark.parametrize("method", sorted(f.REMOVED_METHODS))
def test_a_removed_method_says_when_and_what_instead(fastd_verify, method):
    removed = f.REMOVED_METHODS[method]
    (message,) = f.validate_methods([method], "m")
    assert message.startswith("m[0]: %r was removed in fastd v%d; use " % (method, removed["release"]))
    assert "did you mean" not in message
    for replacement in removed["use"]:
        assert "'%s'" % replacement in message
        assert f.METHODS[replacement]["security"] == "encrypted"
    rc, out = fastd_verify('method "%s";' % method)
    assert rc != 0 and "not supported" in out
    assert f.validate_methods(list(removed["use"])) == []


def test_xsalsa20_poly1305_is_refused_in_these_words():
    assert f.validate_methods(["xsalsa20-poly1305"], "fastd_instances[0].methods") == [
        "fastd_instances[0].methods[0]: 'xsalsa20-poly1305' was removed in fastd v19; use 'salsa20+poly1305' "
        "or 'salsa2012+umac' instead (as safe: encrypted and authenticated), and let the nodes offer it too"]


@pytest.mark.parametrize("method, instead", [
    ("salsa2012+cipher-test", "salsa2012+umac"),
    ("aes128-ctr+cipher-test", "aes128-ctr+umac"),
    ("null+cipher-test", "salsa2012+umac"),
])
def test_test_methods_are_refused_with_their_reason(fastd_verify, method, instead):
    (message,) = f.validate_methods([method], "m")
    assert message.startswith("m[0]: %r is fastd's test method" % method)
    assert "Debian's fastd is built without it" in message
    assert message.endswith("use '%s' instead" % instead)
    rc, out = fastd_verify('method "%s";' % method)
    assert rc != 0 and "not supported" in out  # Debian's build (meson option method_cipher-test)


# --- interface ------------------------------------------------------------------------------

def test_a_multitap_name_without_placeholder_is_refused_though_fastd_accepts_it(fastd_verify):
    assert errors(inst(interface="mesh-vpn")) == [
        "fastd_instances[0].interface: 'mesh-vpn' has no placeholder: fastd accepts it in multitap mode but "
        "ignores the name, and the kernel names the per-peer interfaces tap0, tap1, ...; add %k (peer key) or "
        "%n (peer name), e.g. 'fft-%k', or use mode: tap for one interface called 'mesh-vpn'"]
    assert errors(inst(interface="vpn"))[0].endswith("e.g. 'vpn-%k', or use mode: tap for one interface "
                                                     "called 'vpn'")
    rc, _out = fastd_verify("")  # the fixture's config is multitap
    assert rc == 0
    conf_rc, out = fastd_verify('interface "mesh-vpn";')
    assert conf_rc == 0, out


@pytest.mark.parametrize("digits, at_1000, at_10000", [
    (6, "2.9 %", "95 %"), (7, "0.19 %", "17 %"), (8, "0.012 %", "1.2 %"), (9, "0.00073 %", "0.073 %"),
])
def test_the_clash_arithmetic(digits, at_1000, at_10000):
    assert f._percent(f.clash_chance(1000, digits)) == at_1000
    assert f._percent(f.clash_chance(10000, digits)) == at_10000


def test_too_few_key_digits_say_the_chance_of_a_clash():
    assert f.MIN_KEY_DIGITS == 8
    assert f.validate_interface("ffmesh1-%k", "multitap", "i") == [
        "i: 'ffmesh1-%k' keeps only 7 hex digits of the key after truncation to 15 characters: two of 1,000 "
        "peers would get the same interface name with a chance of 0.19 %, two of 10,000 with 17 % (the second "
        "could not connect); use at most 7 characters before %k (8 digits: 0.012 % and 1.2 %)"]
    assert f.validate_interface("ffmesh-%k", "multitap", "i") == []


# --- status_socket ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    None, "/run/fastd/mesh0.sock", "/run/fastd-status/mesh0.sock", "/run/fastd/mon/x@1.sock",
    "/run/ff/" + "x" * 99,
])
def test_good_status_sockets(path):
    assert validate_status_socket(path, "s") == []


@pytest.mark.parametrize("path, message", [
    ("", "s must be an absolute path such as /run/fastd/mesh0.sock, got string ''"),
    (5, "s must be an absolute path such as /run/fastd/mesh0.sock, got 5"),
    ("run/fastd/a.sock", "s: 'run/fastd/a.sock' must be an absolute path of letters, digits and "
     "'_ . @ + - /' only (no spaces, '%' or control characters), e.g. /run/fastd-status/mesh0.sock"),
    ("/run/fastd/a b.sock", "s: '/run/fastd/a b.sock' must be an absolute path of letters"),
    ("/run/fastd/%i.sock", "s: '/run/fastd/%i.sock' must be an absolute path of letters"),
    ("/run/fastd/a.sock\n", "s: '/run/fastd/a.sock\\n' must be an absolute path of letters"),
    ("/run/fastd/", "s: '/run/fastd/' names a folder; name the socket file in it, e.g. '/run/fastd/mesh0.sock'"),
    ("/run/fastd//a.sock", "s: '/run/fastd//a.sock' is not a file path in its shortest form (no '.', '..', "
     "'//' or trailing '/'); write '/run/fastd/a.sock'"),
    ("/run/fastd/../a.sock", "s: '/run/fastd/../a.sock' is not a file path in its shortest form"),
    ("/run/fastd/.", "s: '/run/fastd/.' is not a file path in its shortest form"),
    ("/run/f/" + "x" * 101, "has 108 bytes; a Unix socket path has at most 107"),
    ("/run/fastd/a.sock.lock", "s: '/run/fastd/a.sock.lock' ends in .lock or .pending"),
    ("/run/fastd/mesh0.pending", "s: '/run/fastd/mesh0.pending' ends in .lock or .pending"),
    ("/run/a.sock", "s: '/run/a.sock' must be in /run/fastd or in a folder of its own under /run"),
    ("/var/run/fastd.sock", "s: '/var/run/fastd.sock' must be in /run/fastd or in a folder of its own"),
    ("/tmp/fastd/a.sock", "s: '/tmp/fastd/a.sock' must be in /run/fastd or in a folder of its own"),
    ("/run/user/0/a.sock", "s: '/run/user/0/a.sock' must be in /run/fastd or in a folder of its own"),
    ("/run/systemd/a.sock", "must be in /run/fastd or in a folder of its own"),
])
def test_bad_status_sockets(path, message):
    (error,) = validate_status_socket(path, "s")
    assert message in error


def test_status_sockets_are_one_per_instance():
    assert errors(inst(status_socket="/run/ff/a.sock"),
                  inst(name="mesh1", port=10001, interface="mesh1-%k", status_socket="/run/ff/a.sock"),
                  inst(name="mesh2", port=10002, interface="mesh2-%k", status_socket="/run/fastd/mesh0.sock"),
                  inst(name="old", state="absent", status_socket="/run/ff/a.sock")) == [
        "fastd_instances[1].status_socket: /run/ff/a.sock is already the status socket of fastd_instances[0]; "
        "every instance needs one of its own (fastd locks it and fails: \"status socket already in use\")"]
    # mesh0's default path, taken by mesh2 above, is free: mesh0 chose another one
    assert errors(inst(), inst(name="mesh1", port=10001, interface="mesh1-%k",
                               status_socket="/run/fastd/mesh0.sock"))[0].startswith(
        "fastd_instances[1].status_socket: /run/fastd/mesh0.sock is already the status socket of "
        "fastd_instances[0]")


def test_the_normalized_instance_and_the_role_follow_the_status_socket():
    chosen, default = flt.fastd_instances_normalized([
        inst(status_socket="/run/fastd-status/mesh0.sock"), inst(name="mesh1", port=10001, interface="m1-%k")])
    assert chosen["status_socket"] == "/run/fastd-status/mesh0.sock"
    assert default["status_socket"] == "/run/fastd/mesh1.sock"
    assert chosen["pending_file"] == "/run/fastd/mesh0.pending"
    retired = dict(default, name="x", state="absent", status_socket="/run/zz/x.sock")
    assert fastd_files.fastd_socket_dirs([chosen, default, retired]) == ["/run/fastd", "/run/fastd-status"]
    assert fastd_files.fastd_socket_dirs([default]) == ["/run/fastd"]


def test_real_fastd_serves_a_status_socket_where_it_is_told(tmp_path):
    fastd = shutil.which("fastd")
    if fastd is None:
        pytest.skip("needs the fastd binary")
    sock = tmp_path / "status" / "mesh0.sock"
    sock.parent.mkdir()
    (tmp_path / "peers").mkdir()
    conf = tmp_path / "fastd.conf"
    conf.write_text('log level error;\nsecret "%s";\nmode multitap;\ninterface "fst-%%k";\nmethod "null";\n'
                    'bind 127.0.0.1:%d;\nhide mac addresses yes;\nstatus socket "%s";\ninclude peers from "%s";\n'
                    % (SECRET, _free_port(), sock, tmp_path / "peers"))
    with subprocess.Popen([fastd, "--config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            while not sock.exists():
                assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
                time.sleep(0.05)
            # fastd puts its lock file beside the socket: the folder must be writable
            assert (tmp_path / "status" / "mesh0.sock.lock").exists()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.connect(str(sock))
                assert b'"peers"' in client.makefile("rb").read()
        finally:
            proc.kill()
            proc.wait()


# --- secret_name -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gw01", "gw01.example", "k_1-2", "a" * 63])
def test_good_secret_names(name):
    assert f.validate_secret_name(name, "s") == []


@pytest.mark.parametrize("name", ["", ".hidden", "../x", "a/b", "a b", "a" * 64, 5, True, "gw\n"])
def test_bad_secret_names(name):
    (error,) = f.validate_secret_name(name, "fastd_instances[0].secret_name")
    assert error.startswith("fastd_instances[0].secret_name must be a key name: 1-63 letters")


def test_sharing_instances_must_give_one_secret_which_is_never_shown():
    good = errors(inst(secret_name="gw", secret=SECRET),
                  inst(name="mesh1", port=10001, interface="mesh1-%k", secret_name="gw"),
                  inst(name="mesh2", port=10002, interface="mesh2-%k", secret_name="gw", secret=SECRET.upper()))
    assert good == []
    bad = errors(inst(secret_name="gw", secret=SECRET),
                 inst(name="mesh1", port=10001, interface="mesh1-%k", secret_name="gw", secret=OTHER_SECRET),
                 inst(name="mesh2", port=10002, interface="mesh2-%k", secret_name="other", secret=OTHER_SECRET))
    assert bad == [
        "fastd_instances[1].secret differs from fastd_instances[0].secret, but both instances have secret_name "
        "'gw' and so share one key; give the same secret, or leave it out in all but one"]
    assert SECRET not in str(bad) and OTHER_SECRET not in str(bad)


def test_sharing_instances_use_one_key_file_generated_once():
    instances = [inst(secret_name="gw"),
                 inst(name="mesh1", port=10001, interface="mesh1-%k", secret_name="gw", secret=SECRET),
                 inst(name="mesh2", port=10002, interface="mesh2-%k"),
                 inst(name="gone", state="absent")]
    normalized = flt.fastd_instances_normalized(instances)
    assert [i["secret_file"] for i in normalized[:3]] == [
        "/etc/fastd/secrets.d/gw.key", "/etc/fastd/secrets.d/gw.key", "/etc/fastd/mesh2/secret.conf"]
    files = fastd_files.fastd_secret_files(normalized)
    assert files == [
        dict(path="/etc/fastd/secrets.d/gw.key", instances=["mesh0", "mesh1"], secret_from="mesh1"),
        dict(path="/etc/fastd/mesh2/secret.conf", instances=["mesh2"], secret_from=None)]
    assert SECRET not in str(files)
    # the secret is looked up by the instance that gives it
    assert flt.fastd_instance_secret(instances, files[0]["secret_from"]) == SECRET
    results = [dict(item=files[0], public_key="a" * 64, changed=True),
               dict(item=files[1], public_key=None, changed=False)]
    assert fastd_files.fastd_public_keys(results) == {"mesh0": "a" * 64, "mesh1": "a" * 64, "mesh2": None}


def test_the_file_filters_refuse_what_they_cannot_read():
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match="expects the instances from fastd_instances_normalized"):
        fastd_files.fastd_secret_files([inst()])
    with pytest.raises(AnsibleFilterError, match="a result without its loop item"):
        fastd_files.fastd_public_keys([{"public_key": "x"}])
    with pytest.raises(AnsibleFilterError, match="expects the results of a loop"):
        fastd_files.fastd_public_keys({"results": []})


# --- binds of one instance ----------------------------------------------------------------------

# (bind a, bind b, overlap): what the real fastd 22 does with both in one instance
PAIRS = [
    ("any", "0.0.0.0", True), ("any", "::", True), ("any", "any", True), ("any", "127.0.0.1", True),
    ("any", "[::1%lo]", True),
    ("0.0.0.0", "::", False), ("127.0.0.1", "::", False), ("::1", "127.0.0.1", False),
    ("127.0.0.1", "127.0.0.1", True), ("127.0.0.1", "0.0.0.0", True), ("::1", "::", True),
    ("::1", "[::1]", True), ("[::1%lo]", "::1", True), ("[::1%lo]", "[::1%lo]", True),
    ("[::%lo]", "127.0.0.1", False),
    ("[::1%lo]", "[::1%eth0]", False), ("[::%lo]", "[::%eth0]", False),
]


@pytest.mark.parametrize("a, b, overlap", PAIRS)
def test_binds_of_one_instance(a, b, overlap):
    found = errors(inst(bind=[a, b]))
    assert bool(found) is overlap, found
    if overlap:
        assert found[0].startswith("fastd_instances[0].bind[1]: %s overlaps fastd_instances[0].bind[0] (%s): "
                                   % (b, a))
        assert found[0].endswith("fastd binds each with its own socket, so it would fail at start with "
                                 "\"Address already in use\"; keep only one of them")
    # the host check agrees, for a caller that skipped the controller's
    owned = preflight._own_collisions([(a, "x"), (b, "x")], 10000, "i")
    assert bool(owned) is overlap


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _udp_sockets_on(port):
    return [s for s in preflight.udp_sockets() if s.port == port]


@pytest.mark.parametrize("a, b, overlap", [p for p in PAIRS if "eth0" not in p[0] + p[1]])
def test_real_fastd_fails_exactly_on_the_overlapping_binds(tmp_path, a, b, overlap):
    """fastd binds each bind line with its own socket and exits when one
    fails: it either exits or ends up holding two sockets on the port."""
    fastd = shutil.which("fastd")
    if fastd is None or os.geteuid() != 0 or not socket.has_ipv6 or not os.path.exists("/proc/net/udp6"):
        pytest.skip("needs the fastd binary, root and IPv6")
    port = _free_port()
    (tmp_path / "peers").mkdir()
    conf = tmp_path / "fastd.conf"
    binds = "".join("bind %s;\n" % flt.fastd_bind(x, port) for x in (a, b))
    conf.write_text('log level error;\nsecret "%s";\nmode multitap;\ninterface "fpt-%%k";\nmethod "null";\n%s'
                    'include peers from "%s";\n' % (SECRET, binds, tmp_path / "peers"))
    with subprocess.Popen([fastd, "--config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            while proc.poll() is None and len(_udp_sockets_on(port)) < 2:
                time.sleep(0.02)
            failed = proc.poll() is not None
            message = proc.stderr.read().decode(errors="replace") if failed else ""
        finally:
            proc.kill()
            proc.wait()
    assert failed is overlap, message
    if failed:
        assert "unable to bind" in message
