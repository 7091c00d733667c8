# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn fastd_status results into lines a person reads."""

from __future__ import annotations

from ansible_collections.freifunk.gateway.plugins.module_utils import gateway_numbers as gn
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_sources import source_lines
from ansible_collections.freifunk.gateway.plugins.module_utils.tunneldigger_status import session_state


def fastd_peer_line(peer):
    """``node-a (a2188e5ca276) salsa2012+umac, 42s, from 192.0.2.7:10001, via mesh-node-a``
    for one peer of fastd_status's ``peers``."""
    who = peer.get("name") or "(unnamed)"
    key = (peer.get("key") or "")[:12]
    if not peer.get("connected"):
        return "%s (%s) not connected" % (who, key)
    line = "%s (%s) %s, %ds" % (who, key, peer.get("method"), int(peer.get("established") or 0))
    if peer.get("address") and peer["address"] != "any":
        line += ", from %s" % peer["address"]
    if peer.get("interface"):
        line += ", via %s" % peer["interface"]
    return line


def fastd_status_lines(status, title):
    """A heading plus one line per connected peer of a fastd_status result."""
    peers = status.get("peers", [])
    connected = [p for p in peers if p.get("connected")]
    head = "%s: %d of %d peers connected" % (title, len(connected), len(peers))
    methods = status.get("methods") or {}
    if methods:
        head += " (%s)" % ", ".join("%s: %d" % kv for kv in sorted(methods.items()))
    # then each peer source with its error and skipped files (fastd_peer_sources.source_lines)
    return [head] + ["  " + fastd_peer_line(p) for p in connected] + source_lines(status.get("peer_sources"))


def tunneldigger_status_lines(result, title):
    """A heading plus one aligned line per session of a tunneldigger_status result:
    interface, node uuid, endpoint, MTU, state in the mesh; then the stale records."""
    sessions = result.get("sessions") or []
    in_mesh = result.get("in_mesh_count")
    mesh = "mesh not checked" if in_mesh is None else "%d in the mesh" % in_mesh
    head = "%s: %d session%s, %s" % (title, len(sessions), "" if len(sessions) == 1 else "s", mesh)
    if result.get("active") is False:
        head += ", broker not active"
    rows = [(s.get("interface") or "tunnel %s" % s.get("tunnel_id"),
             s.get("uuid") or "(no record)",
             s.get("endpoint") or "-",
             "mtu %s" % (s["mtu"] if s.get("mtu") is not None else "-"),
             session_state(s)) for s in sessions]
    widths = [max(len(row[i]) for row in rows) for i in range(4)] if rows else []
    lines = [head] + ["  " + "  ".join([cell.ljust(width) for cell, width in zip(row, widths)] + [row[4]])
                      for row in rows]
    stale = result.get("stale") or []
    if stale:
        lines.append("  stale records (no kernel session): %s" % ", ".join(stale))
    return lines


def gateway_numbers_from_status(fastd_results, tunneldigger_results=None):
    """One gateway's numbers (as the module gateway_numbers returns them) from
    the registered loop results of fastd_status and tunneldigger_status."""
    return gn.from_results(fastd_results, tunneldigger_results)


def fleet_status(hostvars, hosts, key="__gateway_numbers"):
    """The fleet: every host of ``hosts`` with the numbers it registered
    under ``key`` (a host without them, for example unreachable, is listed
    as not answering), and the totals."""
    per_host = {}
    for host in hosts:
        try:
            numbers = hostvars[host].get(key)
        except (KeyError, AttributeError):
            numbers = None
        per_host[str(host)] = dict(numbers) if hasattr(numbers, "keys") else None
    return gn.fleet(per_host)


def fleet_status_lines(fleet):
    """The fleet as a table: one row per gateway, then the totals."""
    return gn.fleet_lines(fleet)


class FilterModule:
    """Status filters of freifunk.gateway."""

    def filters(self):
        return {
            "fastd_peer_line": fastd_peer_line,
            "fastd_status_lines": fastd_status_lines,
            "fleet_status": fleet_status,
            "fleet_status_lines": fleet_status_lines,
            "gateway_numbers_from_status": gateway_numbers_from_status,
            "tunneldigger_status_lines": tunneldigger_status_lines,
        }
