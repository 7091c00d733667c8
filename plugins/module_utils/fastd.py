# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the collection knows about fastd (v22 and later), as plain functions.

Every ``validate_*`` function returns a list of error strings, one per
mistake, each naming the variable path (``fastd_instances[0].methods[2]``) and
saying what would be valid. Nothing here talks to Ansible, so the same rules
serve the modules on the gateway and any controller-side plugin.

Facts were checked against fastd 22 (Debian 12) with ``fastd --verify-config``
and by running two fastd processes against each other on 127.0.0.1; the
source references are to https://github.com/neocturne/fastd (tag v22/v23).

IP addresses are parsed with the standard library's ``ipaddress`` rather than
netaddr: these helpers run inside modules on the gateways, and ``ipaddress``
needs nothing installed there.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import tempfile

from ansible_collections.freifunk.gateway.plugins.module_utils.checks import unknown_keys
from ansible_collections.freifunk.gateway.plugins.module_utils.mesh import validate_mesh

MIN_FASTD_VERSION = 22

# The methods of fastd's manual ("List of methods", doc/source/manual/methods.rst),
# each accepted by fastd 22's --verify-config (checked one at a time).
# security: what the method protects: "encrypted" (data and tag),
# "authenticated" (data in clear, authenticated) or "none".
# since: the first release with the method where the release notes say so
# (umac: v15, poly1305: "since fastd v11", null@l2tp: v22); None: older.
# aes128-*: need a fastd built with OpenSSL (Debian's is).
# fastd also accepts composed combinations such as "salsa2012+salsa2012+umac";
# its manual calls them "not very useful" and Gluon never offers them, so they
# are left out on purpose. Not methods (fastd 22 rejects them):
# "chacha20-poly1305", "xsalsa20-poly1305" (removed in v19), "aes128-ctr+gmac",
# "l2tp@null".
METHODS = {
    "salsa2012+umac": {"security": "encrypted", "since": 15},
    "salsa2012+gmac": {"security": "encrypted", "since": None},
    "salsa20+umac": {"security": "encrypted", "since": 15},
    "salsa20+gmac": {"security": "encrypted", "since": None},
    "aes128-ctr+umac": {"security": "encrypted", "since": 15},
    "aes128-gcm": {"security": "encrypted", "since": None},
    "salsa2012+poly1305": {"security": "encrypted", "since": 11},
    "salsa20+poly1305": {"security": "encrypted", "since": 11},
    "aes128-ctr+poly1305": {"security": "encrypted", "since": 11},
    "null+salsa2012+umac": {"security": "authenticated", "since": 15},
    "null+salsa20+umac": {"security": "authenticated", "since": 15},
    "null+aes128-ctr+umac": {"security": "authenticated", "since": 15},
    "null+salsa2012+gmac": {"security": "authenticated", "since": None},
    "null+salsa20+gmac": {"security": "authenticated", "since": None},
    "null+aes128-gmac": {"security": "authenticated", "since": None},
    "null@l2tp": {"security": "none", "since": 22},
    "null": {"security": "none", "since": None},
}
OFFLOAD_METHODS = ("null@l2tp",)

MODES = ("tap", "multitap")
LOG_LEVELS = ("error", "warn", "info", "verbose", "debug", "debug2")
DROP_CAPABILITIES = ("yes", "no", "early", "force")
MTU_MIN, MTU_MAX = 576, 65535

IFNAME_MAX = 15  # IFNAMSIZ - 1; fastd cuts longer expansions off silently
KEY_DIGITS = 16  # %k expands to the first 16 hex digits of the peer key
MIN_KEY_DIGITS = 8  # fewest key digits a %k name must keep, see validate_interface

STATUS_SOCKET_DIR = "/run/fastd"

