# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a tunneldigger broker instance has, as the kernel and the mesh see it.

The sources, none of them the broker's log:

* the kernel's L2TP tunnels and sessions, as ``ip l2tp show tunnel|session``
  prints them (iproute2 >= 4.15 with ``-j`` prints JSON, older ones text;
  both are read). Only tunnels with ids in ``tunnel_id_base ..
  tunnel_id_base + max_tunnels - 1`` belong to the broker: fastd's L2TP
  offload makes kernel tunnels too. The kernel reports the address and
  ports of the tunnel's UDP socket, which the broker connects to the node;
  sessions carry no address, so a session's endpoint is its tunnel's peer;
* ``/sys/class/net/IFACE/{mtu,operstate,flags,master}`` per session
  interface (``master`` is a symlink to the bridge or batman-adv interface);
* the session records that the on-connect hook writes on session.up, one
  file per interface in ``STATE_DIR/INSTANCE/sessions/`` with ``key=value``
  lines (``uuid``, ``endpoint_ip``, ``endpoint_port``, ``since`` and more),
  removed on session.down.

Everything here is a plain function; the module only runs the commands.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re

from ansible_collections.freifunk.gateway.plugins.module_utils.mesh import validate_mesh
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe, int_errors, is_ifname

STATE_DIR = "/run/tunneldigger"
SYSFS_NET = "/sys/class/net"
UNIT = "tunneldigger@%s.service"
TUNNEL_ID_MAX = 2 ** 32 - 1  # L2TPv3 tunnel ids are 32 bits; 0 is reserved
IFF_UP = 0x1
# Operational states of an interface that is up: l2tp_eth devices do not
# report a carrier, so an up session interface reads "unknown".
UP_STATES = ("up", "unknown")
# Integer fields of a session record (the rest stay strings).
RECORD_INTS = ("tunnel_id", "session_id", "endpoint_port", "local_port", "broker_port", "mtu", "since")
# An instance name ends up in a path and a unit name: no '/', no leading '.'.
_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
INSTANCE_RULE = "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"

# ``ip l2tp show tunnel`` (text), see print_tunnel() in iproute2's ip/ipl2tp.c:
#   Tunnel 100, encap UDP
#     From 192.0.2.1 to 198.51.100.7
#     Peer tunnel 5
#     UDP source / dest ports: 10042/41235
#     UDP checksum: disabled
_T_HEAD = re.compile(r"Tunnel (\d+), encap (\S+)")
_T_ADDR = re.compile(r"From (\S+) to (\S+)")
_T_PEER = re.compile(r"Peer tunnel (\d+)")
_T_PORTS = re.compile(r"UDP source / dest ports: (\d+)/(\d+)")
# ``ip l2tp show session`` (text), see print_session():
#   Session 100 in tunnel 100
#     Peer session 5, tunnel 5
#     interface name: l2tp100-100
#     offset 0, peer offset 0
_S_HEAD = re.compile(r"Session (\d+) in tunnel (\d+)")
_S_PEER = re.compile(r"Peer session (\d+), tunnel (\d+)")
_S_IFNAME = re.compile(r"interface name: (\S+)")


# --- options -----------------------------------------------------------------

def validate_options(instance, tunnel_id_base, max_tunnels, mesh=None, timeout=0, sessions=None):
    """Errors in the module's options, one message each, naming the option."""
    errors = []
    if not isinstance(instance, str) or not _INSTANCE.fullmatch(instance):
        errors.append("instance must be %s; got %s" % (INSTANCE_RULE, describe(instance)))
    errors.extend(int_errors(tunnel_id_base, "tunnel_id_base", 1, TUNNEL_ID_MAX))
    errors.extend(int_errors(max_tunnels, "max_tunnels", 1, TUNNEL_ID_MAX))
    if not errors and tunnel_id_base + max_tunnels - 1 > TUNNEL_ID_MAX:
        errors.append("tunnel_id_base + max_tunnels - 1 must be at most %d (tunnel ids are 32 bits); got %d"
                      % (TUNNEL_ID_MAX, tunnel_id_base + max_tunnels - 1))
    errors.extend(validate_mesh(mesh))
    if timeout is None or timeout < 0:
        errors.append("timeout must be 0 or more seconds; got %s" % describe(timeout))
    if sessions is not None:
        errors.extend(int_errors(sessions, "wait_for.sessions", 0))
    return errors


