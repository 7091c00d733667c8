# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""fastd's status socket: where the collection puts it, and what its JSON
document says (fastd v22 and v23), as plain functions."""

from __future__ import annotations

import json
import os
import re
import socket

from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe as _describe

STATUS_SOCKET_DIR = "/run/fastd"
# fastd binds the socket with the path in sun_path (108 bytes with its NUL).
STATUS_SOCKET_MAX = 107
# Folders under /run that other programs own: the role would change their
# mode (tmpfiles) and open them to fastd's sandbox.
_SHARED_RUN_DIRS = ("user", "systemd", "lock", "udev", "dbus", "shm", "log", "credentials", "mount")
# Characters of a status socket path: tmpfiles.d and systemd unit files
# split at spaces and expand "%" specifiers, so neither may occur.
_SOCKET_PATH = re.compile(r"/[A-Za-z0-9_.@+/-]+")


def status_socket_path(instance, path=None):
    """Where the status socket of instance ``instance`` is: ``path`` when the
    admin chose one (``status_socket``), else /run/fastd/NAME.sock."""
    return path if path else os.path.join(STATUS_SOCKET_DIR, instance + ".sock")


def validate_status_socket(path, var="status_socket"):
    """Check a ``status_socket`` path chosen by the admin (None: the default).

    fastd creates the socket and a lock file ``PATH.lock`` beside it, and
    first deletes whatever is at PATH (src/status.c, fastd 22), so the path
    must be one of fastd's own: a file in /run/fastd or in a folder of its own
    under /run, which the role creates at boot (tmpfiles, 0750 root) and
    makes writable in fastd's sandbox. Absolute, written in its shortest form
    (no ``.``/``..``/``//``, no trailing ``/``), at most 107 bytes (the
    kernel's limit for a socket path), letters, digits and ``_ . @ + - /``
    only (tmpfiles and systemd split at spaces and expand ``%``)."""
    if path is None:
        return []
    example = "e.g. /run/fastd-status/mesh0.sock"
    if not isinstance(path, str) or not path:
        return ["%s must be an absolute path such as /run/fastd/mesh0.sock, got %s"
                % (var, _describe(path))]
    if not _SOCKET_PATH.fullmatch(path):
        return ["%s: %r must be an absolute path of letters, digits and '_ . @ + - /' only "
                "(no spaces, '%%' or control characters), %s" % (var, path, example)]
    if path.endswith("/"):
        return ["%s: %r names a folder; name the socket file in it, e.g. %r"
                % (var, path, path + "mesh0.sock")]
    if os.path.normpath(path) != path or os.path.basename(path) in (".", ".."):
        return ["%s: %r is not a file path in its shortest form (no '.', '..', '//' or trailing '/'); "
                "write %r" % (var, path, os.path.normpath(path).rstrip("/") or "/")]
    if len(path.encode("utf-8")) > STATUS_SOCKET_MAX:
        return ["%s: %r has %d bytes; a Unix socket path has at most %d"
                % (var, path, len(path.encode("utf-8")), STATUS_SOCKET_MAX)]
    if path.endswith((".lock", ".pending")):
        return ["%s: %r ends in .lock or .pending, the names of fastd's lock file (socket path + "
                "'.lock') and of the role's run markers; end it in .sock" % (var, path)]
    parts = path.split("/")[1:]  # ["run", folder, ..., file]
    if parts[0] != "run" or len(parts) < 3 or parts[1] in _SHARED_RUN_DIRS:
        return ["%s: %r must be in /run/fastd or in a folder of its own under /run (%s): fastd "
                "deletes what is at the path before it binds, the role creates the folder at boot "
                "(0750 root) and the sandbox lets fastd write only there"
                % (var, path, example)]
    return []


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


def read_socket(path, timeout):
    """Everything fastd writes to a fresh connection, until it closes it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)
    finally:
        sock.close()


def socket_error(exc, path):
    """What went wrong reading the status socket at ``path``, for a person."""
    if isinstance(exc, FileNotFoundError):
        return ("status socket %s does not exist: is the fastd instance running, with "
                "`status socket` in its config?" % path)
    if isinstance(exc, ConnectionRefusedError):
        return "status socket %s refused the connection: fastd is not running (stale socket)" % path
    if isinstance(exc, PermissionError):
        return "no permission to open status socket %s (use become)" % path
    if isinstance(exc, socket.timeout):
        return "status socket %s did not answer in time" % path
    if isinstance(exc, ValueError):
        return "status socket %s sent no valid status document: %s" % (path, exc)
    return "cannot read status socket %s: %s" % (path, exc)