PEER_KEYS = ("name", "key", "remotes", "float", "comment")
PEER_GROUP_KEYS = ("name", "peer_limit", "peers")
REQUIRED_INSTANCE_KEYS = ("name", "port", "interface")
# Every key of a fastd_instances item with its default (None: unset).
INSTANCE_DEFAULTS = {
    "name": None,
    "port": None,
    "interface": None,
    "mode": "multitap",
    "methods": ["salsa2012+umac"],
    "offload_l2tp": False,
    "mtu": 1312,
    "bind": ["any"],
    "peer_limit": None,
    "peers": [],
    "peer_groups": [],
    "on_verify": None,
    "log_level": None,
    "drop_capabilities": None,
    "packet_mark": None,
    "hide_ip_addresses": False,
    "secret": None,
    "mesh": None,  # where per-peer interfaces go, checked by module_utils/mesh.py
}

_INSTANCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_PEER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_IFNAME_TEXT = re.compile(r"^[A-Za-z0-9_.-]*$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$")
_REMOTE = re.compile(
    r'^(?:(?P<af>ipv4|ipv6)\s+)?'
    r'(?:"(?P<host>[^"\\]*)"|\[(?P<v6>[^\]]*)\]|(?P<v4>[0-9.]+))'
    r'(?::|\s+port\s+)(?P<port>[0-9]+)$')
_SECRET_LINE = re.compile(r'^\s*secret\s+"([0-9a-fA-F]{64})"\s*;\s*$', re.M)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _type(value):
    return "null" if value is None else type(value).__name__


def _sibling(var, key):
    """``fastd_instances[0].methods`` -> ``fastd_instances[0].<key>``."""
    head, sep, _tail = var.rpartition(".")
    return head + sep + key if sep else key


def _choices(values):
    return ", ".join(values)


def quote(value):
    """Quote a string for a fastd config file (fastd's lexer knows ``\\`` escapes)."""
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def status_socket_path(instance):
    """Where the collection puts the status socket of instance ``instance``."""
    return os.path.join(STATUS_SOCKET_DIR, instance + ".sock")


# --- methods ---------------------------------------------------------------

def validate_methods(methods, var="methods", offload_l2tp=False, mode="multitap"):
    """Check a method list (first = most preferred) and its offload setting.

    The gateway's order decides: fastd's handshake responder sends its method
    list and the node picks the first entry of that list it supports (checked
    with two fastd 22 processes: with ``null`` listed before ``null@l2tp`` a
    node offering both gets ``null``). Hence ``null@l2tp`` must precede
    ``null``.

    ``null@l2tp`` without ``offload_l2tp`` is valid: fastd 22 then handles the
    L2TP-framed packets in userspace (checked: such a connection comes up).
    ``offload_l2tp`` needs ``mode: multitap`` ("L2TP offload is available in
    multi-TAP mode only") and only ever affects ``null@l2tp`` connections, so
    offload without ``null@l2tp`` in the list is reported as a mistake.
    Duplicates are reported although fastd ignores them silently.
    """
    errors = []
    seen = {}
    if not isinstance(methods, list) or not methods:
        errors.append("%s must be a non-empty list of fastd methods, most preferred "
                      "first, e.g. ['salsa2012+umac']; got %s" % (var, _type(methods)))
        methods = []
    for index, method in enumerate(methods):
        item = "%s[%d]" % (var, index)
        if not isinstance(method, str):
            hint = (" (YAML reads a bare null as nothing: write 'null' in quotes)"
                    if method is None else "")
            errors.append("%s must be a method name (string), got %s%s" % (item, _type(method), hint))
            continue
        if method in seen:
            errors.append("%s: '%s' is listed twice (first at %s[%d]); remove the repeat"
                          % (item, method, var, seen[method]))
            continue
        seen[method] = index
        if method == "l2tp@null":
            errors.append("%s: fastd has no method 'l2tp@null' (it fails with \"method "
                          "`l2tp@null' not supported\"); the L2TP method is spelled 'null@l2tp'"
                          % item)
        elif method not in METHODS:
            close = difflib.get_close_matches(method, list(METHODS), n=1)
            hint = " (did you mean '%s'?)" % close[0] if close else ""
            errors.append("%s: '%s' is not a fastd method%s; valid methods: %s"
                          % (item, method, hint, _choices(METHODS)))
    if "null" in seen and "null@l2tp" in seen and seen["null"] < seen["null@l2tp"]:
        errors.append("%s[%d]: 'null' comes before 'null@l2tp' (%s[%d]); the gateway's order "
                      "decides, so nodes offering both would get 'null' and never L2TP; "
                      "list 'null@l2tp' first"
                      % (var, seen["null"], var, seen["null@l2tp"]))
    if offload_l2tp is True:
        offload_var = _sibling(var, "offload_l2tp")
        if mode in MODES and mode != "multitap":  # an unknown mode is reported elsewhere
            errors.append("%s: L2TP offload works in multitap mode only; set %s: multitap "
                          "or offload_l2tp: false" % (offload_var, _sibling(var, "mode")))
        if methods and not any(m in seen for m in OFFLOAD_METHODS):
            errors.append("%s: offload only applies to 'null@l2tp' connections, but %s does "
                          "not list it; add 'null@l2tp' or set offload_l2tp: false"
                          % (offload_var, var))
    return errors