def is_ours(tunnel_id, tunnel_id_base, max_tunnels):
    """Whether kernel tunnel ``tunnel_id`` is one of the broker's: the broker
    hands out ``range(tunnel_id_base, tunnel_id_base + max_tunnels)``
    (tunneldigger's broker.py)."""
    return isinstance(tunnel_id, int) and tunnel_id_base <= tunnel_id < tunnel_id_base + max_tunnels


def sessions_dir(instance, state_dir=STATE_DIR):
    return os.path.join(state_dir, instance, "sessions")


def unit_name(instance):
    return UNIT % instance


# --- ip l2tp -------------------------------------------------------------------

def _int(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _json_list(text, what):
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValueError("ip -j l2tp show %s printed no valid JSON: %s" % (what, exc))
    if not isinstance(doc, list) or not all(isinstance(item, dict) for item in doc):
        raise ValueError("ip -j l2tp show %s printed JSON that is not a list of objects" % what)
    return doc


def _blocks(text, head):
    """Split text output into (head match, following lines) per record."""
    blocks = []
    for line in text.splitlines():
        match = head.fullmatch(line.strip())
        if match:
            blocks.append((match, []))
        elif blocks:
            blocks[-1][1].append(line.strip())
        elif line.strip():
            raise ValueError("unexpected line before the first record: %r" % line)
    return blocks


def _search(pattern, lines):
    for line in lines:
        match = pattern.match(line)
        if match:
            return match
    return None


def parse_tunnels(text):
    """The tunnels of ``ip [-j] l2tp show tunnel`` output: a list of
    ``{tunnel_id, peer_tunnel_id, encap, local, peer, local_port, peer_port}``
    (addresses and ports None where the kernel reports none)."""
    if text.lstrip().startswith("["):
        return [{
            "tunnel_id": _int(item.get("tunnel_id")),
            "peer_tunnel_id": _int(item.get("peer_tunnel")),
            "encap": item.get("encap"),
            "local": item.get("local"),
            "peer": item.get("peer"),
            "local_port": _int(item.get("local_port")),
            "peer_port": _int(item.get("peer_port")),
        } for item in _json_list(text, "tunnel")]
    tunnels = []
    for head, lines in _blocks(text, _T_HEAD):
        addr, peer, ports = _search(_T_ADDR, lines), _search(_T_PEER, lines), _search(_T_PORTS, lines)
        tunnels.append({
            "tunnel_id": int(head.group(1)),
            "peer_tunnel_id": int(peer.group(1)) if peer else None,
            "encap": head.group(2),
            "local": addr.group(1) if addr else None,
            "peer": addr.group(2) if addr else None,
            "local_port": int(ports.group(1)) if ports else None,
            "peer_port": int(ports.group(2)) if ports else None,
        })
    return tunnels


def parse_sessions(text):
    """The sessions of ``ip [-j] l2tp show session`` output: a list of
    ``{tunnel_id, session_id, peer_tunnel_id, peer_session_id, interface}``
    (interface None for a session without a network device)."""
    if text.lstrip().startswith("["):
        return [{
            "tunnel_id": _int(item.get("tunnel_id")),
            "session_id": _int(item.get("session_id")),
            "peer_tunnel_id": _int(item.get("peer_tunnel_id")),
            "peer_session_id": _int(item.get("peer_session_id")),
            "interface": item.get("interface"),
        } for item in _json_list(text, "session")]
    sessions = []
    for head, lines in _blocks(text, _S_HEAD):
        peer, ifname = _search(_S_PEER, lines), _search(_S_IFNAME, lines)
        sessions.append({
            "tunnel_id": int(head.group(2)),
            "session_id": int(head.group(1)),
            "peer_tunnel_id": int(peer.group(2)) if peer else None,
            "peer_session_id": int(peer.group(1)) if peer else None,
            "interface": ifname.group(1) if ifname else None,
        })
    return sessions


def no_l2tp_netlink(stderr):
    """Whether a failed ``ip l2tp`` says the kernel has no L2TP netlink
    family (l2tp_netlink not loaded, or no L2TP at all): then there are no
    L2TP tunnels either."""
    return "Error talking to the kernel" in stderr or "No such file or directory" in stderr


def endpoint(address, port):
    """``ip:port`` (``[ip]:port`` for IPv6), or None for an unset address or port."""
    if not address or not port:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.is_unspecified:
        return None
    return ("[%s]:%d" if ip.version == 6 else "%s:%d") % (ip, port)


# --- session records -------------------------------------------------------------

def parse_record(text):
    """A session record of the on-connect hook: ``key=value`` lines, blank
    lines and ``#`` comments ignored; the numeric fields become ints."""
    record = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if key in RECORD_INTS:
            number = _int(value)
            if number is None:
                try:
                    number = int(float(value))
                except (ValueError, OverflowError):
                    number = None
            value = number
        record[key] = value
    return record


def record_endpoint(record):
    return endpoint(record.get("endpoint_ip"), record.get("endpoint_port"))


def read_records(directory):
    """{interface: record} of the session records in ``directory`` (none if
    it does not exist: the broker is stopped). Only regular files named like
    an interface count; hidden files (``.NAME.tmp`` while the hook writes)
    do not."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    records = {}
    for name in sorted(names):
        path = os.path.join(directory, name)
        if name.startswith(".") or not is_ifname(name) or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                records[name] = parse_record(handle.read())
        except FileNotFoundError:  # removed by session.down meanwhile
            continue
    return records


# --- /sys/class/net ----------------------------------------------------------------

def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def read_interface(name, sysfs=SYSFS_NET):
    """{mtu, operstate, up, master} of interface ``name`` from sysfs; mtu,
    operstate and master None and up False when it does not exist."""
    gone = {"mtu": None, "operstate": None, "up": False, "master": None}
    if not is_ifname(name) or not os.path.isdir(os.path.join(sysfs, name)):
        return gone
    base = os.path.join(sysfs, name)
    mtu = _int(_read(os.path.join(base, "mtu")))
    operstate = _read(os.path.join(base, "operstate"))
    flags = _read(os.path.join(base, "flags"))
    try:
        admin_up = bool(int(flags, 16) & IFF_UP) if flags else True
    except ValueError:
        admin_up = True
    try:
        master = os.path.basename(os.readlink(os.path.join(base, "master")))
    except OSError:  # no master (no link), or the interface went away meanwhile
        master = None
    return {"mtu": mtu, "operstate": operstate, "up": admin_up and operstate in UP_STATES, "master": master}


# --- the join ------------------------------------------------------------------------

def build_status(tunnels, sessions, records, links, tunnel_id_base, max_tunnels, mesh=None):
    """Join kernel tunnels and sessions (parse_tunnels, parse_sessions),
    session records (read_records) and interface state (``links``:
    {interface: read_interface result}) for the broker's tunnel id range.

    A kernel session without a record is reported with uuid None; a record
    without a kernel session, or whose endpoint is not the one of the
    kernel's tunnel of that name (left over from an earlier tunnel with the
    same id), is listed in ``stale`` and not used.
    """
    by_id = {t["tunnel_id"]: t for t in tunnels}
    mesh_if = mesh.get("interface") if mesh else None
    result, used = [], set()
    for session in sorted((s for s in sessions if is_ours(s["tunnel_id"], tunnel_id_base, max_tunnels)),
                          key=lambda s: (s["tunnel_id"], s["session_id"] or 0)):
        name = session["interface"]
        tunnel = by_id.get(session["tunnel_id"]) or {}
        kernel_endpoint = endpoint(tunnel.get("peer"), tunnel.get("peer_port"))
        record = records.get(name) if name else None
        if record is not None and kernel_endpoint and record_endpoint(record) \
                and record_endpoint(record) != kernel_endpoint:
            record = None
        if record is not None:
            used.add(name)
        link = links.get(name) or read_interface(None)
        result.append({
            "interface": name,
            "tunnel_id": session["tunnel_id"],
            "session_id": session["session_id"],
            "uuid": (record.get("uuid") or None) if record else None,
            "endpoint": kernel_endpoint or (record_endpoint(record) if record else None),
            "mtu": link["mtu"],
            "up": link["up"],
            "operstate": link["operstate"],
            "master": link["master"],
            "in_mesh": None if mesh is None else (link["master"] is not None and link["master"] == mesh_if),
            "since": record.get("since") if record else None,
        })
    return {
        "sessions": result,
        "count": len(result),
        "in_mesh_count": None if mesh is None else sum(1 for s in result if s["in_mesh"]),
        "stale": sorted(name for name in records if name not in used),
    }


def gather(tunnel_text, session_text, instance, tunnel_id_base, max_tunnels, mesh=None,
           state_dir=STATE_DIR, sysfs=SYSFS_NET):
    """build_status from the text of the two ``ip l2tp`` commands, the
    records under ``state_dir`` and interfaces under ``sysfs``."""
    tunnels, sessions = parse_tunnels(tunnel_text), parse_sessions(session_text)
    links = {s["interface"]: read_interface(s["interface"], sysfs)
             for s in sessions if is_ours(s["tunnel_id"], tunnel_id_base, max_tunnels) and s["interface"]}
    records = read_records(sessions_dir(instance, state_dir))
    return build_status(tunnels, sessions, records, links, tunnel_id_base, max_tunnels, mesh)


# --- wait_for ----------------------------------------------------------------------------

def ready(session, mesh):
    """A session that counts for wait_for: up, recorded by the on-connect hook
    (which writes the record as its last step, so the hook is done), and in the
    mesh when there is one."""
    return (bool(session["up"]) and session["uuid"] is not None
            and (mesh is None or bool(session["in_mesh"])))


def count_ready(status, mesh):
    return sum(1 for s in status["sessions"] if ready(s, mesh))


def wanted(sessions, mesh):
    return "%d session(s) up%s" % (sessions, " and in %s" % mesh["interface"] if mesh else "")


def session_state(session):
    """``up, in bat0`` / ``down, no master`` / ``up, master br-x, not in the mesh``
    (``up, master bat0`` when the mesh was not checked)."""
    words = ["up" if session.get("up") else "down"]
    master = session.get("master")
    if not master:
        words.append("no master")
    elif session.get("in_mesh"):
        words.append("in %s" % master)
    elif session.get("in_mesh") is False:
        words.append("master %s, not in the mesh" % master)
    else:
        words.append("master %s" % master)
    return ", ".join(words)


def timeout_message(instance, status, active, sessions, timeout, mesh):
    """What wait_for saw when time ran out: every session with its state,
    the stale records and whether the unit runs."""
    seen = "; ".join("%s (%s%s)" % (s["interface"] or "tunnel %d" % s["tunnel_id"], session_state(s),
                                    "" if s["uuid"] else ", no record: the hook has not finished")
                     for s in status["sessions"])
    msg = ("timed out after %ss waiting for %s of tunneldigger instance %s; saw %d session(s), %d ready"
           % (timeout, wanted(sessions, mesh), instance, status["count"], count_ready(status, mesh)))
    if seen:
        msg += ": " + seen
    if status["stale"]:
        msg += "; stale records (no kernel session): %s" % ", ".join(status["stale"])
    if active is False:
        msg += "; unit %s is not active" % unit_name(instance)
    return msg
