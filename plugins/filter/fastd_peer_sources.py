# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the peer sources of fastd instances (peer_sources); the rules
live in module_utils/fastd_peer_sources.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_sources import source_lines, sync_config
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe


def fastd_peer_sync_config(instance):
    """What freifunk-fastd-peers reads for one instance of
    fastd_instances_normalized (/etc/fastd/NAME/peer-sources.json)."""
    if not isinstance(instance, dict) or "peer_sources" not in instance or "name" not in instance:
        raise AnsibleFilterError("fastd_peer_sync_config: expects one item of "
                                 "fastd_instances_normalized, got %s" % describe(instance))
    return sync_config(instance)


def fastd_directory_sources(instances, var="fastd_instances"):
    """Every directory source of the present instances of (valid)
    ``instances``: ``{var, path}``, var naming it in fastd_instances."""
    if not isinstance(instances, list):
        raise AnsibleFilterError("fastd_directory_sources: instances must be a list, got %s"
                                 % describe(instances))
    found = []
    for index, inst in enumerate(instances):
        if not isinstance(inst, dict) or inst.get("state", "present") != "present":
            continue
        for sindex, source in enumerate(inst.get("peer_sources") or []):
            if isinstance(source, dict) and source.get("type") == "directory":
                found.append({"var": "%s[%d].peer_sources[%d].path" % (var, index, sindex),
                              "path": source.get("path")})
    return found


def fastd_source_lines(sources, only_problems=False):
    """Lines that say, per peer source (the ``peer_sources`` of fastd_status, or
    the ``sources`` of a freifunk-fastd-peers run), its commit, peers and
    error and every file skipped; with ``only_problems`` only the sources
    that have an error or a bad file."""
    if not isinstance(sources, list):
        raise AnsibleFilterError("fastd_source_lines: expects a list of source states, got %s"
                                 % describe(sources))
    return source_lines(sources, only_problems)


class FilterModule:
    """Peer source filters of freifunk.gateway."""

    def filters(self):
        return {
            "fastd_directory_sources": fastd_directory_sources,
            "fastd_peer_sync_config": fastd_peer_sync_config,
            "fastd_source_lines": fastd_source_lines,
        }