def min_fastd_version(methods):
    """The oldest fastd release the collection supports that knows all ``methods``."""
    since = [METHODS[m]["since"] or 0 for m in methods if m in METHODS]
    return max([MIN_FASTD_VERSION] + since)


# --- interface names -------------------------------------------------------

def _split_pattern(pattern):
    """Return (prefix, placeholder or None, suffix)."""
    pos = pattern.find("%")
    if pos < 0:
        return pattern, None, ""
    return pattern[:pos], pattern[pos:pos + 2], pattern[pos + 2:]


def interface_name(pattern, name=None, key=None):
    """Expand an interface pattern the way fastd does (truncated to 15 characters)."""
    prefix, placeholder, suffix = _split_pattern(pattern)
    middle = ""
    if placeholder == "%n":
        middle = name
    elif placeholder == "%k":
        middle = key.lower()[:KEY_DIGITS]
    return (prefix + middle + suffix)[:IFNAME_MAX]


def validate_interface(pattern, mode, var="interface", has_on_verify=False,
                       peer_names=(), peer_keys=()):
    """Check an ``interface`` value against what fastd and Linux make of it.

    tap: one plain name of at most 15 characters. multitap: a pattern with
    exactly one of ``%n`` (peer name) or ``%k`` (key); fastd ignores a plain
    name in multitap mode and the kernel picks ``tapN`` names instead.

    fastd expands the pattern and silently cuts the result to 15 characters
    (``snprintf(ifname, IFNAMSIZ, ...)`` in src/iface.c; seen on fastd 22:
    ``fft-%k`` gives ``fft-84ddcfa9c88``). So:

    * ``%n``: prefix + longest configured peer name + suffix must fit in 15;
      otherwise names are cut and may collide. Peers accepted by ``on verify``
      have no name, so ``%n`` cannot be combined with ``on_verify``.
    * ``%k``: the 16 key digits never fit, truncation is the normal case.
      Any text after ``%k`` is always cut off, so it is an error. What counts
      is how many key digits survive (15 - len(prefix)): at least
      ``MIN_KEY_DIGITS`` (8, i.e. a prefix of at most 7 characters). 8 hex
      digits are 32 bits: among 1,000 unknown peers the chance that two share
      a name is about 1e-4 (1 % at 10,000); a clash only keeps the second
      peer from connecting. Configured peers (``peer_keys``) are checked
      exactly: two keys that give the same name are an error.
    """
    errors = []
    if not isinstance(pattern, str) or not pattern:
        return ["%s must be a non-empty string, e.g. 'fft-%%k'" % var]
    if pattern.count("%") > 1:
        return ["%s: '%s' has more than one placeholder; fastd allows exactly one of %%n "
                "(peer name) or %%k (peer key)" % (var, pattern)]
    prefix, placeholder, suffix = _split_pattern(pattern)
    if placeholder is not None and placeholder not in ("%n", "%k"):
        return ["%s: '%s' has the unknown placeholder '%s'; fastd knows %%n (peer name) "
                "and %%k (peer key)" % (var, pattern, placeholder)]
    if not _IFNAME_TEXT.match(prefix + suffix):
        return ["%s: '%s' may contain only letters, digits, '_', '.' and '-' besides the "
                "placeholder" % (var, pattern)]
    if mode == "tap":
        if placeholder:
            errors.append("%s: '%s' uses %s, but tap mode has one interface for all peers; "
                          "use a plain name such as 'mesh-vpn', or mode: multitap"
                          % (var, pattern, placeholder))
        elif len(pattern) > IFNAME_MAX or pattern in (".", ".."):
            errors.append("%s: '%s' is not a valid Linux interface name (at most %d characters)"
                          % (var, pattern, IFNAME_MAX))
        return errors
    if mode != "multitap":
        return errors
    if placeholder is None:
        errors.append("%s: '%s' has no placeholder; in multitap mode each peer gets its own "
                      "interface, so use %%k or %%n, e.g. 'fft-%%k'" % (var, pattern))
    elif placeholder == "%n":
        if has_on_verify:
            errors.append("%s: '%s' uses %%n, but peers accepted by on_verify have no name; "
                          "use %%k" % (var, pattern))
        room = IFNAME_MAX - len(prefix) - len(suffix)
        names = [n for n in peer_names if isinstance(n, str)]
        longest = max(names, key=len) if names else None
        if room < 1:
            errors.append("%s: '%s' leaves no room for the peer name within %d characters"
                          % (var, pattern, IFNAME_MAX))
        elif longest is not None and len(longest) > room:
            errors.append("%s: '%s' expands to %d characters for peer '%s', but interface "
                          "names have at most %d and fastd cuts the rest off (names may "
                          "collide); with this pattern peer names may have at most %d "
                          "characters" % (var, pattern, len(prefix) + len(longest) + len(suffix),
                                          longest, IFNAME_MAX, room))
    else:
        digits = min(KEY_DIGITS, IFNAME_MAX - len(prefix))
        if suffix:
            errors.append("%s: '%s' has text after %%k, which is always cut off: %%k expands "
                          "to %d hex digits and fastd truncates names to %d characters"
                          % (var, pattern, KEY_DIGITS, IFNAME_MAX))
        elif digits < MIN_KEY_DIGITS:
            errors.append("%s: '%s' keeps only %d hex digits of the key after truncation to "
                          "%d characters (collision risk); use at most %d characters before %%k"
                          % (var, pattern, max(digits, 0), IFNAME_MAX,
                             IFNAME_MAX - MIN_KEY_DIGITS))
        else:
            names = list(peer_names) or [None] * len(peer_keys)
            seen = {}
            for name, key in zip(names, peer_keys):
                if not (isinstance(key, str) and _HEX64.match(key)):
                    continue
                label = name if isinstance(name, str) else key
                ifname = interface_name(pattern, key=key)
                other = seen.setdefault(ifname, (label, key.lower()))
                if other[1] != key.lower():  # the same key twice is reported elsewhere
                    errors.append("%s: peers '%s' and '%s' would both get interface '%s' "
                                  "(keys agree in the first %d digits); use a shorter prefix"
                                  % (var, other[0], label, ifname, digits))
    return errors


