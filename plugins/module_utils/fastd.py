# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the collection knows about fastd (v22 and later), as plain functions:
the method catalogue, the schema of ``fastd_instances`` and its validation.

Every ``validate_*`` function returns a list of error strings, one per
mistake, each naming the variable path (``fastd_instances[0].methods[2]``) and
saying what would be valid. Nothing here talks to Ansible, so the same rules
serve the modules on the gateway and any controller-side plugin. Rendering
(text fastd reads) is in fastd_render.py, the status socket in
fastd_status.py, the rules shared with other settings in rules.py.

Every value that reaches fastd.conf, a peer file or a hook command line is
checked whole against what it may be (``re.fullmatch``; no control
characters), so a validated value can never end a statement early.

Facts were checked against fastd 22 (Debian 12) with ``fastd --verify-config``
and by running two fastd processes against each other on 127.0.0.1; the
source references are to https://github.com/neocturne/fastd (tag v22/v23).

IP addresses are parsed with the standard library's ``ipaddress`` rather than
netaddr: these helpers run inside modules on the gateways, and ``ipaddress``
needs nothing installed there.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import math
import re

from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_hooks import validate_commands
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_sources import validate_peer_sources
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_status import status_socket_path, validate_status_socket
from ansible_collections.freifunk.gateway.plugins.module_utils.mesh import normalize_mesh, validate_mesh
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import (
    IFNAME_MAX,
    IFNAME_RULE,
    as_int,
    bool_errors,
    control_errors,
    describe,
    instance_head,
    name_taken_errors,
    int_errors,
    one_of_errors,
    is_scope,
    to_int,
    type_name,
    unknown_keys,
)

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
# "chacha20-poly1305", "aes128-ctr+gmac", "l2tp@null", and REMOVED_METHODS.
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

# Methods older configurations name that fastd no longer has, with the
# release that removed them and the methods that protect as much. Source:
# fastd's release notes, doc/source/releases/v19.rst ("The deprecated
# xsalsa20-poly1305 method has been removed; salsa20+poly1305 and various
# faster methods exist since fastd v11"). It is the only method the notes
# (v15-v23) or the history since v10 (git log -S) show removed.
REMOVED_METHODS = {
    "xsalsa20-poly1305": {"release": 19, "use": ("salsa20+poly1305", "salsa2012+umac")},
}
# "<cipher>+cipher-test" (src/methods/cipher_test, still in fastd 22 and 23)
# encrypts without any authentication; fastd logs that it "must be used for
# testing and benchmarks only". Debian's fastd 22 is built without it
# ("method ... not supported").
TEST_METHOD_SUFFIX = "+cipher-test"

MODES = ("tap", "multitap")
# fastd's levels, most severe first (src/config.y, log_level; fastd 22 and 23)
LOG_LEVELS = ("fatal", "error", "warn", "info", "verbose", "debug", "debug2")
DROP_CAPABILITIES = ("yes", "no", "early", "force")
MTU_MIN, MTU_MAX = 576, 65535
PEER_LIMIT_MAX = 2 ** 31 - 1  # fastd: "invalid peer limit" above INT_MAX
PACKET_MARK_MAX = 2 ** 32 - 1

KEY_DIGITS = 16  # %k expands to the first 16 hex digits of the peer key
MIN_KEY_DIGITS = 8  # fewest key digits a %k name must keep, see validate_interface

PEER_KEYS = ("name", "key", "remotes", "float", "comment")
PEER_GROUP_KEYS = ("name", "peer_limit", "peers")
REQUIRED_INSTANCE_KEYS = ("name", "port", "interface")  # of a present instance
# Every key of a fastd_instances item with its default (None: unset).
INSTANCE_DEFAULTS = {
    "name": None,
    "state": "present",  # absent: the role stops and removes the instance
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
    "hide_mac_addresses": False,
    "status_socket": None,  # None: /run/fastd/<name>.sock
    "secret": None,
    "secret_name": None,  # instances with the same secret_name share one key
    "peer_sources": [],  # git repositories and directories of peer files
    "on_up": [],  # extra commands after the mesh hook
    "on_down": [],  # extra commands before the mesh hook (module_utils/fastd_hooks.py)
    "mesh": None,  # where per-peer interfaces go, checked by module_utils/mesh.py
}
INT_KEYS = ("port", "mtu", "peer_limit", "packet_mark")  # normalized to int

