# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the batman_adv role uses; the rules live in module_utils/batman.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.freifunk.gateway.plugins.module_utils import batman


def batman_adv_mesh_errors(meshes, var="batman_adv_meshes"):
    """Every mistake in ``meshes`` (empty: all good)."""
    return batman.validate_meshes(meshes, var)


def batman_adv_meshes_normalized(meshes):
    """``meshes`` with every optional key filled in."""
    errors = batman.validate_meshes(meshes)
    if errors:
        raise AnsibleFilterError("batman_adv_meshes is invalid:\n" + "\n".join(errors))
    return batman.meshes_with_defaults(meshes)


def batman_adv_batctl_commands(mesh):
    """The batctl commands (argv lists) that apply ``mesh``'s settings to
    its running interface. The routing algorithm cannot change on a running
    interface; it takes effect when the interface is created again."""
    name = mesh["name"]
    if mesh["gw_mode"] == "server":
        gw = ["gw_mode", "server", "%dkbit/%dkbit" % (mesh["gw_bandwidth_down"], mesh["gw_bandwidth_up"])]
    else:
        gw = ["gw_mode", mesh["gw_mode"]]
    return [
        ["batctl", "meshif", name] + gw,
        ["batctl", "meshif", name, "hop_penalty", str(mesh["hop_penalty"])],
    ]


class FilterModule:
    """batman-adv filters of freifunk.gateway."""

    def filters(self):
        return {
            "batman_adv_mesh_errors": batman_adv_mesh_errors,
            "batman_adv_meshes_normalized": batman_adv_meshes_normalized,
            "batman_adv_batctl_commands": batman_adv_batctl_commands,
        }