# --- keys, names, remotes, peers ------------------------------------------

def validate_key(key, var="key", what="public key"):
    if isinstance(key, str) and _HEX64.match(key):
        return []
    if what == "secret":  # never echo a secret
        return ["%s must be a fastd secret key: 64 hexadecimal digits" % var]
    return ["%s must be a fastd %s: 64 hexadecimal digits, got %s"
            % (var, what, repr(key) if isinstance(key, str) else _type(key))]


def validate_peer_name(name, var="name"):
    """Peer names are file names in the peers directory and fastd's peer names:
    1-63 characters, letters, digits, '_', '.', '-', starting with a letter or
    digit (so never '.', '..', a dotfile, or a '~' backup file, which fastd
    skips when it reads a peers directory)."""
    if isinstance(name, str) and _PEER_NAME.match(name):
        return []
    return ["%s must be a peer name: 1-63 letters, digits, '_', '.' or '-', starting with "
            "a letter or digit; got %s" % (var, repr(name) if isinstance(name, str) else _type(name))]


def parse_remote(remote):
    """Parse a fastd ``remote`` value, in the forms fastd's config grammar takes::

        "gw01.example.org" port 10000     (also "host":10000, ipv4/ipv6 "host" ...)
        192.0.2.1:10000                   (also 192.0.2.1 port 10000)
        [2001:db8::1]:10000               (also [fe80::1%eth0]:10000)

    Return the canonical form, or raise ValueError saying what is wrong.
    """
    match = _REMOTE.match(remote.strip()) if isinstance(remote, str) else None
    if not match:
        raise ValueError("expected '\"host\" port N', 'IPv4:N' or '[IPv6]:N'")
    af, host, v6, v4 = match.group("af"), match.group("host"), match.group("v6"), match.group("v4")
    port = int(match.group("port"))
    if not 1 <= port <= 65535:
        raise ValueError("port %d is not in 1..65535" % port)
    if host is not None:
        if not _HOSTNAME.match(host):
            raise ValueError("'%s' is not a host name" % host)
        text = '"%s" port %d' % (host, port)
    elif v4 is not None:
        try:
            ipaddress.IPv4Address(v4)
        except ValueError:
            raise ValueError("'%s' is not an IPv4 address" % v4)
        if af == "ipv6":
            raise ValueError("'ipv6' before an IPv4 address")
        text = "%s:%d" % (v4, port)
    else:
        addr, _pct, scope = v6.partition("%")
        try:
            ipaddress.IPv6Address(addr)
        except ValueError:
            raise ValueError("'%s' is not an IPv6 address" % addr)
        if _pct and not (scope and _IFNAME_TEXT.match(scope)):
            raise ValueError("'%s' has an invalid scope" % v6)
        if af == "ipv4":
            raise ValueError("'ipv4' before an IPv6 address")
        text = "[%s]:%d" % (v6, port)
    return ("%s %s" % (af, text)) if af else text


