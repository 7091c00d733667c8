# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What can be checked on a gateway before a new fastd configuration replaces
the running one: the things ``fastd --verify-config`` accepts but that stop
fastd when it starts, while it binds its sockets and opens its interface.

Used by the fastd_preflight module. Everything is read from the host as it
is (/proc, /sys, the socket API); nothing is changed and no packet is sent.
Each problem is one message naming the variable (``fastd_instances[0].bind[1]``).

How fastd 22 binds (src/socket.c ``bind_socket``, and checked by running the
fastd 22 binary on 127.0.0.1 and ::1 next to sockets held by Python):

* ``any`` is one IPv6 socket on ``[::]:PORT`` with IPV6_V6ONLY off, which
  takes the port on every IPv4 and IPv6 address (``ss`` shows it as
  ``*:PORT``; it is listed in /proc/net/udp6 only). Without IPv6 in the
  kernel, fastd falls back to ``0.0.0.0:PORT``.
* An IPv4 address gets an IPv4 socket; an IPv6 address (``::`` included) an
  IPv6 socket with IPV6_V6ONLY on. So ``::`` and ``0.0.0.0`` on the same port
  coexist, but ``any`` and any other address on the same port do not: fastd
  binds each ``bind`` line with its own socket, and when one bind fails the
  process exits ("unable to bind to any:PORT"), also within one instance.
* An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is bound as IPv4.
* Every socket gets IP_FREEBIND, so an address the host lacks does NOT stop
  fastd: it starts and listens on an address nobody can reach (until the
  address is added, which is what IP_FREEBIND is for, e.g. keepalived).
* A link-local address needs a scope: without one the bind fails (EINVAL);
  its scope is an interface name or index and must exist (if_nametoindex).
  Any other IPv6 address with a scope is bound to that interface by name
  (SO_BINDTODEVICE), which fails when the interface does not exist.
* In tap mode fastd opens the interface with TUNSETIFF at start: that fails
  when the name belongs to an interface that is not a TAP interface
  (EINVAL) or to a TAP interface another process has open (EBUSY). A
  persistent TAP interface nobody has open is taken over.

