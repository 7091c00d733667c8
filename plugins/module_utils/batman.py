# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The batman_adv role's settings: one item of batman_adv_meshes per domain."""

from __future__ import annotations

import ipaddress

from ansible_collections.freifunk.gateway.plugins.module_utils.checks import unknown_keys
from ansible_collections.freifunk.gateway.plugins.module_utils.mesh import IFNAME

MESH_DEFAULTS = {
    "name": "bat0",
    "routing_algorithm": "BATMAN_IV",
    "gw_mode": "server",
    "gw_bandwidth_down": 100000,
    "gw_bandwidth_up": 100000,
    "hop_penalty": 15,
    "bridge": None,
    "addresses": [],
}
ROUTING_ALGORITHMS = ("BATMAN_IV", "BATMAN_V")
GW_MODES = ("server", "client", "off")


def _ifname_ok(value):
    return isinstance(value, str) and bool(IFNAME.match(value)) and value not in (".", "..")


def _int_in(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def validate_meshes(meshes, var="batman_adv_meshes"):
    """Every mistake in ``meshes``, one message each, naming the variable."""
    if not isinstance(meshes, list):
        return ["%s must be a list of meshes, got %s" % (var, type(meshes).__name__)]
    errors, names = [], {}
    for index, mesh in enumerate(meshes):
        mvar = "%s[%d]" % (var, index)
        if not isinstance(mesh, dict):
            errors.append("%s must be a dict" % mvar)
            continue
        errors.extend(unknown_keys(mesh, MESH_DEFAULTS, mvar))
        cfg = dict(MESH_DEFAULTS, **mesh)
        for key in ("name", "bridge"):
            if cfg[key] is None and key == "bridge":
                continue
            if not _ifname_ok(cfg[key]):
                errors.append("%s.%s must be an interface name of 1-15 characters "
                              "(letters, digits, '_', '.', '-'), got %r" % (mvar, key, cfg[key]))
            elif cfg[key] in names:
                errors.append("%s.%s: interface %s is already used by %s"
                              % (mvar, key, cfg[key], names[cfg[key]]))
            else:
                names[cfg[key]] = "%s.%s" % (mvar, key)
        if cfg["routing_algorithm"] not in ROUTING_ALGORITHMS:
            errors.append("%s.routing_algorithm must be one of %s, got %r"
                          % (mvar, ", ".join(ROUTING_ALGORITHMS), cfg["routing_algorithm"]))
        if cfg["gw_mode"] not in GW_MODES:
            errors.append("%s.gw_mode must be one of %s, got %r" % (mvar, ", ".join(GW_MODES), cfg["gw_mode"]))
        for key in ("gw_bandwidth_down", "gw_bandwidth_up"):
            if not _int_in(cfg[key], 1, 2 ** 32 - 1):
                errors.append("%s.%s must be a bandwidth in kbit/s (a positive integer), got %r"
                              % (mvar, key, cfg[key]))
        if not _int_in(cfg["hop_penalty"], 0, 255):
            errors.append("%s.hop_penalty must be an integer 0..255, got %r" % (mvar, cfg["hop_penalty"]))
        addresses = cfg["addresses"]
        if not isinstance(addresses, list):
            errors.append("%s.addresses must be a list of addresses with prefix length" % mvar)
            addresses = []
        for aindex, address in enumerate(addresses):
            try:
                ipaddress.ip_interface(address)
                if "/" not in str(address):
                    raise ValueError
            except ValueError:
                errors.append("%s.addresses[%d]: %r is not an address with prefix length "
                              "(like 2001:db8::1/64)" % (mvar, aindex, address))
    return errors


def meshes_with_defaults(meshes):
    return [dict(MESH_DEFAULTS, **mesh) for mesh in meshes]