# All patterns are used with fullmatch: "$" also matches before a final "\n".
_PEER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_IFNAME_TEXT = re.compile(r"[A-Za-z0-9_.-]*")
_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?\Z)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?")
_REMOTE = re.compile(
    r'(?:(?P<af>ipv4|ipv6) +)?'
    r'(?:"(?P<host>[^"\\]*)"|\[(?P<v6>[^\]]*)\]|(?P<v4>[0-9.]+))'
    r'(?::| +port +)(?P<port>[0-9]{1,5})')


def is_hex_key(value):
    """Whether ``value`` is 64 hexadecimal digits (a fastd public or secret key)."""
    return isinstance(value, str) and bool(_HEX64.fullmatch(value))


_P25519 = 2 ** 255 - 19


def _jacobi(a, n):
    """The Jacobi symbol (a/n) for odd n > 0; for a prime n the Legendre symbol."""
    a %= n
    result = 1
    while a:
        zeros = (a & -a).bit_length() - 1
        a >>= zeros
        if zeros & 1 and n & 7 in (3, 5):
            result = -result
        if a & n & 3 == 3:
            result = -result
        a, n = n % a, a
    return result if n == 1 else 0


def is_public_key(value):
    """Whether fastd accepts ``value`` as a peer's public key.

    64 hex digits are not enough: fastd (ec25519-fhmqvc) loads the key with
    libuecc's ``ecc_25519_load_packed_legacy``, which reads the X coordinate
    (255 bits, little endian) and fails unless
    Y^2 = (1 - 486664 X^2) / (1 - 486660 X^2) has a square root mod 2^255-19;
    fastd then logs "no valid key configured for peer" and ignores the peer.
    About half of all 64-digit strings fail, so a typo usually does. A
    quotient is a square exactly when the product is (and a zero divisor
    makes Y^2 zero in libuecc, which passes)."""
    return is_hex_key(value) and _on_curve(str(value).lower())


@functools.lru_cache(maxsize=65536)  # the filters and modules check the same keys again
def _on_curve(hex_key):
    x = int.from_bytes(bytes.fromhex(hex_key), "little") & ((1 << 255) - 1)
    x2 = x * x % _P25519
    return _jacobi((1 - 486664 * x2) * (1 - 486660 * x2), _P25519) >= 0


def _sibling(var, key):
    """``fastd_instances[0].methods`` -> ``fastd_instances[0].<key>``."""
    head, sep, _tail = var.rpartition(".")
    return head + sep + key if sep else key


def _choices(values):
    return ", ".join(values)


# --- methods ---------------------------------------------------------------