The Linux rules for a UDP port held by another socket (without
SO_REUSEADDR, which fastd does not set before bind): equal addresses
collide, a wildcard collides with every address of its family, and an IPv6
wildcard socket with IPV6_V6ONLY off also with every IPv4 address.
/proc/net/udp6 does not say whether a socket is IPv6-only; the kernel's
sock_diag netlink interface does (what ``ss`` uses), else the default
(net.ipv6.bindv6only) is assumed.
"""

from __future__ import annotations

import collections
import errno
import ipaddress
import os
import socket
import struct
import sys

from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import MODES, binds_overlap, parse_bind
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import INSTANCE_STATES as STATES
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import as_int, describe, int_errors

PROC = "/proc"
SYS_CLASS_NET = "/sys/class/net"
UNIT = "fastd@%s.service"  # Debian's template unit

ANY = "any"
V6_ANY = ipaddress.IPv6Address("::")

# Bits of /sys/class/net/NAME/tun_flags (linux/if_tun.h)
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_MULTI_QUEUE = 0x0100

# sock_diag (linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h)
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x0001 | 0x0300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, seq, pid
_INET_DIAG_REQ = struct.Struct("=BBBBI48x")  # family, protocol, ext, pad, states, id (zero)
_INET_DIAG_MSG_LEN = 72  # struct inet_diag_msg, followed by attributes
_INET_DIAG_INODE = 68  # offset of idiag_inode in it
_INET_DIAG_SKV6ONLY = 11

Socket = collections.namedtuple("Socket", "address port inode")
Socket.__doc__ = """A UDP socket of the host: its local ``address`` (an
ipaddress object; an IPv4-mapped IPv6 address as IPv4), ``port`` and the
``inode`` that /proc/PID/fd links name (``socket:[INODE]``)."""


# --- the host: sockets, processes, interfaces ------------------------------

def _unmapped(address):
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_proc_net_udp(text):
    """The sockets listed in the text of /proc/net/udp or /proc/net/udp6.

    Addresses are hex words in the host's byte order (``0100007F:2710`` is
    127.0.0.1:10000 on little-endian hosts), the inode is the 10th field."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        host, _sep, port = fields[1].rpartition(":")
        if len(host) not in (8, 32):
            continue
        try:
            raw = b"".join(int(host[i:i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(host), 8))
            sockets.append(Socket(_unmapped(ipaddress.ip_address(raw)), int(port, 16), int(fields[9])))
        except ValueError:
            continue
    return sockets


def udp_sockets(proc=PROC):
    """Every UDP socket of the host (its network namespace), IPv4 and IPv6."""
    sockets = []
    for name in ("udp", "udp6"):
        try:
            with open(os.path.join(proc, "net", name)) as handle:
                sockets.extend(parse_proc_net_udp(handle.read()))
        except OSError:  # no IPv6 in this kernel
            continue
    return sockets


def _diag_messages(data):
    """(type, body) of each netlink message in ``data``."""
    offset = 0
    while offset + _NLMSG_HEADER.size <= len(data):
        length, kind = _NLMSG_HEADER.unpack_from(data, offset)[:2]
        if length < _NLMSG_HEADER.size:
            return
        yield kind, data[offset + _NLMSG_HEADER.size:offset + length]
        offset += (length + 3) & ~3


def _v6only_attribute(body):
    offset = _INET_DIAG_MSG_LEN
    while offset + 4 <= len(body):
        length, kind = struct.unpack_from("=HH", body, offset)
        if length < 4:
            break
        if kind == _INET_DIAG_SKV6ONLY and length >= 5:
            return bool(body[offset + 4])
        offset += (length + 3) & ~3
    return None


def v6only_flags(timeout=5.0):
    """{inode: IPV6_V6ONLY} of the host's IPv6 UDP sockets, as the kernel's
    sock_diag interface reports it, or None when it cannot be asked."""
    request = _INET_DIAG_REQ.pack(socket.AF_INET6, socket.IPPROTO_UDP, 0, 0, 0xFFFFFFFF)
    header = _NLMSG_HEADER.pack(_NLMSG_HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY,
                                _NLM_F_REQUEST_DUMP, 1, 0)
    flags = {}
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as netlink:
            netlink.settimeout(timeout)
            netlink.sendto(header + request, (0, 0))
            while True:
                data = netlink.recv(65536)
                if not data:
                    return None
                for kind, body in _diag_messages(data):
                    if kind == _NLMSG_DONE:
                        return flags
                    if kind == _NLMSG_ERROR or len(body) < _INET_DIAG_MSG_LEN:
                        return None
                    v6only = _v6only_attribute(body)
                    if v6only is not None:
                        flags[struct.unpack_from("=I", body, _INET_DIAG_INODE)[0]] = v6only
    except (OSError, AttributeError, struct.error):  # AttributeError: no AF_NETLINK
        return None


def default_v6only(proc=PROC):
    """net.ipv6.bindv6only: whether IPv6 sockets are IPv6-only unless they say otherwise."""
    try:
        with open(os.path.join(proc, "sys", "net", "ipv6", "bindv6only")) as handle:
            return handle.read().strip() == "1"
    except OSError:
        return False


def _pids(proc):
    try:
        return sorted(int(e.name) for e in os.scandir(proc) if e.name.isdigit())
    except OSError:
        return []


def _tap_name(proc, pid, fd):
    try:
        with open(os.path.join(proc, str(pid), "fdinfo", fd)) as handle:
            for line in handle:
                key, _sep, value = line.partition(":")
                if key == "iff":
                    return value.strip()
    except OSError:
        pass
    return None


def _netns(proc, pid):
    try:
        return os.readlink(os.path.join(proc, str(pid), "ns", "net"))
    except OSError:
        return None


def _same_netns(proc, pid, netns):
    """Interface names are per network namespace: a TAP interface of the
    same name that a process in a container has open is another one."""
    return netns is None or _netns(proc, pid) in (None, netns)


def fd_holders(inodes=(), tap_names=(), proc=PROC):
    """Which processes hold the sockets ``inodes`` and which have the TAP
    interfaces ``tap_names`` open: ({inode: [pid, ...]}, {name: [pid, ...]}).

    Reads the /proc/PID/fd links (``socket:[INODE]``, ``/dev/net/tun``, whose
    fdinfo names the interface in its ``iff:`` line; only processes of this
    network namespace count for interfaces); processes it may not read (not
    root) or that end meanwhile are skipped. Does nothing when nothing is
    asked."""
    wanted = {"socket:[%d]" % i: i for i in inodes}
    taps = set(tap_names)
    sockets, interfaces = {}, {}
    if not wanted and not taps:
        return sockets, interfaces
    netns = _netns(proc, "self")
    for pid in _pids(proc):
        fd_dir = os.path.join(proc, str(pid), "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target in wanted:
                holders = sockets.setdefault(wanted[target], [])
                if pid not in holders:
                    holders.append(pid)
            elif taps and target == "/dev/net/tun" and _same_netns(proc, pid, netns):
                name = _tap_name(proc, pid, fd)
                if name in taps and pid not in interfaces.setdefault(name, []):
                    interfaces[name].append(pid)
    return sockets, interfaces


def process_name(pid, proc=PROC):
    """The ``comm`` of process ``pid`` (what ps shows), or None."""
    try:
        with open(os.path.join(proc, str(pid), "comm")) as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def parse_main_pid(text):
    """The MainPID from ``systemctl show -P MainPID UNIT``; 0 (not running) for anything else."""
    number = as_int(text.strip()) if isinstance(text, str) else None
    return number if number and number > 0 else 0


def interface_kind(name, sys_class_net=SYS_CLASS_NET):
    """None when the host has no interface ``name``, else ``tap``,
    ``multiqueue-tap``, ``tun`` or ``other``."""
    try:
        socket.if_nametoindex(name)
    except (OSError, ValueError):
        return None
    try:
        with open(os.path.join(sys_class_net, name, "tun_flags")) as handle:
            flags = int(handle.read().strip(), 16)
    except (OSError, ValueError):
        return "other"
    if not flags & IFF_TAP:
        return "tun"
    return "multiqueue-tap" if flags & IFF_MULTI_QUEUE else "tap"


def scope_exists(scope, link_local):
    """Whether the scope of an IPv6 bind address names an interface of the
    host. fastd reads the scope of a link-local address as an interface
    index when it is a number, otherwise (and for every other address) as
    an interface name."""
    try:
        if link_local and scope.isdigit():
            socket.if_indextoname(int(scope))
        else:
            socket.if_nametoindex(scope)
    except (OSError, OverflowError, ValueError):
        return False
    return True


def bind_error(address, scope=None):
    """None when a socket can be bound to ``address`` (port 0: the kernel
    picks one, nothing is sent), else the OSError; EADDRNOTAVAIL means the
    host lacks the address. fastd's own sockets set IP_FREEBIND; this probe
    does not, to find out whether the address exists."""
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            if address.version == 4:
                probe.bind((str(address), 0))
            else:
                index = 0
                if scope is not None and address.is_link_local:
                    index = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind((str(address), 0, 0, index))
    except OSError as exc:
        return exc
    return None


# --- the rules ---------------------------------------------------------------

def collides(target, held, dual_stack=False):
    """Whether fastd binding ``target`` (``'any'`` or an address) on a port
    collides with a socket bound to ``held`` on the same port.

    ``dual_stack``: whether ``held``, when it is the IPv6 wildcard, takes IPv4
    too (IPV6_V6ONLY off), as fastd's own ``any`` socket does."""
    if target == ANY or held == ANY:
        return True
    if target.version != held.version:
        return target.version == 4 and held == V6_ANY and dual_stack
    return target == held or target.is_unspecified or held.is_unspecified


def blocking(holders, free_pids):
    """The processes of ``holders`` that keep a port or interface taken:
    all but ``free_pids``, the MainPIDs of the instance itself (it stops
    before it starts with the new configuration) and of the instances
    retired in the same run."""
    return [pid for pid in holders if pid not in free_pids]


def _holder_text(pid, proc, instances):
    if pid in instances:
        name, ivar = instances[pid]
        return "fastd instance %s (%s, pid %d)" % (name, ivar, pid)
    comm = process_name(pid, proc)
    return "%s (pid %d)" % (comm, pid) if comm else "pid %d" % pid


def _endpoint(sock, dual_stack):
    if sock.address.version == 4:
        return "%s:%d" % (sock.address, sock.port)
    text = "[%s]:%d" % (sock.address, sock.port)
    if sock.address == V6_ANY and dual_stack:
        text += " for IPv4 and IPv6"
    return text


def _nobody_text():
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "the kernel (no process holds the socket: a tunnel such as WireGuard, VXLAN or L2TP)"
    return "a process this check may not look at (run it as root)"


def _target(value):
    """(address for collides, scope, error) of a bind item: fastd binds an
    IPv4-mapped IPv6 address as IPv4."""
    try:
        parsed = parse_bind(value)
    except ValueError as exc:
        return None, None, str(exc)
    if parsed == ANY:
        return ANY, None, None
    address, scope = parsed
    return _unmapped(address), scope, None


def _instance_errors(inst, ivar):
    """Problems with the keys this check reads, so it can read them."""
    errors = []
    if not isinstance(inst.get("name"), str) or not inst.get("name"):
        errors.append("%s.name must be a non-empty string, got %s" % (ivar, describe(inst.get("name"))))
    errors.extend(int_errors(inst.get("port"), ivar + ".port", 1, 65535))
    mode = inst.get("mode", "multitap")
    if not isinstance(mode, str) or mode not in MODES:
        errors.append("%s.mode must be one of %s, got %s" % (ivar, ", ".join(MODES), describe(mode)))
    elif mode == "tap" and (not isinstance(inst.get("interface"), str) or not inst.get("interface")):
        errors.append("%s.interface must be an interface name in tap mode, got %s"
                      % (ivar, describe(inst.get("interface"))))
    binds = inst.get("bind", [ANY])
    if not isinstance(binds, list) or not binds:
        errors.append("%s.bind must be a non-empty list of addresses ('any', IPv4 or IPv6), got %s"
                      % (ivar, describe(binds)))
    else:
        for index, value in enumerate(binds):
            error = _target(value)[2]
            if error:
                errors.append("%s.bind[%d]: %s" % (ivar, index, error))
    return errors


def _address_problem(value, address, scope, bvar):
    """(message, missing) for a bind address fastd cannot use, else (None, False).
    ``missing``: the host lacks the address (fastd would still start)."""
    if address == ANY:
        return None, False
    if address.version == 6 and address.is_link_local and scope is None:
        return ("%s: %s is a link-local address and needs its interface as scope, e.g. %s%%eth0; "
                "fastd could not start (bind: invalid argument)" % (bvar, value, address)), False
    if scope is not None and not scope_exists(scope, address.is_link_local):
        what = "index %s" % scope if address.is_link_local and scope.isdigit() else scope
        return ("%s: %s names the interface %s, which does not exist on this host; fastd could "
                "not start (it binds to that interface); correct the scope after '%%' or create "
                "the interface first" % (bvar, value, what)), False
    if address.is_unspecified:
        return None, False
    error = bind_error(address, scope)
    if error is None:
        return None, False
    if error.errno == errno.EADDRNOTAVAIL:
        return ("%s: %s is not an address of this host; fastd would start (it binds with "
                "IP_FREEBIND) but receive nothing there until the address is added" % (bvar, value)), True
    return ("%s: %s cannot be bound on this host (%s); fastd could not start"
            % (bvar, value, os.strerror(error.errno) if error.errno else error)), False


def _own_collisions(targets, port, ivar):
    """fastd binds each bind item with its own socket: overlapping items of
    one instance make it fail by itself (see fastd.binds_overlap: a scope
    binds to an interface). [(bind index, message)]."""
    problems = []
    for index, (value, address) in enumerate(targets):
        for other in range(index):
            other_value, other_address = targets[other]
            if address is not None and other_address is not None and binds_overlap(
                    parse_bind(value), parse_bind(other_value)):
                why = (" ('any' takes the port on every IPv4 and IPv6 address)"
                       if ANY in (address, other_address) else "")
                problems.append((index, "%s.bind[%d]: %s overlaps %s.bind[%d] (%s) on UDP port %d%s; "
                                 "fastd binds each with its own socket and could not start"
                                 % (ivar, index, value, ivar, other, other_value, port, why)))
                break
    return problems


_MISSING_HINT = ("; correct it, or allow addresses that are added later (allow_missing_addresses), "
                 "for example by keepalived")


class _Host(object):
    """What the checks read from the host, each read once and only when needed."""

    def __init__(self, proc):
        self.proc = proc
        self._sockets = None
        self._v6only = False  # not asked yet; None: the kernel does not tell
        self._default = False

    @property
    def sockets(self):
        if self._sockets is None:
            self._sockets = udp_sockets(self.proc)
        return self._sockets

    def dual_stack(self, sock):
        """Whether ``sock`` is an IPv6 wildcard socket that takes IPv4 too."""
        if sock.address != V6_ANY:
            return False
        if self._v6only is False:
            self._v6only = v6only_flags()
            self._default = default_v6only(self.proc)
        if self._v6only is not None and sock.inode in self._v6only:
            return not self._v6only[sock.inode]
        return not self._default


def _readable_instances(instances, main_pids, var, problems):
    """The present instances that can be checked, as (index, var, instance,
    MainPID), and the MainPIDs of the retired (absent) ones. Problems are
    added to ``problems`` as ((index,), message)."""
    present, retired = [], set()
    for index, inst in enumerate(instances):
        ivar = "%s[%d]" % (var, index)
        if not isinstance(inst, dict):
            problems.append(((index,), "%s must be a dict, got %s" % (ivar, describe(inst))))
            continue
        state = inst.get("state", "present")
        if state not in STATES:
            problems.append(((index,), "%s.state must be one of %s, got %s"
                             % (ivar, ", ".join(STATES), describe(state))))
            continue
        pid = main_pids.get(inst["name"], 0) if isinstance(inst.get("name"), str) else 0
        if state == "absent":
            if pid:
                retired.add(pid)
            continue
        errors = _instance_errors(inst, ivar)
        problems.extend(((index,), e) for e in errors)
        if not errors:
            present.append((index, ivar, inst, pid))
    return present, retired


def _port_problems(host, target, port, bvar, holders_of, free, running):
    """(problems, holder entry) for fastd binding ``target`` on ``port``."""
    value, address = target
    problems, shown, seen = [], None, set()
    for sock in host.sockets:
        if sock.port != port:
            continue
        dual = host.dual_stack(sock)
        if not collides(address, sock.address, dual):
            continue
        holders = holders_of.get(sock.inode, [])
        blockers = blocking(holders, free) if holders else [None]  # None: no process seen
        if shown is None or (blockers and shown in free):
            shown = (blockers or holders)[0]
        for pid in blockers:
            if pid in seen:
                continue
            seen.add(pid)
            who = _holder_text(pid, host.proc, running) if pid else _nobody_text()
            problems.append("%s: UDP port %d on %s is already used by %s, which holds %s; fastd could not start"
                            % (bvar, port, value, who, _endpoint(sock, dual)))
    if not problems and shown is None:
        return problems, None
    return problems, dict(pid=shown, comm=process_name(shown, host.proc) if shown else None,
                          instance=running[shown][0] if shown in running else None)


def check_instances(instances, main_pids, var="fastd_instances", allow_missing_addresses=False, proc=PROC):
    """Check on this host that the present instances of ``instances`` (the
    items of ``var``, in order) can start. ``main_pids``: {instance name:
    MainPID of its unit, 0 when it is not running}. A port or TAP interface
    held by the instance's own MainPID or by that of a retired (absent)
    instance counts as free: those stop first.

    Returns a dict: ``checked`` (names of the present instances), ``problems``
    (messages, in the order of the items and their bind addresses: fastd
    would not start, or not be reachable on an address), ``warnings``
    (missing addresses, with ``allow_missing_addresses``) and ``ports``
    ({name: [{address, port, holder}]}, holder being {pid, comm, instance}
    of the process that has the port now, or None when it is free; pid
    None for a socket no process holds)."""
    result = dict(checked=[], problems=[], warnings=[], ports={})
    if not isinstance(instances, list):
        result["problems"].append("%s must be a list of instances, got %s" % (var, describe(instances)))
        return result
    problems = []  # (sort key, message): by item, bind address, kind of check
    present, retired = _readable_instances(instances, main_pids, var, problems)
    running = {pid: (inst["name"], ivar) for _index, ivar, inst, pid in present if pid}
    host = _Host(proc)

    plans = []
    for index, ivar, inst, pid in present:
        result["checked"].append(inst["name"])
        port = as_int(inst["port"])
        targets = []
        for bindex, value in enumerate(inst.get("bind", [ANY])):
            address, scope, _error = _target(value)
            message, missing = _address_problem(value, address, scope, "%s.bind[%d]" % (ivar, bindex))
            if message and missing and allow_missing_addresses:
                result["warnings"].append(message)
            elif message:
                problems.append(((index, bindex, 0), message + (_MISSING_HINT if missing else "")))
                address = address if missing else None  # None: fastd fails on the address itself
            targets.append((value, address))
        problems.extend(((index, bindex, 1), m) for bindex, m in _own_collisions(targets, port, ivar))
        tap = inst["interface"] if inst.get("mode", "multitap") == "tap" else None
        plans.append((index, ivar, inst["name"], pid, port, targets, tap))

    # Which processes hold the sockets on these ports and the TAP interfaces
    inodes = set()
    for plan in plans:
        port, targets = plan[4], plan[5]
        for _value, address in targets:
            if address is not None:
                inodes.update(s.inode for s in host.sockets
                              if s.inode and s.port == port and collides(address, s.address, host.dual_stack(s)))
    kinds = {plan[6]: interface_kind(plan[6]) for plan in plans if plan[6]}
    socket_pids, tap_pids = fd_holders(inodes, [n for n, kind in kinds.items() if kind == "tap"], proc)

    for index, ivar, name, pid, port, targets, tap in plans:
        free = retired | ({pid} if pid else set())
        entries = result["ports"].setdefault(name, [])
        for bindex, target in enumerate(targets):
            holder = None
            if target[1] is not None:
                found, holder = _port_problems(host, target, port, "%s.bind[%d]" % (ivar, bindex),
                                               socket_pids, free, running)
                problems.extend(((index, bindex, 2), m) for m in found)
            entries.append(dict(address=target[0], port=port, holder=holder))
        if tap:
            problems.extend(((index, len(targets), 0), m) for m in _interface_problems(
                tap, kinds[tap], tap_pids.get(tap, []), free, ivar + ".interface", proc, running))
    result["problems"] = [m for _key, m in sorted(problems, key=lambda p: p[0])]
    return result


def _interface_problems(name, kind, holders, free, ivar, proc, running):
    """A tap instance opens its interface at start (TUNSETIFF): that fails
    unless the name is free or a TAP interface no other process has open."""
    if kind is None:
        return []
    if kind != "tap":
        what = {"tun": "a TUN interface, not a TAP interface",
                "multiqueue-tap": "a multi-queue TAP interface, which fastd cannot open"}.get(
                    kind, "not a TAP interface")
        return ["%s: %s already exists on this host and is %s; fastd could not start" % (ivar, name, what)]
    return ["%s: TAP interface %s is already used by %s; fastd could not start"
            % (ivar, name, _holder_text(pid, proc, running)) for pid in blocking(holders, free)]
