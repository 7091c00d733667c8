# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where per-peer tunnel interfaces go: the ``mesh`` setting shared by the
fastd and tunneldigger roles and the on-connect script they call."""

from __future__ import annotations

from ansible_collections.freifunk.gateway.plugins.module_utils.rules import (
    bool_errors,
    describe,
    ifname_errors,
    int_errors,
    to_int,
    unknown_keys,
)

BACKENDS = ("batman_adv", "bridge")
MESH_KEYS = ("backend", "interface", "hop_penalty", "isolated")


def validate_mesh(mesh, var="mesh"):
    """Errors in a mesh setting: null (do not attach) or
    ``{backend: batman_adv|bridge, interface: IFNAME, hop_penalty: 0..255
    (batman_adv only), isolated: bool (bridge only)}``. Every value ends up
    on the command line of the on-connect hook, so each is checked whole."""
    if mesh is None:
        return []
    if not isinstance(mesh, dict):
        return ["%s must be null or a dict with keys %s, got %s"
                % (var, ", ".join(MESH_KEYS), describe(mesh))]
    errors = unknown_keys(mesh, MESH_KEYS, var)
    backend = mesh.get("backend")
    if backend not in BACKENDS:
        errors.append("%s.backend must be one of %s, got %s"
                      % (var, ", ".join(BACKENDS), describe(backend)))
    errors.extend(ifname_errors(mesh.get("interface"), var + ".interface"))
    penalty = mesh.get("hop_penalty")
    if penalty is not None:
        if backend != "batman_adv":
            errors.append("%s.hop_penalty applies to backend batman_adv only" % var)
        else:
            errors.extend(int_errors(penalty, var + ".hop_penalty", 0, 255))
    isolated = mesh.get("isolated")
    if isolated is not None:
        bad = bool_errors(isolated, var + ".isolated")
        if bad:
            errors.extend(bad)
        elif isolated and backend != "bridge":
            errors.append("%s.isolated applies to backend bridge only" % var)
    return errors


def normalize_mesh(mesh):
    """A valid mesh setting with every key present and hop_penalty an int
    (None stays None: do not attach)."""
    if mesh is None:
        return None
    return {
        "backend": mesh.get("backend"),
        "interface": mesh.get("interface"),
        "hop_penalty": to_int(mesh.get("hop_penalty")),
        "isolated": mesh.get("isolated"),
    }


def mesh_arguments(mesh, action):
    """The on-connect script's options that put an interface into a valid
    ``mesh`` (``attach``) or take it out (``detach``)."""
    mesh = normalize_mesh(mesh)
    backend = mesh["backend"]
    words = ["--backend", backend, "--mesh" if backend == "batman_adv" else "--bridge", mesh["interface"]]
    if action == "attach":
        if mesh["hop_penalty"] is not None:
            words += ["--hop-penalty", "%d" % mesh["hop_penalty"]]
        if mesh["isolated"]:
            words.append("--isolated")
    return words


def contract_errors(instances, meshes, host_interfaces, var="fastd_instances"):
    """Errors where a tunnel daemon's ``mesh`` names an interface nothing provides.

    ``instances``: normalized instances (``name``, ``mesh``); ``meshes``:
    ``batman_adv_meshes`` of the same host, or None when the batman_adv role
    does not run there; ``host_interfaces``: the names the host has now.
    A batman_adv mesh must be one of ``meshes`` (when given) or exist; a
    bridge must be the client bridge of one of ``meshes`` or exist on the
    host (nothing else creates it). Without this check a typo connects every
    node and attaches none.
    """
    errors = []
    configured = {"batman_adv": set(), "bridge": set()}
    for mesh in meshes or []:
        if isinstance(mesh, dict):
            configured["batman_adv"].add(mesh.get("name", "bat0"))
            if mesh.get("bridge"):
                configured["bridge"].add(mesh["bridge"])
    present = set(host_interfaces or [])
    for index, inst in enumerate(instances):
        mesh = inst.get("mesh")
        if not mesh:
            continue
        backend, interface = mesh.get("backend"), mesh.get("interface")
        if interface in configured.get(backend, ()) or interface in present:
            continue
        # normalized tunneldigger instances carry their index in the variable
        where = "%s[%d].mesh.interface" % (var, inst.get("index", index))
        if backend == "batman_adv" and meshes is not None:
            errors.append("%s: %s is not a mesh of batman_adv_meshes (%s) and does not exist on "
                          "the host" % (where, interface, ", ".join(sorted(configured["batman_adv"])) or "none"))
        elif backend == "batman_adv":
            errors.append("%s: batman-adv interface %s does not exist on the host; create it with "
                          "the freifunk.gateway.batman_adv role (batman_adv_meshes)" % (where, interface))
        else:
            errors.append("%s: bridge %s does not exist on the host and no batman_adv_meshes[].bridge "
                          "creates it; create the bridge first (for example as the client bridge "
                          "of batman_adv_meshes)" % (where, interface))
    return errors
