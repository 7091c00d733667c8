# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tunneldigger brokers: the rules for ``tunneldigger_instances``,
``tunneldigger_source`` and ``tunneldigger_blocked_uuids``, and what the
role writes from them (the broker's config file and its hook wrappers).

Facts the rules rest on (broker v0.4.0, src/tunneldigger_broker/):

* main.py reads every ``[broker]`` key but the per-IP limits with
  ``config.get*`` and no fallback: a missing key stops the broker with
  NoOptionError, so the role writes every key.
* Interfaces are named ``l2tp<tunnel_id>-<session_id>``; the session id is
  the tunnel id (or 1 for old clients), so the name of the highest id of an
  instance's range must fit 15 characters.
* Ports are bound with SO_REUSEPORT: two brokers on one port start without
  error and then lose handshakes at random, so ports must not repeat, neither
  across brokers nor with fastd on the same host.
* The broker's transport is IPv4 only.
"""

from __future__ import annotations

import ipaddress
import math
import posixpath
import re

from ansible_collections.freifunk.gateway.plugins.module_utils.mesh import (
    mesh_arguments,
    normalize_mesh,
    validate_mesh,
)
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import (
    IFNAME_MAX,
    as_int,
    bool_errors,
    control_errors,
    describe,
    ifname_errors,
    instance_head,
    name_taken_errors,
    int_errors,
    one_of_errors,
    to_int,
    unknown_keys,
)

VERBOSITIES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REQUIRED_KEYS = ("name", "address", "ports", "interface")  # of a present instance
INSTANCE_DEFAULTS = {
    "name": None,
    "state": "present",  # absent: the role stops and removes the broker
    "address": None,
    "ports": None,
    "interface": None,
    "max_tunnels": 1024,
    "tunnel_id_base": 100,
    "connection_rate_limit": 0.2,
    "connection_rate_limit_per_ip_count": 0,
    "connection_rate_limit_per_ip_time": 0,
    "pmtu": 0,
    "mtu": None,
    "log_verbosity": "INFO",
    "log_ip_addresses": False,
    "mesh": None,
}
INT_KEYS = ("max_tunnels", "tunnel_id_base", "connection_rate_limit_per_ip_count", "pmtu", "mtu")
PMTU_MIN, PMTU_MAX = 1280, 1446  # the broker clamps its MTU to this range
SESSION_NAME_FORMAT = "l2tp%d-%d"
MAX_TUNNELS_MAX = 65535

# Hook events with the arguments the broker passes (tunnel.py, broker.py).
SESSION_ARGS = ("tunnel_id", "session_id", "interface", "mtu", "endpoint_ip", "endpoint_port",
                "local_port", "uuid", "local_broker_port")
HOOKS = {
    "session.up": SESSION_ARGS,
    "session.pre-down": SESSION_ARGS,
    "session.down": SESSION_ARGS,
    "session.mtu-changed": ("tunnel_id", "session_id", "interface", "old_mtu", "new_mtu", "uuid"),
    "broker.connection-rate-limit": ("endpoint_ip", "endpoint_port", "uuid"),
}

CONFIG_DIR = "/etc/tunneldigger"
STATE_DIR = "/run/tunneldigger"
BLOCKLIST_FILE = CONFIG_DIR + "/blocked-uuids"

SOURCE_TYPES = ("git", "archive", "directory")
SOURCE_KEYS = {
    "git": ("type", "url", "version"),
    "archive": ("type", "src", "checksum", "version"),
    "directory": ("type", "src", "version"),
}

_UUID = re.compile(r"[0-9A-Za-z_.:-]{1,64}")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,99}")
_CHECKSUM = re.compile(r"sha256:[0-9a-fA-F]{64}")
_FLOAT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")
_NFT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
NFT_FAMILIES = ("ip", "inet")  # the set holds IPv4 addresses
BLOCK_TIME_MAX = 4294967  # seconds; the on-connect script's limit for --block-time
_ARCHIVE = re.compile(r".*\.(tar\.gz|tgz|tar)", re.DOTALL)


def session_name(tunnel_id):
    """The broker's interface name for a tunnel (session id = tunnel id)."""
    return SESSION_NAME_FORMAT % (tunnel_id, tunnel_id)


def as_number(value):
    """``value`` as a float if it is a finite, non-negative number (or a
    string of one, such as ``"0.2"``), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            return None
        return number if math.isfinite(number) and number >= 0 else None
    if isinstance(value, str) and _FLOAT.fullmatch(value):
        return float(value)
    return None


def _number_errors(value, var, what):
    if as_number(value) is not None:
        return []
    return ["%s must be a number of %s, 0 or more (0 turns it off), got %s" % (var, what, describe(value))]


def _address_errors(value, var):
    if not isinstance(value, str):
        return ["%s must be the broker's IPv4 address, got %s" % (var, describe(value))]
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return ["%s must be an IPv4 address (the broker binds to one address of its interface), got %s"
                % (var, describe(value))]
    if addr.version != 4:
        return ["%s: %s is IPv6, but the tunneldigger broker has no IPv6 transport (nodes reach "
                "brokers over IPv4 only); give the interface's IPv4 address" % (var, value)]
    if addr.is_unspecified:
        return ["%s must be one address of the interface, not 0.0.0.0 (the broker answers from it)" % var]
    return []


def _ports_errors(ports, var):
    if not isinstance(ports, list) or not ports:
        return ["%s must be a non-empty list of UDP ports (1..65535), got %s" % (var, describe(ports))]
    errors, seen = [], set()
    for index, port in enumerate(ports):
        item = "%s[%d]" % (var, index)
        bad = int_errors(port, item, 1, 65535, what="a UDP port")
        errors.extend(bad)
        number = as_int(port)
        if not bad and number in seen:
            errors.append("%s: port %d is listed twice" % (item, number))
        seen.add(number)
    return errors


def _range_errors(inst, var):
    """The tunnel id range must be positive and its interface names fit."""
    base, count = as_int(inst.get("tunnel_id_base")), as_int(inst.get("max_tunnels"))
    errors = int_errors(inst.get("tunnel_id_base"), var + ".tunnel_id_base", 1, 2 ** 32 - 1)
    errors += int_errors(inst.get("max_tunnels"), var + ".max_tunnels", 1, MAX_TUNNELS_MAX)
    if errors:
        return errors
    last = base + count - 1
    name = session_name(last)
    if len(name) > IFNAME_MAX:
        errors.append("%s: tunnel ids %d..%d give interface names up to %s (%d characters), longer than "
                      "Linux's %d; keep tunnel_id_base + max_tunnels - 1 at most 99999"
                      % (var, base, last, name, len(name), IFNAME_MAX))
    return errors


def _validate_instance(inst, var):
    errors, cfg, absent = instance_head(inst, INSTANCE_DEFAULTS, REQUIRED_KEYS, var,
                                        "/etc/tunneldigger/<name> and tunneldigger@<name>")
    if absent:
        return errors
    if "address" in inst:
        errors.extend(_address_errors(cfg["address"], var + ".address"))
    if "ports" in inst:
        errors.extend(_ports_errors(cfg["ports"], var + ".ports"))
    if "interface" in inst:
        errors.extend(ifname_errors(cfg["interface"], var + ".interface"))
    errors.extend(_range_errors(cfg, var))
    errors.extend(_number_errors(cfg["connection_rate_limit"], var + ".connection_rate_limit",
                                 "seconds between two new tunnels of this broker (on any of its ports)"))
    errors.extend(int_errors(cfg["connection_rate_limit_per_ip_count"],
                             var + ".connection_rate_limit_per_ip_count", 0, 2 ** 31 - 1))
    errors.extend(_number_errors(cfg["connection_rate_limit_per_ip_time"],
                                 var + ".connection_rate_limit_per_ip_time", "seconds"))
    pmtu = as_int(cfg["pmtu"])
    if pmtu != 0:
        errors.extend(int_errors(cfg["pmtu"], var + ".pmtu", PMTU_MIN, PMTU_MAX,
                                 what="0 (path MTU discovery) or a fixed MTU"))
    errors.extend(int_errors(cfg["mtu"], var + ".mtu", PMTU_MIN, PMTU_MAX, allow_none=True,
                             what="the MTU every session interface gets"))
    errors.extend(one_of_errors(cfg["log_verbosity"], VERBOSITIES, var + ".log_verbosity"))
    errors.extend(bool_errors(cfg["log_ip_addresses"], var + ".log_ip_addresses"))
    errors.extend(validate_mesh(cfg["mesh"], var + ".mesh"))
    return errors


def _fastd_ports(fastd_instances):
    """Ports of the present fastd instances of the same host, by variable path."""
    ports = {}
    if not isinstance(fastd_instances, list):
        return ports
    for index, inst in enumerate(fastd_instances):
        if isinstance(inst, dict) and inst.get("state", "present") != "absent":
            port = as_int(inst.get("port"))
            if port is not None:
                ports.setdefault(port, "fastd_instances[%d] (%s)" % (index, inst.get("name")))
    return ports


def validate_instances(instances, fastd_instances=None, var="tunneldigger_instances"):
    """Check ``tunneldigger_instances``: every instance, then across the
    present ones: unique names, ports used once (and not by fastd), tunnel id
    ranges disjoint."""
    if not isinstance(instances, list):
        return ["%s must be a list of broker instances, got %s" % (var, describe(instances))]
    errors = []
    names, ports, ranges = {}, _fastd_ports(fastd_instances), []
    for index, inst in enumerate(instances):
        ivar = "%s[%d]" % (var, index)
        if not isinstance(inst, dict):
            errors.append("%s must be a dict, got %s" % (ivar, describe(inst)))
            continue
        mine = _validate_instance(inst, ivar)
        errors.extend(mine)
        errors.extend(name_taken_errors(inst.get("name"), ivar, names))
        if inst.get("state", "present") == "absent" or mine:
            continue
        for pindex, port in enumerate(inst["ports"]):
            port = as_int(port)
            if port in ports:
                errors.append("%s.ports[%d]: port %d is already used by %s; brokers bind with SO_REUSEPORT, "
                              "so a shared port starts without error and then loses handshakes at random"
                              % (ivar, pindex, port, ports[port]))
            else:
                ports[port] = ivar
        base = as_int(inst.get("tunnel_id_base", INSTANCE_DEFAULTS["tunnel_id_base"]))
        last = base + as_int(inst.get("max_tunnels", INSTANCE_DEFAULTS["max_tunnels"])) - 1
        for other_var, other_base, other_last in ranges:
            if base <= other_last and other_base <= last:
                errors.append("%s: tunnel ids %d..%d (tunnel_id_base .. + max_tunnels - 1) overlap %s (%d..%d); "
                              "give each broker its own range" % (ivar, base, last, other_var, other_base, other_last))
        ranges.append((ivar, base, last))
    return errors


def instance_with_defaults(inst):
    """A valid instance with every key, integers as int, rates as float,
    plus the paths the role uses."""
    merged = dict(INSTANCE_DEFAULTS)
    merged.update(inst)
    for key in INT_KEYS:
        merged[key] = to_int(merged[key])
    for key in ("connection_rate_limit", "connection_rate_limit_per_ip_time"):
        merged[key] = as_number(merged[key])
    if isinstance(merged["ports"], list):  # an absent instance's ports are not checked
        merged["ports"] = [to_int(p) for p in merged["ports"]]
    if isinstance(merged["mesh"], dict):
        merged["mesh"] = normalize_mesh(merged["mesh"])
    name = merged["name"]
    directory = posixpath.join(CONFIG_DIR, name)
    merged.update(
        config_dir=directory,
        config_file=posixpath.join(directory, "broker.cfg"),
        hooks_dir=posixpath.join(directory, "hooks"),
        state_dir=posixpath.join(STATE_DIR, name),
        unit="tunneldigger@%s.service" % name,
        limit_nofile=limit_nofile(merged["max_tunnels"]) if merged["state"] == "present" else None,
    )
    return merged


def host_errors(instances, links, var="tunneldigger_instances"):
    """Errors where a normalized instance's interface is missing on the host
    or lacks the instance's address. ``links``: what ``ip -json address
    show`` prints. The broker binds to its address on its interface; when it
    cannot, it logs that and runs on serving no one."""
    addresses = {}
    for link in links or []:
        if isinstance(link, dict) and "ifname" in link:
            addresses[link["ifname"]] = [a.get("local") for a in link.get("addr_info", [])
                                         if a.get("family") == "inet"]
    errors = []
    for inst in instances:
        ivar = "%s[%d]" % (var, inst.get("index", 0))
        iface = inst["interface"]
        if iface not in addresses:
            errors.append("%s.interface: %s does not exist on the host (the broker binds to it)" % (ivar, iface))
        elif inst["address"] not in addresses[iface]:
            errors.append("%s.address: %s is not an address of %s (it has %s); the broker would start and "
                          "serve no one" % (ivar, inst["address"], iface,
                                            ", ".join(addresses[iface]) or "no IPv4 address"))
    return errors


# What instance_with_defaults and tunneldigger_instances_normalized add (index:
# the position in tunneldigger_instances, for messages).
DERIVED_KEYS = ("config_dir", "config_file", "hooks_dir", "state_dir", "unit", "limit_nofile", "index")


def renderable_instance(inst, var="instance"):
    """``(instance, errors)``: a present instance, as given or as
    ``instance_with_defaults`` returned it, checked again and normalized
    (the paths derived anew from its name), ready for ``render_config`` and
    ``hook_argv``; ``(None, errors)`` if it is not one."""
    if not isinstance(inst, dict):
        return None, ["%s must be a tunneldigger instance (a dict), got %s" % (var, describe(inst))]
    given = {k: v for k, v in inst.items() if k not in DERIVED_KEYS}
    errors = _validate_instance(given, var)
    if not errors and given.get("state", "present") != "present":
        errors.append("%s: broker %s is absent; only present brokers have a config and hooks" % (var, given["name"]))
    if errors:
        return None, errors
    return instance_with_defaults(given), []


def limit_nofile(max_tunnels):
    """Open files a broker may need: a socket per tunnel, two pipes per
    running hook (up to one per tunnel at once), netlink and the listeners."""
    return max(1024, 4 * max_tunnels + 256)


# --- the files the role writes -----------------------------------------------

def _format_number(value):
    return ("%d" % value) if float(value).is_integer() else repr(float(value))


def render_config(inst):
    """The broker's config file for a normalized instance. Every key is
    written: the broker stops at start on a missing one."""
    hooks = inst["hooks_dir"]
    lines = [
        "[broker]",
        "address=%s" % inst["address"],
        "port=%s" % ",".join("%d" % p for p in inst["ports"]),
        "interface=%s" % inst["interface"],
        "max_tunnels=%d" % inst["max_tunnels"],
        "tunnel_id_base=%d" % inst["tunnel_id_base"],
        "connection_rate_limit=%s" % _format_number(inst["connection_rate_limit"]),
        "connection_rate_limit_per_ip_count=%d" % inst["connection_rate_limit_per_ip_count"],
        "connection_rate_limit_per_ip_time=%s" % _format_number(inst["connection_rate_limit_per_ip_time"]),
        "pmtu=%d" % inst["pmtu"],
        "",
        "[log]",
        "verbosity=%s" % inst["log_verbosity"],
        "log_ip_addresses=%s" % ("true" if inst["log_ip_addresses"] else "false"),
        "",
        "[hooks]",
    ]
    lines += ["%s=%s" % (event, posixpath.join(hooks, event)) for event in HOOKS]
    return "\n".join(lines) + "\n"


def hook_argv(inst, event, script, blocklist=BLOCKLIST_FILE, nft_set=None, block_time=None):
    """The command a hook wrapper runs for ``event`` of a normalized
    instance: the on-connect script with the instance's settings, then ``--``
    and the broker's own arguments (appended by the wrapper)."""
    if not (isinstance(event, str) and event in HOOKS):
        raise ValueError("event must be one of %s, got %s" % (", ".join(HOOKS), describe(event)))
    if nft_set is not None:
        if not (isinstance(nft_set, (list, tuple)) and len(nft_set) == 3
                and nft_set[0] in NFT_FAMILIES
                and all(isinstance(n, str) and _NFT_NAME.fullmatch(n) for n in nft_set[1:])):
            raise ValueError("nft_set must be null or [FAMILY, TABLE, SET] with FAMILY one of %s and nftables "
                             "names (a letter, then letters, digits or '_'), got %s"
                             % (", ".join(NFT_FAMILIES), describe(nft_set)))
        if not 1 <= (as_int(block_time) or 0) <= BLOCK_TIME_MAX:
            raise ValueError("block_time must be the seconds an address stays in the nftables set (1..%d) "
                             "when nft_set is given, got %s" % (BLOCK_TIME_MAX, describe(block_time)))
    argv = [script, "tunneldigger", event, "--instance", inst["name"]]
    mesh = inst["mesh"]
    if event != "broker.connection-rate-limit":
        if mesh:
            action = "attach" if event == "session.up" else "detach"
            argv += mesh_arguments(mesh, action)
        if inst["mtu"] is not None and event in ("session.up", "session.mtu-changed"):
            argv += ["--mtu", "%d" % inst["mtu"]]
        if event == "session.up":
            argv += ["--blocklist", blocklist]
        argv += ["--state-dir", posixpath.join(inst["state_dir"], "sessions")]
    elif nft_set:
        argv += ["--nft-set"] + [str(n) for n in nft_set] + ["--block-time", "%d" % as_int(block_time)]
    return argv + ["--"]


# --- the source the broker is installed from ----------------------------------

def validate_source(source, var="tunneldigger_source"):
    """Errors in ``tunneldigger_source``: where the broker comes from."""
    if not isinstance(source, dict):
        return ["%s must be a dict with a type (%s), got %s" % (var, ", ".join(SOURCE_TYPES), describe(source))]
    kind = source.get("type", "git")
    if kind not in SOURCE_TYPES:
        return ["%s.type must be one of %s, got %s" % (var, ", ".join(SOURCE_TYPES), describe(kind))]
    errors = unknown_keys(source, SOURCE_KEYS[kind], var)
    version = source.get("version")
    if kind == "git" or version is not None:
        if not (isinstance(version, str) and _VERSION.fullmatch(version)):
            errors.append("%s.version must be a git tag, branch or commit (letters, digits, '.', '_', '/', "
                          "'+', '-')%s, got %s"
                          % (var, "" if kind == "git" else " naming this source", describe(version)))
    if kind == "git":
        url = source.get("url")
        if not (isinstance(url, str) and url and not url.startswith("-")):
            errors.append("%s.url must be the broker's git repository URL, got %s" % (var, describe(url)))
        else:
            errors.extend(control_errors(url, var + ".url"))
        return errors
    src = source.get("src")
    if not (isinstance(src, str) and src):
        what = "a source archive (a path on the controller or an http(s) URL)" if kind == "archive" \
            else "the path of a tunneldigger checkout on the controller"
        errors.append("%s.src must be %s, got %s" % (var, what, describe(src)))
    else:
        errors.extend(control_errors(src, var + ".src"))
        if kind == "archive" and not _ARCHIVE.fullmatch(src.split("?")[0]):
            errors.append("%s.src must name a .tar.gz, .tgz or .tar archive, got %s" % (var, describe(src)))
        if kind == "directory" and not src.startswith("/"):
            errors.append("%s.src must be an absolute path on the controller, got %s" % (var, describe(src)))
    if kind == "archive":
        checksum = source.get("checksum")
        if not (isinstance(checksum, str) and _CHECKSUM.fullmatch(checksum)):
            errors.append("%s.checksum must be sha256:<64 hex digits> of the archive (sha256sum prints it), "
                          "got %s" % (var, describe(checksum)))
    return errors


def source_with_defaults(source):
    """A valid source with its type, its label (what names the version on
    the host) and, for archives, whether it is fetched from a URL."""
    kind = source.get("type", "git")
    result = dict(source, type=kind)
    if kind == "archive":
        result["remote"] = bool(re.match(r"https?://", source["src"]))
        result["checksum"] = source["checksum"].lower()
        result.setdefault("version", "archive-" + result["checksum"][len("sha256:"):][:12])
    elif kind == "directory":
        result.setdefault("version", "local")
    result["label"] = re.sub(r"[^A-Za-z0-9._-]", "_", result["version"])
    return result


# --- the role's scalar settings ------------------------------------------------

BOOL_SETTINGS = ("tunneldigger_start", "tunneldigger_hardening", "tunneldigger_nftables", "tunneldigger_lock_break")
INT_SETTINGS = {  # name: (low, high)
    "tunneldigger_nftables_block_time": (1, BLOCK_TIME_MAX),
    "tunneldigger_keep_versions": (0, 100),
    "tunneldigger_lock_timeout": (0, 86400),
}


def validate_settings(settings):
    """Errors in the role's scalar settings (a dict of name: value; missing
    names are not checked): booleans strictly true or false (a string "no"
    would count as true), integers in range (strings of digits too)."""
    errors = []
    for name in BOOL_SETTINGS:
        if name in settings:
            errors.extend(bool_errors(settings[name], name))
    for name, (low, high) in INT_SETTINGS.items():
        if name in settings:
            errors.extend(int_errors(settings[name], name, low, high))
    return errors


# --- the blocklist -------------------------------------------------------------

def normalize_uuid(uuid):
    """How the hook compares uuids: lowercase, a MAC's colons dropped
    (Gluon's client sends the node's primary MAC without them)."""
    text = uuid.lower()
    return text.replace(":", "") if _MAC.fullmatch(text) else text


def validate_blocked_uuids(uuids, var="tunneldigger_blocked_uuids"):
    if not isinstance(uuids, list):
        return ["%s must be a list of node uuids, got %s" % (var, describe(uuids))]
    errors = []
    for index, uuid in enumerate(uuids):
        if not (isinstance(uuid, str) and _UUID.fullmatch(uuid)):
            errors.append("%s[%d] must be a node uuid (Gluon: the node's primary MAC, with or without colons; "
                          "1-64 of letters, digits, '_', '.', ':', '-'), got %s" % (var, index, describe(uuid)))
    return errors


def render_blocklist(uuids):
    lines = ["# Nodes the tunneldigger brokers refuse (freifunk.gateway.tunneldigger, tunneldigger_blocked_uuids)."]
    lines += sorted({normalize_uuid(u) for u in uuids})
    return "\n".join(lines) + "\n"
