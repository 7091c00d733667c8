"""Tests for plugins/module_utils/preflight.py on this host: real UDP sockets
on loopback (127.0.0.1, ::1 and the wildcards, on ports the kernel picks),
the real /proc and, where it is installed and we are root, the real fastd
binary and a real TAP interface. Nothing is mocked."""

import errno
import fcntl
import ipaddress
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import preflight as p

PID = os.getpid()
with open("/proc/self/comm") as _handle:
    COMM = _handle.read().strip()


def has_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not has_ipv6(), reason="this host has no IPv6 on loopback")


def hold(address="127.0.0.1", port=0, v6only=None):
    """A UDP socket this test process holds on (address, port); port 0: the kernel picks one."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if v6only is not None:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
    sock.bind((address, port))
    return sock


def free_port():
    """A port no socket has on any address (as far as the kernel says right now)."""
    for _attempt in range(20):
        with hold("::" if has_ipv6() else "0.0.0.0", v6only=False) as sock:
            port = sock.getsockname()[1]
        if not any(s.port == port for s in p.udp_sockets()):
            return port
    raise AssertionError("no free port found")


def absent_ifname():
    name = "fpre%d" % (PID % 100000)
    assert not os.path.exists("/sys/class/net/" + name)
    return name


def inode(sock):
    return os.fstat(sock.fileno()).st_ino


def inst(port, bind=("127.0.0.1",), name="mesh0", **kwargs):
    return dict(name=name, port=port, bind=list(bind), mode="multitap", interface="fft-%k", **kwargs)


def check(instances, main_pids=None, **kwargs):
    return p.check_instances(instances, main_pids or {}, **kwargs)


# --- reading the host ---------------------------------------------------------

@pytest.mark.skipif(sys.byteorder != "little", reason="the sample is /proc text of a little-endian host")
def test_parse_proc_net_udp_text():
    text = (
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
        " 1: 0100007F:2710 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0\n"
        " 2: 00000000000000000000000001000000:2711 00000000000000000000000000000000:0000 07 00000000:00000000 "
        "00:00000000 00000000     0        0 4343 2 0000000000000000 0\n"
        " 3: 0000000000000000FFFF00000100007F:2712 00000000000000000000000000000000:0000 07 00000000:00000000 "
        "00:00000000 00000000     0        0 4444 2 0000000000000000 0\n"
        " 4: garbage\n")
    assert p.parse_proc_net_udp(text) == [
        p.Socket(ipaddress.ip_address("127.0.0.1"), 10000, 4242),
        p.Socket(ipaddress.ip_address("::1"), 10001, 4343),
        p.Socket(ipaddress.ip_address("127.0.0.1"), 10002, 4444),  # IPv4-mapped: as IPv4
    ]


def test_udp_sockets_lists_a_held_socket_with_its_inode():
    with hold() as sock:
        port = sock.getsockname()[1]
        assert p.Socket(ipaddress.ip_address("127.0.0.1"), port, inode(sock)) in p.udp_sockets()
    assert not any(s.port == port and s.inode == inode(sock) for s in p.udp_sockets())


@needs_ipv6
def test_udp_sockets_lists_ipv6_and_mapped_sockets():
    with hold("::1") as six, hold("::ffff:127.0.0.1", v6only=False) as mapped:
        found = p.udp_sockets()
        assert p.Socket(ipaddress.ip_address("::1"), six.getsockname()[1], inode(six)) in found
        assert p.Socket(ipaddress.ip_address("127.0.0.1"), mapped.getsockname()[1], inode(mapped)) in found


@needs_ipv6
def test_v6only_flags_tell_dual_stack_from_ipv6_only_sockets():
    with hold("::", v6only=True) as only, hold("::", v6only=False) as dual:
        flags = p.v6only_flags()
        if flags is None:
            pytest.skip("the kernel does not answer sock_diag requests here")
        assert flags[inode(only)] is True
        assert flags[inode(dual)] is False


def test_fd_holders_finds_this_process():
    with hold() as sock:
        number = inode(sock)
        sockets, taps = p.fd_holders([number])
    assert sockets == {number: [PID]} and taps == {}


def test_fd_holders_without_a_question_reads_nothing(tmp_path):
    assert p.fd_holders((), (), proc=str(tmp_path / "missing")) == ({}, {})


def test_process_name_and_main_pid():
    assert p.process_name(PID) == COMM
    assert p.process_name(2 ** 22 + 1) is None  # above any pid_max
    assert p.parse_main_pid("1234\n") == 1234
    for text in ("0\n", "", "[not set]", "-1", None):
        assert p.parse_main_pid(text) == 0


def test_interface_kind():
    assert p.interface_kind("lo") == "other"
    assert p.interface_kind(absent_ifname()) is None
    assert p.interface_kind("x" * 16) is None


def test_scope_exists():
    lo = socket.if_nametoindex("lo")
    assert p.scope_exists("lo", True) and p.scope_exists("lo", False)
    assert p.scope_exists(str(lo), True)  # fastd reads a number as an index for link-local
    assert not p.scope_exists(str(lo), False)  # and as a name otherwise
    assert not p.scope_exists(absent_ifname(), True)
    assert not p.scope_exists("99999999999999999999", True)


def test_bind_error(absent_address):
    assert p.bind_error(ipaddress.ip_address("127.0.0.1")) is None
    error = p.bind_error(ipaddress.ip_address(absent_address))
    assert error is not None and error.errno == errno.EADDRNOTAVAIL


# --- the rules ------------------------------------------------------------------

A = ipaddress.ip_address


@pytest.mark.parametrize("target, held, dual_stack, expected", [
    ("any", A("127.0.0.1"), False, True),
    ("any", A("::1"), False, True),
    ("any", A("0.0.0.0"), False, True),
    (A("127.0.0.1"), A("127.0.0.1"), False, True),
    (A("127.0.0.1"), A("127.0.0.2"), False, False),
    (A("127.0.0.1"), A("0.0.0.0"), False, True),
    (A("0.0.0.0"), A("192.0.2.1"), False, True),
    (A("127.0.0.1"), A("::1"), False, False),
    (A("127.0.0.1"), A("::"), False, False),  # an IPv6-only wildcard
    (A("127.0.0.1"), A("::"), True, True),  # a dual-stack wildcard, like fastd's any
    (A("0.0.0.0"), A("::"), True, True),
    (A("::1"), A("::"), False, True),
    (A("::"), A("2001:db8::1"), False, True),
    (A("::"), A("0.0.0.0"), False, False),  # fastd binds IPv6 addresses IPv6-only
    (A("::1"), A("127.0.0.1"), False, False),
    (A("2001:db8::1"), A("2001:db8::2"), False, False),
])
def test_collides(target, held, dual_stack, expected):
    assert p.collides(target, held, dual_stack) is expected


def test_blocking_leaves_out_the_free_pids():
    assert p.blocking([10, 20, 30], {20}) == [10, 30]
    assert p.blocking([20], {20, 40}) == []
    assert p.blocking([], set()) == []


# --- check_instances: ports -------------------------------------------------------

def test_a_free_port_passes():
    port = free_port()
    result = check([inst(port, ["any"])])
    assert result == dict(checked=["mesh0"], problems=[], warnings=[],
                          ports={"mesh0": [dict(address="any", port=port, holder=None)]})


def test_a_port_held_on_the_same_address_fails_naming_the_process():
    with hold() as sock:
        port = sock.getsockname()[1]
        result = check([inst(port, ["127.0.0.1"])])
    assert result["problems"] == [
        "fastd_instances[0].bind[0]: UDP port %d on 127.0.0.1 is already used by %s (pid %d), which holds "
        "127.0.0.1:%d; fastd could not start" % (port, COMM, PID, port)]
    assert result["ports"] == {"mesh0": [dict(address="127.0.0.1", port=port,
                                              holder=dict(pid=PID, comm=COMM, instance=None))]}


@pytest.mark.parametrize("bind", ["any", "0.0.0.0", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]"])
def test_any_a_wildcard_and_a_mapped_address_overlap_a_held_ipv4_port(bind):
    with hold() as sock:
        port = sock.getsockname()[1]
        result = check([inst(port, [bind])], var="site_instances")
    assert len(result["problems"]) == 1
    assert result["problems"][0].startswith(
        "site_instances[0].bind[0]: UDP port %d on %s is already used by %s (pid %d)" % (port, bind, COMM, PID))


def test_another_ipv4_address_does_not_overlap():
    with hold() as sock:
        port = sock.getsockname()[1]
        result = check([inst(port, ["127.0.0.2"])])  # all of 127/8 is local on Linux
    assert result["problems"] == []
    assert result["ports"]["mesh0"][0]["holder"] is None


@needs_ipv6
def test_the_other_family_does_not_overlap_but_any_does():
    with hold("::1") as sock:
        port = sock.getsockname()[1]
        four = check([inst(port, ["0.0.0.0"])])
        anywhere = check([inst(port, ["any"])])
    assert four["problems"] == []
    assert anywhere["problems"] == [
        "fastd_instances[0].bind[0]: UDP port %d on any is already used by %s (pid %d), which holds "
        "[::1]:%d; fastd could not start" % (port, COMM, PID, port)]


@needs_ipv6
def test_a_dual_stack_ipv6_wildcard_takes_ipv4_too():
    with hold("::", v6only=False) as sock:
        port = sock.getsockname()[1]
        result = check([inst(port, ["127.0.0.1"])])
    assert result["problems"] == [
        "fastd_instances[0].bind[0]: UDP port %d on 127.0.0.1 is already used by %s (pid %d), which holds "
        "[::]:%d for IPv4 and IPv6; fastd could not start" % (port, COMM, PID, port)]


@needs_ipv6
def test_an_ipv6_only_wildcard_leaves_ipv4_free():
    if p.v6only_flags() is None:
        pytest.skip("the kernel does not answer sock_diag requests here")
    with hold("::", v6only=True) as sock:
        port = sock.getsockname()[1]
        four = check([inst(port, ["127.0.0.1"])])
        six = check([inst(port, ["::1"])])
    assert four["problems"] == []
    assert len(six["problems"]) == 1 and "which holds [::]:%d;" % port in six["problems"][0]


def test_the_instance_own_process_counts_as_free():
    with hold() as sock:
        port = sock.getsockname()[1]
        result = check([inst(port, ["any"])], {"mesh0": PID})
    assert result["problems"] == []
    assert result["ports"]["mesh0"] == [dict(address="any", port=port,
                                             holder=dict(pid=PID, comm=COMM, instance="mesh0"))]


def test_a_retired_instance_counts_as_free_and_is_not_checked():
    with hold() as sock:
        port = sock.getsockname()[1]
        old = dict(name="old", port=port, state="absent", mode="tap", interface="lo")
        result = check([old, inst(port, ["127.0.0.1"])], {"old": PID})
        without = check([old, inst(port, ["127.0.0.1"])], {})
    assert result["checked"] == ["mesh0"] and result["problems"] == []
    assert list(result["ports"]) == ["mesh0"]
    assert len(without["problems"]) == 1 and without["problems"][0].startswith("fastd_instances[1].bind[0]: ")


def test_absent_items_need_only_a_name():
    result = check([dict(name="old", state="absent"), dict(state="absent", port="x")])
    assert result == dict(checked=[], problems=[], warnings=[], ports={})


def test_a_port_of_another_instance_names_it():
    with hold() as sock:
        port = sock.getsockname()[1]
        result = check([inst(port, ["any"]), inst(port + 1 if port < 65535 else 1, name="mesh1")],
                       {"mesh1": PID})
    assert result["problems"] == [
        "fastd_instances[0].bind[0]: UDP port %d on any is already used by fastd instance mesh1 "
        "(fastd_instances[1], pid %d), which holds 127.0.0.1:%d; fastd could not start" % (port, PID, port)]
    assert result["ports"]["mesh0"][0]["holder"] == dict(pid=PID, comm=COMM, instance="mesh1")


def test_the_port_may_come_as_a_string():
    with hold() as sock:
        port = sock.getsockname()[1]
        result = check([inst(str(port))])
    assert len(result["problems"]) == 1 and result["ports"]["mesh0"][0]["port"] == port


# --- check_instances: addresses ---------------------------------------------------

def test_an_address_the_host_lacks_fails_or_warns(absent_address):
    address = absent_address
    port = free_port()
    failed = check([inst(port, ["127.0.0.1", address])])
    warned = check([inst(port, ["127.0.0.1", address])], allow_missing_addresses=True)
    message = ("fastd_instances[0].bind[1]: %s is not an address of this host; fastd would start (it binds "
               "with IP_FREEBIND) but receive nothing there until the address is added" % address)
    assert failed["problems"] == [message + "; correct it, or allow addresses that are added later "
                                  "(allow_missing_addresses), for example by keepalived"]
    assert warned["problems"] == [] and warned["warnings"] == [message]


def test_a_missing_address_still_has_its_port_checked(absent_address):
    address = absent_address
    with hold("0.0.0.0") as sock:
        port = sock.getsockname()[1]
        result = check([inst(port, [address])], allow_missing_addresses=True)
    assert len(result["problems"]) == 1
    assert "UDP port %d on %s is already used by %s (pid %d)" % (port, address, COMM, PID) in result["problems"][0]


def test_link_local_needs_a_scope_and_the_scope_must_exist():
    name = absent_ifname()
    result = check([inst(free_port(), ["fe80::1", "[fe80::1%%%s]" % name, "fe80::1%99999999"])])
    assert result["problems"] == [
        "fastd_instances[0].bind[0]: fe80::1 is a link-local address and needs its interface as scope, "
        "e.g. fe80::1%eth0; fastd could not start (bind: invalid argument)",
        "fastd_instances[0].bind[1]: [fe80::1%%%s] names the interface %s, which does not exist on this host; "
        "fastd could not start (it binds to that interface); correct the scope after '%%' or create the "
        "interface first" % (name, name),
        "fastd_instances[0].bind[2]: fe80::1%99999999 names the interface index 99999999, which does not exist "
        "on this host; fastd could not start (it binds to that interface); correct the scope after '%' or "
        "create the interface first",
    ]


def test_the_scope_of_another_ipv6_address_is_an_interface_name():
    name = absent_ifname()
    result = check([inst(free_port(), ["2001:db8::1%" + name])], allow_missing_addresses=True)
    assert result["problems"] == [
        "fastd_instances[0].bind[0]: 2001:db8::1%%%s names the interface %s, which does not exist on this "
        "host; fastd could not start (it binds to that interface); correct the scope after '%%' or create "
        "the interface first" % (name, name)]


def test_the_scope_of_a_wildcard_must_exist_too():
    name = absent_ifname()
    result = check([inst(free_port(), ["[::%%%s]" % name, "[::%lo]"])])
    assert result["problems"] == [
        "fastd_instances[0].bind[0]: [::%%%s] names the interface %s, which does not exist on this host; "
        "fastd could not start (it binds to that interface); correct the scope after '%%' or create the "
        "interface first" % (name, name)]


@needs_ipv6
def test_loopback_addresses_and_wildcards_exist():
    result = check([inst(free_port(), ["127.0.0.1", "[::1]"])])
    assert result["problems"] == [] and result["warnings"] == []


# --- check_instances: one instance's own bind addresses ---------------------------

def test_overlapping_bind_addresses_of_one_instance():
    port = free_port()
    result = check([inst(port, ["any", "127.0.0.1", "0.0.0.0", "::"])])
    again = check([inst(port, ["127.0.0.1", "::1", "0.0.0.0", "[::1]"])])
    assert result["problems"] == [
        "fastd_instances[0].bind[1]: 127.0.0.1 overlaps fastd_instances[0].bind[0] (any) on UDP port %d ('any' "
        "takes the port on every IPv4 and IPv6 address); fastd binds each with its own socket and could not start"
        % port,
        "fastd_instances[0].bind[2]: 0.0.0.0 overlaps fastd_instances[0].bind[0] (any) on UDP port %d ('any' "
        "takes the port on every IPv4 and IPv6 address); fastd binds each with its own socket and could not start"
        % port,
        "fastd_instances[0].bind[3]: :: overlaps fastd_instances[0].bind[0] (any) on UDP port %d ('any' "
        "takes the port on every IPv4 and IPv6 address); fastd binds each with its own socket and could not start"
        % port,
    ]
    assert again["problems"] == [
        "fastd_instances[0].bind[2]: 0.0.0.0 overlaps fastd_instances[0].bind[0] (127.0.0.1) on UDP port %d; "
        "fastd binds each with its own socket and could not start" % port,
        "fastd_instances[0].bind[3]: [::1] overlaps fastd_instances[0].bind[1] (::1) on UDP port %d; "
        "fastd binds each with its own socket and could not start" % port,
    ]


def test_ipv4_and_ipv6_wildcards_of_one_instance_coexist():
    assert check([inst(free_port(), ["0.0.0.0", "::"])])["problems"] == []


# --- check_instances: tap interfaces ------------------------------------------------

def test_a_tap_interface_name_taken_by_another_interface_fails():
    result = check([dict(inst(free_port(), ["any"]), mode="tap", interface="lo")], {"mesh0": PID})
    assert result["problems"] == [
        "fastd_instances[0].interface: lo already exists on this host and is not a TAP interface; "
        "fastd could not start"]


def test_a_new_tap_interface_and_multitap_pass():
    port = free_port()
    result = check([dict(inst(port, ["any"]), mode="tap", interface=absent_ifname()),
                    dict(inst(port + 1 if port < 65535 else 1, ["127.0.0.1"], name="mesh1"), interface="lo")])
    assert result["problems"] == [] and result["checked"] == ["mesh0", "mesh1"]


TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000


@pytest.fixture
def tap():
    """A TAP interface this process has open (as fastd does in tap mode); it
    disappears when the file is closed."""
    name = absent_ifname()
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        pytest.skip("cannot open /dev/net/tun")
    with open("/dev/net/tun", "r+b", buffering=0) as handle:
        try:
            fcntl.ioctl(handle, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
        except OSError:
            pytest.skip("may not create a TAP interface")
        yield name


def test_a_tap_interface_another_process_has_open_fails(tap):
    assert p.interface_kind(tap) == "tap"
    assert p.fd_holders((), [tap]) == ({}, {tap: [PID]})
    port = free_port()
    result = check([dict(inst(port, ["any"]), mode="tap", interface=tap)])
    assert result["problems"] == [
        "fastd_instances[0].interface: TAP interface %s is already used by %s (pid %d); fastd could not start"
        % (tap, COMM, PID)]
    assert check([dict(inst(port, ["any"]), mode="tap", interface=tap)], {"mesh0": PID})["problems"] == []


# --- check_instances: what it cannot read -------------------------------------------

def test_items_it_cannot_read_are_reported():
    result = check([
        "mesh0",
        dict(name="a", state="gone"),
        dict(name="b"),
        dict(name="c", port=10000, bind="any"),
        dict(name="d", port=10000, bind=["any", "192.0.2.1:10000"]),
        dict(name="e", port=10000, mode="tap"),
        dict(name="", port=True, mode="tun"),
    ])
    assert result["checked"] == []
    assert result["problems"] == [
        "fastd_instances[0] must be a dict, got string 'mesh0'",
        "fastd_instances[1].state must be one of present, absent, got string 'gone'",
        "fastd_instances[2].port must be an integer 1..65535, got null",
        "fastd_instances[3].bind must be a non-empty list of addresses ('any', IPv4 or IPv6), got string 'any'",
        "fastd_instances[4].bind[1]: '192.0.2.1:10000' is not 'any' or an IP address (without port)",
        "fastd_instances[5].interface must be an interface name in tap mode, got null",
        "fastd_instances[6].name must be a non-empty string, got string ''",
        "fastd_instances[6].port must be an integer 1..65535, got boolean true",
        "fastd_instances[6].mode must be one of tap, multitap, got string 'tun'",
    ]
    assert check("mesh0")["problems"] == ["fastd_instances must be a list of instances, got string 'mesh0'"]


def test_problems_come_in_the_order_of_items_and_bind_addresses():
    with hold() as sock:
        port = sock.getsockname()[1]
        result = check([dict(name="x"), inst(port, ["fe80::1", "127.0.0.1"]),
                        dict(inst(free_port(), ["any"], name="mesh1"), mode="tap", interface="lo")])
    assert [m.split(" ")[0] for m in result["problems"]] == [
        "fastd_instances[0].port", "fastd_instances[1].bind[0]:", "fastd_instances[1].bind[1]:",
        "fastd_instances[2].interface:"]


# --- the real fastd ---------------------------------------------------------------------

SECRET = "f8a2832608f6a63a1bf5e70e515c37e1cb1d3550048a56aa532c0050fff16760"


@pytest.fixture
def fastd_any(tmp_path):
    """A real fastd 22+ bound to any:PORT (multitap, no peers), as (process, port)."""
    fastd = shutil.which("fastd")
    if fastd is None or os.geteuid() != 0 or not has_ipv6():
        pytest.skip("needs the fastd binary, root and IPv6")
    port = free_port()
    (tmp_path / "peers").mkdir()
    conf = tmp_path / "fastd.conf"
    conf.write_text('log level error;\nsecret "%s";\nmode multitap;\ninterface "fpt-%%k";\nmethod "null";\n'
                    'bind any:%d;\ninclude peers from "%s";\n' % (SECRET, port, tmp_path / "peers"))
    with subprocess.Popen([fastd, "--config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            deadline = time.monotonic() + 10
            while not any(s.port == port for s in p.udp_sockets()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("fastd did not bind: %s" % proc.stderr.read().decode(errors="replace"))
                time.sleep(0.05)
            yield proc, port
        finally:
            proc.kill()
            proc.wait()


def test_fastd_binds_any_as_one_dual_stack_ipv6_socket(fastd_any):
    proc, port = fastd_any
    sockets = [s for s in p.udp_sockets() if s.port == port]
    assert [s.address for s in sockets] == [ipaddress.ip_address("::")]
    flags = p.v6only_flags()
    if flags is not None:
        assert flags[sockets[0].inode] is False
    result = check([inst(port, ["127.0.0.1"])])
    assert result["problems"] == [
        "fastd_instances[0].bind[0]: UDP port %d on 127.0.0.1 is already used by fastd (pid %d), which holds "
        "[::]:%d for IPv4 and IPv6; fastd could not start" % (port, proc.pid, port)]
    # the instance itself, being restarted
    result = check([inst(port, ["127.0.0.1"])], {"mesh0": proc.pid})
    assert result["problems"] == []
    assert result["ports"]["mesh0"][0]["holder"] == dict(pid=proc.pid, comm="fastd", instance="mesh0")