def _peer_entries(peers, var):
    """Check each peer on its own; return (errors, [(path, name, key)])."""
    errors, entries = [], []
    if not isinstance(peers, list):
        return ["%s must be a list of peers ({name, key, remotes, float, comment}), got %s"
                % (var, _type(peers))], entries
    for index, peer in enumerate(peers):
        path = "%s[%d]" % (var, index)
        if not isinstance(peer, dict):
            errors.append("%s must be a dict with name and key, got %s" % (path, _type(peer)))
            continue
        errors.extend(unknown_keys(peer, PEER_KEYS, path))
        for required in ("name", "key"):
            if required not in peer:
                errors.append("%s.%s is required" % (path, required))
        if "name" in peer:
            errors.extend(validate_peer_name(peer["name"], path + ".name"))
        if "key" in peer:
            errors.extend(validate_key(peer["key"], path + ".key"))
        remotes = peer.get("remotes", [])
        if not isinstance(remotes, list):
            errors.append("%s.remotes must be a list of strings, got %s" % (path, _type(remotes)))
            remotes = []
        for rindex, remote in enumerate(remotes):
            try:
                parse_remote(remote)
            except ValueError as exc:
                errors.append("%s.remotes[%d]: %s is not a fastd remote: %s"
                              % (path, rindex, repr(remote), exc))
        if not isinstance(peer.get("float", False), bool):
            errors.append("%s.float must be a boolean" % path)
        if not isinstance(peer.get("comment", ""), str):
            errors.append("%s.comment must be a string" % path)
        entries.append((path, peer.get("name"), peer.get("key")))
    return errors, entries


def _duplicate_errors(entries):
    errors, names, keys = [], {}, {}
    for path, name, key in entries:
        if isinstance(name, str):
            if name in names:
                errors.append("%s.name: '%s' is already used by %s" % (path, name, names[name]))
            else:
                names[name] = path
        if isinstance(key, str) and _HEX64.match(key):
            if key.lower() in keys:
                errors.append("%s.key: the same key as %s" % (path, keys[key.lower()]))
            else:
                keys[key.lower()] = path
    return errors


