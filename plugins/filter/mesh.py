# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters about where per-peer interfaces go; the rules live in module_utils/mesh.py."""

from __future__ import annotations

from ansible_collections.freifunk.gateway.plugins.module_utils import mesh


def mesh_contract_errors(instances, meshes, host_interfaces, var="fastd_instances"):
    """Every ``mesh.interface`` of ``instances`` that nothing provides."""
    return mesh.contract_errors(instances, meshes, host_interfaces, var)


class FilterModule:
    """Mesh filters of freifunk.gateway."""

    def filters(self):
        return {"mesh_contract_errors": mesh_contract_errors}