def validate_methods(methods, var="methods", offload_l2tp=False, mode="multitap"):
    """Check a method list (first = most preferred) and its offload setting.

    The gateway's order decides: fastd's handshake responder sends its method
    list and the node picks the first entry of that list it supports (checked
    with two fastd 22 processes: with ``null`` listed before ``null@l2tp`` a
    node offering both gets ``null``). Hence ``null@l2tp`` must precede
    ``null``. Strictly, the list of the side that answers the handshake
    decides (fastd 22, ``finish_handshake`` in src/handshake.c): a node that
    connects asks, but a restarted gateway that gets a node's data starts a
    handshake of its own, and then the node's list decides until the node
    connects anew (seen in molecule/fastd_mesh; roles/fastd/README.md).

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
                      "first, e.g. ['salsa2012+umac']; got %s" % (var, describe(methods)))
        methods = []
    for index, method in enumerate(methods):
        item = "%s[%d]" % (var, index)
        if not isinstance(method, str):
            hint = (" (YAML reads a bare null as nothing: write 'null' in quotes)"
                    if method is None else "")
            errors.append("%s must be a method name (string), got %s%s" % (item, describe(method), hint))
            continue
        if method in seen:
            errors.append("%s: %r is listed twice (first at %s[%d]); remove the repeat"
                          % (item, str(method), var, seen[method]))
            continue
        seen[method] = index
        if method == "l2tp@null":
            errors.append("%s: fastd has no method 'l2tp@null' (it fails with \"method "
                          "`l2tp@null' not supported\"); the L2TP method is spelled 'null@l2tp'"
                          % item)
        elif method in REMOVED_METHODS:
            removed = REMOVED_METHODS[method]
            errors.append("%s: %r was removed in fastd v%d; use %s instead (as safe: encrypted "
                          "and authenticated), and let the nodes offer it too"
                          % (item, str(method), removed["release"],
                             " or ".join("'%s'" % m for m in removed["use"])))
        elif method.endswith(TEST_METHOD_SUFFIX) and method != TEST_METHOD_SUFFIX:
            cipher = method[:-len(TEST_METHOD_SUFFIX)]
            better = "%s+umac" % cipher if "%s+umac" % cipher in METHODS else "salsa2012+umac"
            errors.append("%s: %r is fastd's test method: it encrypts with %s but authenticates "
                          "nothing, fastd says it must be used for testing and benchmarks only, "
                          "and Debian's fastd is built without it; use '%s' instead"
                          % (item, str(method), cipher, better))
        elif method not in METHODS:
            close = difflib.get_close_matches(method, list(METHODS), n=1)
            hint = " (did you mean '%s'?)" % close[0] if close else ""
            errors.append("%s: %r is not a fastd method%s; valid methods: %s"
                          % (item, str(method), hint, _choices(METHODS)))
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


# --- interface names -------------------------------------------------------

def clash_chance(peers, digits):
    """The chance that two of ``peers`` random keys agree in their first
    ``digits`` hex digits, so that ``%k`` gives them the same interface name
    (the birthday bound: 1 - exp(-n(n-1) / (2 * 16^d))).

    Why MIN_KEY_DIGITS is 8: Gluon gateways see up to a few thousand nodes.

    ======  ============  =============
    digits  1,000 peers   10,000 peers
    ======  ============  =============
    6       2.9 %         95 %
    7       0.19 %        17 %
    8       0.012 %       1.2 %
    9       0.00073 %     0.073 %
    ======  ============  =============

    With 7 digits a large gateway would see a clash within its lifetime; with
    8 it is unlikely, and a clash only keeps the later peer from connecting
    (fastd cannot create its interface) until one of the two changes its key.
    Node keys are random (fastd --generate-key), so the bound applies."""
    space = 16.0 ** max(digits, 0)
    return -math.expm1(-peers * (peers - 1) / (2.0 * space))


def _percent(chance):
    """0.000116 -> '0.012 %', 0.95 -> '95 %' (two significant digits)."""
    percent = chance * 100
    return ("%.0f %%" % percent) if percent >= 10 else ("%s %%" % float("%.2g" % percent))


def split_pattern(pattern):
    """Return (prefix, placeholder or None, suffix)."""
    pos = pattern.find("%")
    if pos < 0:
        return pattern, None, ""
    return pattern[:pos], pattern[pos:pos + 2], pattern[pos + 2:]


def interface_name(pattern, name=None, key=None):
    """Expand an interface pattern the way fastd does (truncated to 15 characters)."""
    prefix, placeholder, suffix = split_pattern(pattern)
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
      ``MIN_KEY_DIGITS`` (8, i.e. a prefix of at most 7 characters), see
      clash_chance for the arithmetic. Configured peers (``peer_keys``) are
      checked exactly: two keys that give the same name are an error.
    """
    errors = []
    if not isinstance(pattern, str) or not pattern:
        return ["%s must be a non-empty string, e.g. 'fft-%%k'; got %s" % (var, describe(pattern))]
    if pattern.count("%") > 1:
        return ["%s: %r has more than one placeholder; fastd allows exactly one of %%n "
                "(peer name) or %%k (peer key)" % (var, pattern)]
    prefix, placeholder, suffix = split_pattern(pattern)
    if placeholder is not None and placeholder not in ("%n", "%k"):
        return ["%s: %r has the unknown placeholder %r; fastd knows %%n (peer name) "
                "and %%k (peer key)" % (var, pattern, placeholder)]
    if not _IFNAME_TEXT.fullmatch(prefix + suffix):
        return ["%s: %r may contain only letters, digits, '_', '.' and '-' besides the "
                "placeholder" % (var, str(pattern))]
    if mode == "tap":
        if placeholder:
            errors.append("%s: %r uses %s, but tap mode has one interface for all peers; "
                          "use a plain name such as 'mesh-vpn', or mode: multitap"
                          % (var, pattern, placeholder))
        elif len(pattern) > IFNAME_MAX or pattern in (".", ".."):
            errors.append("%s: %r is not a valid Linux interface name (at most %d characters)"
                          % (var, pattern, IFNAME_MAX))
        return errors
    if mode != "multitap":
        return errors
    if placeholder is None:
        errors.append("%s: %r has no placeholder: fastd accepts it in multitap mode but ignores "
                      "the name, and the kernel names the per-peer interfaces tap0, tap1, ...; "
                      "add %%k (peer key) or %%n (peer name), e.g. '%s-%%k', or use mode: tap for "
                      "one interface called %r"
                      % (var, pattern, pattern if len(pattern) < IFNAME_MAX - MIN_KEY_DIGITS else "fft",
                         pattern))
    elif placeholder == "%n":
        if has_on_verify:
            errors.append("%s: %r uses %%n, but peers accepted by on_verify have no name; "
                          "use %%k" % (var, pattern))
        room = IFNAME_MAX - len(prefix) - len(suffix)
        names = [n for n in peer_names if isinstance(n, str)]
        longest = max(names, key=len) if names else None
        if room < 1:
            errors.append("%s: %r leaves no room for the peer name within %d characters"
                          % (var, pattern, IFNAME_MAX))
        elif longest is not None and len(longest) > room:
            errors.append("%s: %r expands to %d characters for peer %r, but interface "
                          "names have at most %d and fastd cuts the rest off (names may "
                          "collide); with this pattern peer names may have at most %d "
                          "characters" % (var, pattern, len(prefix) + len(longest) + len(suffix),
                                          longest, IFNAME_MAX, room))
    else:
        digits = min(KEY_DIGITS, IFNAME_MAX - len(prefix))
        if suffix:
            errors.append("%s: %r has text after %%k, which is always cut off: %%k expands "
                          "to %d hex digits and fastd truncates names to %d characters"
                          % (var, pattern, KEY_DIGITS, IFNAME_MAX))
        elif digits < MIN_KEY_DIGITS:
            errors.append("%s: %r keeps only %d hex digits of the key after truncation to "
                          "%d characters: two of 1,000 peers would get the same interface name "
                          "with a chance of %s, two of 10,000 with %s (the second could not "
                          "connect); use at most %d characters before %%k (%d digits: %s and %s)"
                          % (var, pattern, max(digits, 0), IFNAME_MAX,
                             _percent(clash_chance(1000, digits)), _percent(clash_chance(10000, digits)),
                             IFNAME_MAX - MIN_KEY_DIGITS, MIN_KEY_DIGITS,
                             _percent(clash_chance(1000, MIN_KEY_DIGITS)),
                             _percent(clash_chance(10000, MIN_KEY_DIGITS))))
        else:
            names = list(peer_names) or [None] * len(peer_keys)
            seen = {}
            for name, key in zip(names, peer_keys):
                if not is_hex_key(key):
                    continue
                label = name if isinstance(name, str) else key
                ifname = interface_name(pattern, key=key)
                other = seen.setdefault(ifname, (label, key.lower()))
                if other[1] != key.lower():  # the same key twice is reported elsewhere
                    errors.append("%s: peers %r and %r would both get interface %r "
                                  "(keys agree in the first %d digits); use a shorter prefix"
                                  % (var, other[0], label, ifname, digits))
    return errors


