# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""fastd's status socket: where the collection puts it, and what its JSON
document says (fastd v22 and v23), as plain functions."""

from __future__ import annotations

import json
import os

STATUS_SOCKET_DIR = "/run/fastd"


def status_socket_path(instance):
    """Where the collection puts the status socket of instance ``instance``."""
    return os.path.join(STATUS_SOCKET_DIR, instance + ".sock")


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
