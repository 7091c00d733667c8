# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where per-peer tunnel interfaces go: the ``mesh`` setting shared by the
fastd and tunneldigger roles and the on-connect script they call."""

from __future__ import annotations

import re

from ansible_collections.freifunk.gateway.plugins.module_utils.rules import (
    bool_errors,
    describe,
    ifname_errors,
    int_errors,
    to_int,
    unknown_keys,
)

BACKENDS = ("batman_adv", "bridge")
MESH_KEYS = ("backend", "interface", "hop_penalty", "isolated", "mac")
MAC_DERIVE = "derive"  # the on-connect script derives one per host and interface name
_MAC = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")


def mac_errors(mac, var, one_interface=False):
    """Errors in ``mesh.mac``: null (leave the MAC address alone), ``derive``,
    or a fixed unicast address such as ``02:00:5e:10:00:01`` (only where
    there is one interface, ``one_interface``).

    When an interface joins with an address another of its interfaces has,
    batman-adv warns "It is strongly recommended to keep mac addresses
    unique to avoid problems!" (batadv_check_known_mac_addr in
    net/batman-adv/hard-interface.c), and a bridge learns one port per
    address: a fixed address on every per-peer interface (fastd multitap,
    tunneldigger) would give all of them the same one. Hence a
    fixed address only for a fastd instance in tap mode, and ``derive`` (a
    different address per interface) everywhere."""
    if mac is None or mac == MAC_DERIVE:
        return []
    if not (isinstance(mac, str) and _MAC.fullmatch(mac)):
        return ["%s must be null, '%s' or a MAC address such as '02:00:5e:10:00:01', got %s"
                % (var, MAC_DERIVE, describe(mac))]
    octets = [int(part, 16) for part in mac.split(":")]
    if octets[0] & 1:
        return ["%s: %s is a multicast address; an interface needs a unicast one (first octet even, "
                "e.g. '02:...')" % (var, mac)]
    if not any(octets):
        return ["%s: 00:00:00:00:00:00 is not an interface address" % var]
    if not one_interface:
        return ["%s: a fixed address would be the same on every per-peer interface, which batman-adv "
                "and bridges need unique; use mac: %s (one address per interface), or a fixed address "
                "with a fastd instance in mode tap" % (var, MAC_DERIVE)]
    return []


def validate_mesh(mesh, var="mesh", one_interface=False):
    """Errors in a mesh setting: null (do not attach) or
    ``{backend: batman_adv|bridge, interface: IFNAME, hop_penalty: 0..255
    (batman_adv only), isolated: bool (bridge only), mac: null|derive|MAC}``.
    ``one_interface``: the daemon has one interface for all peers (fastd in
    tap mode), so a fixed ``mac`` is allowed. Every value ends up on the
    command line of the on-connect hook, so each is checked whole."""
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
    errors.extend(mac_errors(mesh.get("mac"), var + ".mac", one_interface))
    return errors


def normalize_mesh(mesh):
    """A valid mesh setting with every key present, hop_penalty an int and a
    fixed mac in lower case (None stays None: do not attach)."""
    if mesh is None:
        return None
    return {
        "backend": mesh.get("backend"),
        "interface": mesh.get("interface"),
        "hop_penalty": to_int(mesh.get("hop_penalty")),
        "isolated": mesh.get("isolated"),
        "mac": mesh["mac"].lower() if isinstance(mesh.get("mac"), str) else None,
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
        if mesh["mac"]:
            words += ["--mac", mesh["mac"]]
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