# --- keys, names, remotes, peers ------------------------------------------

def validate_key(key, var="key", what="public key"):
    """A public key must be one fastd accepts (see is_public_key); a secret
    only 64 hex digits (fastd takes any), and is never shown."""
    if what == "secret":  # never echo a secret
        if is_hex_key(key):
            return []
        return ["%s must be a fastd secret key: 64 hexadecimal digits (got a %s that is not)"
                % (var, type_name(key))]
    if not is_hex_key(key):
        return ["%s must be a fastd %s: 64 hexadecimal digits, got %s" % (var, what, describe(key))]
    if not is_public_key(key):
        return ["%s: %r is not a fastd %s: fastd refuses it (\"no valid key configured\") and "
                "ignores the peer; about half of all 64-digit strings are no key, so check it "
                "for a typo" % (var, str(key), what)]
    return []


def validate_peer_name(name, var="name"):
    """Peer names are file names in the peers directory and fastd's peer names:
    1-63 characters, letters, digits, '_', '.', '-', starting with a letter or
    digit (so never '.', '..', a dotfile, or a '~' backup file, which fastd
    skips when it reads a peers directory)."""
    if isinstance(name, str) and _PEER_NAME.fullmatch(name):
        return []
    return ["%s must be a peer name: 1-63 letters, digits, '_', '.' or '-', starting with "
            "a letter or digit; got %s" % (var, describe(name))]


