# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Text that fastd reads: string literals, ``bind`` addresses, peer files and
the secret file.

Each renderer refuses (ValueError) what the validators in fastd.py refuse,
so nothing reaches a file fastd parses unchecked, even when a caller skipped
validation. fastd's lexer (src/lex.c): a string runs to the next unescaped
``"``, a backslash takes the next character literally (a backslash before a
newline is dropped), and a ``#`` comment runs to the next newline.
"""

from __future__ import annotations

import re

from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import (
    is_hex_key,
    parse_bind,
    parse_remote,
    validate_peers,
)
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import (
    control_character,
    control_name,
    describe,
    int_errors,
    to_int,
)

_SECRET_LINE = re.compile(r'^[ \t]*secret[ \t]+"([0-9a-fA-F]{64})"[ \t]*;[ \t]*$', re.M)


def quote(value):
    """``value`` as a fastd string literal: ``\\`` and ``"`` escaped.

    Control characters (newline, tab, NUL, ...) are refused with ValueError
    rather than written: nothing the collection writes into a string needs
    them, and a newline in a path or command is a mistake or an attack."""
    if not isinstance(value, str):
        raise ValueError("a fastd string must be a string, got %s" % describe(value))
    char = control_character(value)
    if char is not None:
        raise ValueError("%s contains a control character (%s at position %d), which is not "
                         "written into a fastd config" % (describe(value), control_name(char),
                                                          value.index(char)))
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def render_bind(address, port):
    """The address part of a fastd ``bind`` statement: ``any:PORT``,
    ``IPv4:PORT`` or ``[IPv6]:PORT`` (a scope such as ``%eth0`` stays inside
    the brackets), built from the parsed address only.

    ``address`` may come with or without brackets; fastd rejects brackets
    around an IPv4 address, so they are dropped there, and an IPv6 address
    with a dotted IPv4 part, which fastd's lexer cannot read (hex digits and
    colons only), is written in full hexadecimal. Raise ValueError for
    anything ``fastd.validate_instances`` refuses."""
    errors = int_errors(port, "port", 1, 65535)
    if errors:
        raise ValueError(errors[0])
    port = to_int(port)
    parsed = parse_bind(address)
    if parsed == "any":
        return "any:%d" % port
    addr, scope = parsed
    if addr.version == 4:
        return "%s:%d" % (addr, port)
    host = str(addr)
    if "." in host or "." in address or addr.ipv4_mapped is not None:
        # eight groups of four hex digits, from the number itself: str() and
        # .exploded keep the dotted part of a mapped address on Python 3.13
        host = ":".join("%04x" % ((int(addr) >> shift) & 0xFFFF) for shift in range(112, -1, -16))
    return "[%s%s]:%d" % (host, "%" + scope if scope else "", port)


def render_peer(peer):
    """The text of a peer file; ValueError for a peer that validate_peers refuses.

    The comment becomes ``# `` lines: only a newline may break it (validated),
    and every line starts with ``#``, so no comment line can be a directive."""
    errors = validate_peers([peer], "peer")
    if errors:
        raise ValueError("; ".join(errors))
    return _peer_text(peer)


def render_peers(peers, var="peers"):
    """``(errors, {name: text})`` for a whole peer list: validate_peers once
    (every mistake, each naming its place under ``var``), then every file
    without checking each peer a second time. The dict is None on errors."""
    errors = validate_peers(peers, var)
    if errors:
        return errors, None
    return [], {peer["name"]: _peer_text(peer) for peer in peers}


def _peer_text(peer):
    """The file text of a peer validate_peers accepted."""
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
    """The secret file for ``secret`` (64 hex digits; ValueError otherwise, without echoing it)."""
    if not is_hex_key(secret):
        raise ValueError("a fastd secret key is 64 hexadecimal digits")
    return 'secret "%s";\n' % secret.lower()