def validate_peers(peers, var="peers"):
    """Check a peer list: each peer, plus unique names and keys."""
    errors, entries = _peer_entries(peers, var)
    return errors + _duplicate_errors(entries)


def render_peer(peer):
    """The text of a peer file, for a peer that passed validate_peers."""
    lines = [("# " + line).rstrip() for line in peer.get("comment", "").splitlines()]
    lines.append('key "%s";' % peer["key"].lower())
    lines.extend("remote %s;" % parse_remote(r) for r in peer.get("remotes", []))
    if peer.get("float"):
        lines.append("float yes;")
    return "\n".join(lines) + "\n"


def parse_secret(text):
    """The secret of a ``secret "...";`` file, or None."""
    match = _SECRET_LINE.search(text)
    return match.group(1).lower() if match else None


def render_secret(secret):
    return 'secret "%s";\n' % secret.lower()


# --- instances -------------------------------------------------------------

def instance_with_defaults(instance):
    """An instance dict with every optional key filled in from INSTANCE_DEFAULTS."""
    merged = {k: (list(v) if isinstance(v, list) else v) for k, v in INSTANCE_DEFAULTS.items()}
    merged.update(instance)
    return merged


def _bind_address(value):
    """Return 'any' or an ipaddress object; raise ValueError."""
    if value == "any":
        return value
    text = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    return ipaddress.ip_address(text)


def _binds_overlap(a, b):
    if a == "any" or b == "any":
        return True
    if a.version != b.version:
        return False
    return a == b or a.is_unspecified or b.is_unspecified


def _check_int(errors, value, var, low, high, allow_none=False):
    if value is None and allow_none:
        return
    if not _is_int(value) or not low <= value <= high:
        limit = "%d..%d" % (low, high) if high is not None else ">= %d" % low
        errors.append("%s must be an integer %s%s, got %s"
                      % (var, limit, " or null" if allow_none else "",
                         value if _is_int(value) else _type(value)))