def parse_remote(remote):
    """Parse a fastd ``remote`` value, in the forms fastd's config grammar takes::

        "gw01.example.org" port 10000     (also "host":10000, ipv4/ipv6 "host" ...)
        192.0.2.1:10000                   (also 192.0.2.1 port 10000)
        [2001:db8::1]:10000               (also [fe80::1%eth0]:10000)

    Words are separated by spaces only; a scope after ``%`` must be an
    interface name. Return the canonical form, or raise ValueError saying
    what is wrong.
    """
    match = _REMOTE.fullmatch(remote) if isinstance(remote, str) else None
    if not match:
        raise ValueError("expected '\"host\" port N', 'IPv4:N' or '[IPv6]:N'")
    af, host, v6, v4 = match.group("af"), match.group("host"), match.group("v6"), match.group("v4")
    port = int(match.group("port"))
    if not 1 <= port <= 65535:
        raise ValueError("port %d is not in 1..65535" % port)
    if host is not None:
        if not _HOSTNAME.fullmatch(host):
            raise ValueError("%r is not a host name" % host)
        text = '"%s" port %d' % (host, port)
    elif v4 is not None:
        try:
            ipaddress.IPv4Address(v4)
        except ValueError:
            raise ValueError("%r is not an IPv4 address" % v4) from None
        if af == "ipv6":
            raise ValueError("'ipv6' before an IPv4 address")
        text = "%s:%d" % (v4, port)
    else:
        addr, pct, scope = v6.partition("%")
        try:
            ipaddress.IPv6Address(addr)
        except ValueError:
            raise ValueError("%r is not an IPv6 address" % addr) from None
        if pct and not is_scope(scope):
            raise ValueError("the scope %r of %r is not %s" % (scope, v6, IFNAME_RULE))
        if af == "ipv4":
            raise ValueError("'ipv4' before an IPv6 address")
        text = "[%s]:%d" % (v6, port)
    return ("%s %s" % (af, text)) if af else text


def _peer_entries(peers, var):
    """Check each peer on its own; return (errors, [(path, name, key)])."""
    errors, entries = [], []
    if not isinstance(peers, list):
        return ["%s must be a list of peers ({name, key, remotes, float, comment}), got %s"
                % (var, describe(peers))], entries
    for index, peer in enumerate(peers):
        path = "%s[%d]" % (var, index)
        if not isinstance(peer, dict):
            errors.append("%s must be a dict with name and key, got %s" % (path, describe(peer)))
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
            errors.append("%s.remotes must be a list of strings, got %s" % (path, describe(remotes)))
            remotes = []
        for rindex, remote in enumerate(remotes):
            try:
                parse_remote(remote)
            except ValueError as exc:
                errors.append("%s.remotes[%d]: %s is not a fastd remote: %s"
                              % (path, rindex, describe(remote), exc))
        errors.extend(bool_errors(peer.get("float", False), path + ".float"))
        comment = peer.get("comment", "")
        if not isinstance(comment, str):
            errors.append("%s.comment must be a string, got %s" % (path, describe(comment)))
        else:
            # Each line becomes a "# " line of the peer file; only "\n" may
            # break lines (fastd ends a comment at "\n" and nothing else).
            errors.extend(control_errors(comment, path + ".comment", allow="\n",
                                         what="control characters other than newline"))
        entries.append((path, peer.get("name"), peer.get("key")))
    return errors, entries


def _duplicate_errors(entries):
    errors, names, keys = [], {}, {}
    for path, name, key in entries:
        if isinstance(name, str):
            if name in names:
                errors.append("%s.name: %r is already used by %s" % (path, str(name), names[name]))
            else:
                names[name] = path
        if is_hex_key(key):
            if key.lower() in keys:
                errors.append("%s.key: the same key as %s" % (path, keys[key.lower()]))
            else:
                keys[key.lower()] = path
    return errors


def validate_peers(peers, var="peers"):
    """Check a peer list: each peer, plus unique names and keys."""
    errors, entries = _peer_entries(peers, var)
    return errors + _duplicate_errors(entries)


# --- bind addresses --------------------------------------------------------

