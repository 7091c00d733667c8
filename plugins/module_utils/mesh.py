# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where per-peer tunnel interfaces go: the ``mesh`` setting shared by the
fastd and tunneldigger roles and the on-connect script they call."""

from __future__ import annotations

import re

from ansible_collections.freifunk.gateway.plugins.module_utils.checks import unknown_keys

BACKENDS = ("batman_adv", "bridge")
MESH_KEYS = ("backend", "interface", "hop_penalty", "isolated")
IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def validate_mesh(mesh, var="mesh"):
    """Errors in a mesh setting: null (do not attach) or
    ``{backend: batman_adv|bridge, interface: IFNAME, hop_penalty: 0..255
    (batman_adv only), isolated: bool (bridge only)}``."""
    if mesh is None:
        return []
    if not isinstance(mesh, dict):
        return ["%s must be null or a dict with keys %s" % (var, ", ".join(MESH_KEYS))]
    errors = unknown_keys(mesh, MESH_KEYS, var)
    backend = mesh.get("backend")
    if backend not in BACKENDS:
        errors.append("%s.backend must be one of %s, got %r" % (var, ", ".join(BACKENDS), backend))
    interface = mesh.get("interface")
    if not (isinstance(interface, str) and IFNAME.match(interface) and interface not in (".", "..")):
        errors.append("%s.interface must be an interface name of 1-15 characters "
                      "(letters, digits, '_', '.', '-'), got %r" % (var, interface))
    penalty = mesh.get("hop_penalty")
    if penalty is not None:
        if backend != "batman_adv":
            errors.append("%s.hop_penalty applies to backend batman_adv only" % var)
        elif isinstance(penalty, bool) or not isinstance(penalty, int) or not 0 <= penalty <= 255:
            errors.append("%s.hop_penalty must be an integer 0..255, got %r" % (var, penalty))
    isolated = mesh.get("isolated")
    if isolated is not None:
        if not isinstance(isolated, bool):
            errors.append("%s.isolated must be a boolean, got %r" % (var, isolated))
        elif isolated and backend != "bridge":
            errors.append("%s.isolated applies to backend bridge only" % var)
    return errors