def _validate_instance(inst, var):
    errors = []
    errors.extend(unknown_keys(inst, INSTANCE_DEFAULTS, var))
    for key in REQUIRED_INSTANCE_KEYS:
        if key not in inst:
            errors.append("%s.%s is required" % (var, key))
    cfg = instance_with_defaults(inst)
    if "name" in inst and not (isinstance(cfg["name"], str) and _INSTANCE_NAME.match(cfg["name"])):
        errors.append("%s.name must be 1-32 characters a-z, 0-9, '_' or '-', starting with a "
                      "letter or digit (it names /etc/fastd/<name> and fastd@<name>); got %s"
                      % (var, repr(cfg["name"])))
    mode = cfg["mode"]
    if mode not in MODES:
        errors.append("%s.mode must be one of %s, got %s" % (var, _choices(MODES), repr(mode)))
    offload = cfg["offload_l2tp"]
    if not isinstance(offload, bool):
        errors.append("%s.offload_l2tp must be a boolean" % var)
    errors.extend(validate_methods(cfg["methods"], var + ".methods", offload is True, mode))
    _check_int(errors, cfg["mtu"], var + ".mtu", MTU_MIN, MTU_MAX)
    if "port" in inst:
        _check_int(errors, cfg["port"], var + ".port", 1, 65535)
    binds = cfg["bind"]
    if not isinstance(binds, list) or not binds:
        errors.append("%s.bind must be a non-empty list of addresses ('any', IPv4 or IPv6; "
                      "the port is set by %s.port)" % (var, var))
    else:
        for index, value in enumerate(binds):
            try:
                if not isinstance(value, str):
                    raise ValueError
                _bind_address(value)
            except ValueError:
                errors.append("%s.bind[%d]: %s is not 'any' or an IP address (without port; "
                              "the port is set by %s.port)" % (var, index, repr(value), var))
    _check_int(errors, cfg["peer_limit"], var + ".peer_limit", 0, 2 ** 31 - 1, allow_none=True)
    peer_errors, entries = _peer_entries(cfg["peers"], var + ".peers")
    errors.extend(peer_errors)
    peers = [p for p in cfg["peers"] if isinstance(p, dict)] if isinstance(cfg["peers"], list) else []
    groups = cfg["peer_groups"]
    if not isinstance(groups, list):
        errors.append("%s.peer_groups must be a list of {name, peer_limit, peers}" % var)
        groups = []
    group_names = {}
    for index, group in enumerate(groups):
        gvar = "%s.peer_groups[%d]" % (var, index)
        if not isinstance(group, dict):
            errors.append("%s must be a dict with name, peer_limit, peers" % gvar)
            continue
        errors.extend(unknown_keys(group, PEER_GROUP_KEYS, gvar))
        name_errors = validate_peer_name(group.get("name"), gvar + ".name")
        errors.extend(name_errors)
        if not name_errors:
            if group["name"] in group_names:
                errors.append("%s.name: '%s' is already used by %s"
                              % (gvar, group["name"], group_names[group["name"]]))
            group_names.setdefault(group["name"], gvar)
        _check_int(errors, group.get("peer_limit"), gvar + ".peer_limit", 0, 2 ** 31 - 1,
                   allow_none=True)
        group_errors, group_entries = _peer_entries(group.get("peers", []), gvar + ".peers")
        errors.extend(group_errors)
        entries.extend(group_entries)
        if isinstance(group.get("peers"), list):
            peers.extend(p for p in group["peers"] if isinstance(p, dict))
    errors.extend(_duplicate_errors(entries))
    on_verify = cfg["on_verify"]
    if not (on_verify is None or isinstance(on_verify, bool)
            or (isinstance(on_verify, str) and on_verify.strip())):
        errors.append("%s.on_verify must be null, true (accept every peer) or a command" % var)
    if mode in MODES:
        names = [p.get("name") for p in peers]
        keys = [p.get("key") for p in peers]
        errors.extend(validate_interface(cfg["interface"], mode, var + ".interface",
                                         has_on_verify=bool(on_verify), peer_names=names,
                                         peer_keys=keys) if "interface" in inst else [])
    if cfg["log_level"] is not None and cfg["log_level"] not in LOG_LEVELS:
        errors.append("%s.log_level must be one of %s, got %s"
                      % (var, _choices(LOG_LEVELS), repr(cfg["log_level"])))
    drop = cfg["drop_capabilities"]
    if not (drop is None or isinstance(drop, bool) or drop in DROP_CAPABILITIES):
        errors.append("%s.drop_capabilities must be one of %s (or a boolean), got %s"
                      % (var, _choices(DROP_CAPABILITIES), repr(drop)))
    _check_int(errors, cfg["packet_mark"], var + ".packet_mark", 0, 2 ** 32 - 1, allow_none=True)
    if not isinstance(cfg["hide_ip_addresses"], bool):
        errors.append("%s.hide_ip_addresses must be a boolean" % var)
    errors.extend(validate_mesh(cfg["mesh"], var + ".mesh"))
    if cfg["secret"] is not None:
        errors.extend(validate_key(cfg["secret"], var + ".secret", what="secret"))
    return errors