def parse_bind(value):
    """A ``bind`` item: ``'any'``, or ``(ipaddress object, scope or None)``.

    With or without brackets; an IPv6 address may carry a scope (``%eth0``),
    which fastd reads as the interface to bind to, so it must be an interface
    name (``ipaddress`` alone accepts almost any text after ``%``). Raise
    ValueError saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError("expected 'any' or an IP address, got %s" % describe(value))
    if value == "any":
        return "any"
    text = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    host, pct, scope = text.partition("%")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("%r is not 'any' or an IP address (without port)" % str(value)) from None
    if pct:
        if addr.version != 6:
            raise ValueError("%r is not 'any' or an IP address (without port; only IPv6 "
                             "addresses have a scope)" % str(value))
        if not is_scope(scope):
            raise ValueError("the scope %r of %r is not %s" % (scope, str(value), IFNAME_RULE))
    return addr, scope or None


def binds_overlap(a, b):
    """Whether fastd binding the parsed addresses ``a`` and ``b`` (parse_bind)
    on one port fails with "Address already in use".

    Found with the real fastd 22 binary, each pair in one instance on
    127.0.0.1/::1 and a free port (tests/unit/.../test_fastd_binds.py):

    * ``any`` is one dual-stack IPv6 socket on no interface: it overlaps
      every address, also ``any`` again and a scoped ``[::1%lo]``.
    * IPv4 and IPv6 never overlap otherwise: fastd sets IPV6_V6ONLY on an
      IPv6 address (``0.0.0.0`` and ``::`` start together). An IPv4-mapped
      IPv6 address counts as IPv4 (fastd binds it so).
    * Within a family: equal addresses overlap, and a wildcard
      (``0.0.0.0``, ``::``) overlaps every address, unless both carry a
      different scope: a scope binds the socket to that interface
      (SO_BINDTODEVICE), and ``[::1%lo]`` with ``[::1%eth0]``, or ``[::%lo]``
      with ``[::%eth0]``, start together; ``[::1%lo]`` with ``[::1]`` does not.
    """
    if a == "any" or b == "any":
        return True
    (a, a_scope), (b, b_scope) = a, b
    a, b = _unmapped(a), _unmapped(b)
    if a.version != b.version:
        return False
    if a_scope is not None and b_scope is not None and a_scope != b_scope:
        return False
    return a == b or a.is_unspecified or b.is_unspecified


def _unmapped(address):
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# --- instances -------------------------------------------------------------

def _group_with_defaults(group):
    if not isinstance(group, dict):
        return group
    peers = group.get("peers", [])
    return {
        "name": group.get("name"),
        "peer_limit": to_int(group.get("peer_limit")),
        "peers": list(peers) if isinstance(peers, list) else peers,
    }


def instance_with_defaults(instance):
    """A valid instance dict with every key filled in from INSTANCE_DEFAULTS,
    integers (given as int or as a string of digits) as int, each peer group
    with name, peer_limit and peers, and mesh with every key."""
    merged = {k: (list(v) if isinstance(v, list) else v) for k, v in INSTANCE_DEFAULTS.items()}
    merged.update(instance)
    for key in INT_KEYS:
        merged[key] = to_int(merged[key])
    if isinstance(merged["peer_groups"], list):
        merged["peer_groups"] = [_group_with_defaults(g) for g in merged["peer_groups"]]
    if isinstance(merged["mesh"], dict):
        merged["mesh"] = normalize_mesh(merged["mesh"])
    return merged


def _validate_on_verify(on_verify, var):
    if on_verify is None or isinstance(on_verify, bool):
        return []
    if isinstance(on_verify, str) and on_verify.strip():
        # fastd hands the command to /bin/sh: one line, no control characters
        return control_errors(on_verify, var)
    return ["%s must be null, true (accept every peer) or a command, got %s"
            % (var, describe(on_verify))]


def _validate_groups(groups, var, entries, peers):
    errors = []
    if not isinstance(groups, list):
        return ["%s must be a list of {name, peer_limit, peers}, got %s" % (var, describe(groups))]
    group_names = {}
    for index, group in enumerate(groups):
        gvar = "%s[%d]" % (var, index)
        if not isinstance(group, dict):
            errors.append("%s must be a dict with name, peer_limit, peers, got %s"
                          % (gvar, describe(group)))
            continue
        errors.extend(unknown_keys(group, PEER_GROUP_KEYS, gvar))
        name_errors = validate_peer_name(group.get("name"), gvar + ".name")
        errors.extend(name_errors)
        if not name_errors:
            errors.extend(name_taken_errors(group["name"], gvar, group_names))
        errors.extend(int_errors(group.get("peer_limit"), gvar + ".peer_limit", 0, PEER_LIMIT_MAX,
                                 allow_none=True))
        group_errors, group_entries = _peer_entries(group.get("peers", []), gvar + ".peers")
        errors.extend(group_errors)
        entries.extend(group_entries)
        if isinstance(group.get("peers"), list):
            peers.extend(p for p in group["peers"] if isinstance(p, dict))
    return errors


def _validate_binds(binds, var):
    if not isinstance(binds, list) or not binds:
        return ["%s.bind must be a non-empty list of addresses ('any', IPv4 or IPv6; "
                "the port is set by %s.port), got %s" % (var, var, describe(binds))]
    errors, parsed = [], []
    for index, value in enumerate(binds):
        try:
            address = parse_bind(value)
        except ValueError as exc:
            errors.append("%s.bind[%d]: %s; the port is set by %s.port" % (var, index, exc, var))
            continue
        for other, other_value, other_address in parsed:
            if binds_overlap(address, other_address):
                why = ("'any' takes the port on every IPv4 and IPv6 address"
                       if "any" in (value, other_value) else
                       "the same address" if value == other_value else
                       "a wildcard address takes the port on every address of its family")
                errors.append("%s.bind[%d]: %s overlaps %s.bind[%d] (%s): %s, and fastd binds each "
                              "with its own socket, so it would fail at start with \"Address already "
                              "in use\"; keep only one of them" % (var, index, value, var, other,
                                                                   other_value, why))
                break
        parsed.append((index, value, address))
    return errors


def _validate_instance(inst, var):
    errors, cfg, _absent = instance_head(inst, INSTANCE_DEFAULTS, REQUIRED_INSTANCE_KEYS, var,
                                         "/etc/fastd/<name> and fastd@<name>")
    mode = cfg["mode"]
    errors.extend(one_of_errors(mode, MODES, var + ".mode"))
    offload = cfg["offload_l2tp"]
    errors.extend(bool_errors(offload, var + ".offload_l2tp"))
    errors.extend(validate_methods(cfg["methods"], var + ".methods", offload is True, mode))
    errors.extend(int_errors(cfg["mtu"], var + ".mtu", MTU_MIN, MTU_MAX))
    if "port" in inst:
        errors.extend(int_errors(cfg["port"], var + ".port", 1, 65535))
    errors.extend(_validate_binds(cfg["bind"], var))
    errors.extend(int_errors(cfg["peer_limit"], var + ".peer_limit", 0, PEER_LIMIT_MAX,
                             allow_none=True))
    peer_errors, entries = _peer_entries(cfg["peers"], var + ".peers")
    errors.extend(peer_errors)
    peers = [p for p in cfg["peers"] if isinstance(p, dict)] if isinstance(cfg["peers"], list) else []
    errors.extend(_validate_groups(cfg["peer_groups"], var + ".peer_groups", entries, peers))
    errors.extend(_duplicate_errors(entries))
    on_verify = cfg["on_verify"]
    errors.extend(_validate_on_verify(on_verify, var + ".on_verify"))
    if mode in MODES and "interface" in inst:
        errors.extend(validate_interface(cfg["interface"], mode, var + ".interface",
                                         has_on_verify=bool(on_verify),
                                         peer_names=[p.get("name") for p in peers],
                                         peer_keys=[p.get("key") for p in peers]))
    if cfg["log_level"] is not None:
        errors.extend(one_of_errors(cfg["log_level"], LOG_LEVELS, var + ".log_level"))
    drop = cfg["drop_capabilities"]
    if not (drop is None or isinstance(drop, bool) or (isinstance(drop, str) and drop in DROP_CAPABILITIES)):
        errors.append("%s.drop_capabilities must be one of %s (or a boolean), got %s"
                      % (var, _choices(DROP_CAPABILITIES), describe(drop)))
    errors.extend(int_errors(cfg["packet_mark"], var + ".packet_mark", 0, PACKET_MARK_MAX,
                             allow_none=True))
    errors.extend(bool_errors(cfg["hide_ip_addresses"], var + ".hide_ip_addresses"))
    errors.extend(bool_errors(cfg["hide_mac_addresses"], var + ".hide_mac_addresses"))
    errors.extend(validate_status_socket(cfg["status_socket"], var + ".status_socket"))
    if cfg["secret_name"] is not None:
        errors.extend(validate_secret_name(cfg["secret_name"], var + ".secret_name"))
    errors.extend(validate_mesh(cfg["mesh"], var + ".mesh", one_interface=mode == "tap"))
    errors.extend(validate_commands(cfg["on_up"], var + ".on_up"))
    errors.extend(validate_commands(cfg["on_down"], var + ".on_down"))
    errors.extend(validate_peer_sources(cfg["peer_sources"], var + ".peer_sources"))
    if cfg["secret"] is not None:
        errors.extend(validate_key(cfg["secret"], var + ".secret", what="secret"))
    return errors


def _collisions(ivar, inst, sockets, ifnames):
    """Errors where a present instance shares a port (with overlapping bind
    addresses) or interface names with one seen before; records its own."""
    errors = []
    port, binds = as_int(inst.get("port")), inst.get("bind", INSTANCE_DEFAULTS["bind"])
    if port is not None and isinstance(binds, list):
        for bind in binds:
            try:
                addr = parse_bind(bind)
            except ValueError:
                continue
            for other_var, other_port, other_bind, other_addr in sockets:
                if other_var != ivar and other_port == port and binds_overlap(addr, other_addr):
                    errors.append("%s: binds %s port %d, which overlaps %s (%s port %d)"
                                  % (ivar, bind, port, other_var, other_bind, port))
                    break
            sockets.append((ivar, port, bind, addr))
    pattern = inst.get("interface")
    if isinstance(pattern, str) and pattern.count("%") <= 1:
        fixed = split_pattern(pattern)
        if fixed in ifnames:
            errors.append("%s.interface: %r gives the same interface names as %s.interface"
                          % (ivar, pattern, ifnames[fixed]))
        else:
            ifnames[fixed] = ivar
    return errors


def validate_instances(instances, var="fastd_instances"):
    """Check ``fastd_instances``: every instance, then the rules across them
    (unique names; among present instances, no two on the same port with
    overlapping bind addresses, no two multitap instances with the same
    interface prefix, no two tap instances with the same interface, no two
    with the same status socket, and one secret per secret_name)."""
    if not isinstance(instances, list):
        return ["%s must be a list of instances, got %s" % (var, describe(instances))]
    errors = []
    names, sockets, ifnames, paths, secrets = {}, [], {}, {}, {}
    for index, inst in enumerate(instances):
        ivar = "%s[%d]" % (var, index)
        if not isinstance(inst, dict):
            errors.append("%s must be a dict, got %s" % (ivar, describe(inst)))
            continue
        errors.extend(_validate_instance(inst, ivar))
        errors.extend(name_taken_errors(inst.get("name"), ivar, names))
        if inst.get("state", "present") != "absent":
            errors.extend(_collisions(ivar, inst, sockets, ifnames))
            errors.extend(_shared_file_errors(ivar, inst, paths, secrets))
    return errors


def validate_secret_name(name, var="secret_name"):
    """A ``secret_name`` names the key file several instances share
    (/etc/fastd/secrets.d/NAME.key): a peer name's rule (a safe file name)."""
    if isinstance(name, str) and _PEER_NAME.fullmatch(name):
        return []
    return ["%s must be a key name: 1-63 letters, digits, '_', '.' or '-', starting with a letter "
            "or digit (instances with the same secret_name share one secret key); got %s"
            % (var, describe(name))]


def _shared_file_errors(ivar, inst, paths, secrets):
    """Errors where a present instance's status socket is another one's, or
    where instances sharing a ``secret_name`` give different secrets (compared,
    never shown); records its own in ``paths`` and ``secrets``."""
    errors = []
    name = inst.get("name")
    socket_path = inst.get("status_socket")
    if isinstance(name, str) and not validate_status_socket(socket_path):
        path = status_socket_path(name, socket_path)
        other, other_chosen = paths.setdefault(path, (ivar, socket_path is not None))
        # Two default paths are the same only for a repeated name, reported as such.
        if other != ivar and (other_chosen or socket_path is not None):
            errors.append("%s.status_socket: %s is already the status socket of %s; every instance "
                          "needs one of its own (fastd locks it and fails: \"status socket already in "
                          "use\")" % (ivar, path, other))
    secret_name, secret = inst.get("secret_name"), inst.get("secret")
    if isinstance(secret_name, str) and is_hex_key(secret):
        first = secrets.setdefault(secret_name, (ivar, secret.lower()))
        if first[1] != secret.lower():
            errors.append("%s.secret differs from %s.secret, but both instances have secret_name %r and "
                          "so share one key; give the same secret, or leave it out in all but one"
                          % (ivar, first[0], secret_name))
    return errors