def validate_instances(instances, var="fastd_instances"):
    """Check ``fastd_instances``: every instance, then the rules across them
    (unique names; no two instances on the same port with overlapping bind
    addresses; no two multitap instances with the same interface prefix or
    tap instances with the same interface)."""
    if not isinstance(instances, list):
        return ["%s must be a list of instances, got %s" % (var, _type(instances))]
    errors = []
    names, sockets, ifnames = {}, [], {}
    for index, inst in enumerate(instances):
        ivar = "%s[%d]" % (var, index)
        if not isinstance(inst, dict):
            errors.append("%s must be a dict, got %s" % (ivar, _type(inst)))
            continue
        own = _validate_instance(inst, ivar)
        errors.extend(own)
        name = inst.get("name")
        if isinstance(name, str):
            if name in names:
                errors.append("%s.name: '%s' is already used by %s" % (ivar, name, names[name]))
            else:
                names[name] = ivar
        port, binds = inst.get("port"), inst.get("bind", INSTANCE_DEFAULTS["bind"])
        if _is_int(port) and isinstance(binds, list):
            for bind in binds:
                try:
                    addr = _bind_address(bind)
                except (ValueError, AttributeError):
                    continue
                for other_var, other_port, other_bind, other_addr in sockets:
                    if other_var != ivar and other_port == port and _binds_overlap(addr, other_addr):
                        errors.append("%s: binds %s port %d, which overlaps %s (%s port %d)"
                                      % (ivar, bind, port, other_var, other_bind, port))
                        break
                sockets.append((ivar, port, bind, addr))
        pattern = inst.get("interface")
        if isinstance(pattern, str) and pattern.count("%") <= 1:
            fixed = _split_pattern(pattern)
            if fixed in ifnames:
                errors.append("%s.interface: '%s' gives the same interface names as %s.interface"
                              % (ivar, pattern, ifnames[fixed]))
            else:
                ifnames[fixed] = ivar
    return errors


# --- status socket ---------------------------------------------------------

def parse_status(doc):
    """Normalize a fastd status socket document (JSON text, bytes or dict).

    Times become seconds. fastd reports the interface at the top in tap mode
    and per peer in multitap mode (null for offloaded peers in v22, fixed in
    v23); each peer here gets the interface it uses. ``mtu`` per peer exists
    in v23 only (null otherwise).
    """
    if isinstance(doc, (bytes, bytearray)):
        doc = doc.decode("utf-8")
    if isinstance(doc, str):
        doc = json.loads(doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("peers"), dict):
        raise ValueError("not a fastd status document (no 'peers' object)")
    top_interface = doc.get("interface")
    peers = []
    for key, info in doc["peers"].items():
        conn = info.get("connection")
        peers.append({
            "key": key,
            "name": info.get("name"),
            "address": info.get("address"),
            "interface": info.get("interface", top_interface),
            "mtu": info.get("mtu"),
            "connected": conn is not None,
            "method": conn.get("method") if conn else None,
            "established": conn["established"] / 1000.0 if conn and conn.get("established") is not None else None,
            "statistics": conn.get("statistics") if conn else None,
            "mac_addresses": conn.get("mac_addresses", []) if conn else [],
        })
    peers.sort(key=lambda p: (p["name"] is None, p["name"] or "", p["key"]))
    uptime = doc.get("uptime")
    return {
        "uptime": uptime / 1000.0 if uptime is not None else None,
        "interface": top_interface,
        "statistics": doc.get("statistics"),
        "peers": peers,
        "count": len(peers),
        "connected": sum(1 for p in peers if p["connected"]),
        "methods": method_counts(peers),
    }


def method_counts(peers):
    """{method: number of connected peers using it} for parse_status peers."""
    counts = {}
    for peer in peers:
        if peer.get("connected") and peer.get("method"):
            counts[peer["method"]] = counts.get(peer["method"], 0) + 1
    return counts


def count_connected(status, method=None):
    """Connected peers in a parse_status result, optionally only with ``method``."""
    if method is None:
        return status["connected"]
    return status["methods"].get(method, 0)


# --- files -----------------------------------------------------------------

def parse_mode(mode):
    """A file mode given as octal string ('0644') or int; raise ValueError."""
    if _is_int(mode):
        value = mode
    elif isinstance(mode, str) and re.match(r"^0?[0-7]{3,4}$", mode):
        value = int(mode, 8)
    else:
        raise ValueError("mode must be an octal string such as '0644', got %r" % (mode,))
    if not 0 <= value <= 0o7777:
        raise ValueError("mode %o is out of range" % value)
    return value


def atomic_write(path, data, mode, fsync=False):
    """Write ``data`` (bytes) to ``path`` through a hidden temporary file in the
    same directory that has ``mode`` before any byte is written, then rename."""
    directory, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".", dir=directory or ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
