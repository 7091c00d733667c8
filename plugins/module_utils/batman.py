# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The batman_adv role's settings: one item of batman_adv_meshes per domain."""

from __future__ import annotations

import ipaddress

from ansible_collections.freifunk.gateway.plugins.module_utils.rules import (
    IFNAME_RULE,
    describe,
    int_errors,
    is_ifname,
    to_int,
    type_name,
    unknown_keys,
)

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
INT_KEYS = ("gw_bandwidth_down", "gw_bandwidth_up", "hop_penalty")
ROUTING_ALGORITHMS = ("BATMAN_IV", "BATMAN_V")
GW_MODES = ("server", "client", "off")


def _address_ok(address):
    """An address with prefix length, as ``ip address add`` takes it (no scope)."""
    if not isinstance(address, str) or "/" not in address or "%" in address:
        return False
    try:
        ipaddress.ip_interface(address)
    except ValueError:
        return False
    return True


def validate_meshes(meshes, var="batman_adv_meshes"):
    """Every mistake in ``meshes``, one message each, naming the variable."""
    if not isinstance(meshes, list):
        return ["%s must be a list of meshes, got %s" % (var, type_name(meshes))]
    errors, names = [], {}
    for index, mesh in enumerate(meshes):
        mvar = "%s[%d]" % (var, index)
        if not isinstance(mesh, dict):
            errors.append("%s must be a dict, got %s" % (mvar, describe(mesh)))
            continue
        errors.extend(unknown_keys(mesh, MESH_DEFAULTS, mvar))
        cfg = dict(MESH_DEFAULTS)
        cfg.update(mesh)
        for key in ("name", "bridge"):
            if cfg[key] is None and key == "bridge":
                continue
            if not is_ifname(cfg[key]):
                errors.append("%s.%s must be %s; got %s" % (mvar, key, IFNAME_RULE, describe(cfg[key])))
            elif cfg[key] in names:
                errors.append("%s.%s: interface %s is already used by %s"
                              % (mvar, key, cfg[key], names[cfg[key]]))
            else:
                names[cfg[key]] = "%s.%s" % (mvar, key)
        if cfg["routing_algorithm"] not in ROUTING_ALGORITHMS:
            errors.append("%s.routing_algorithm must be one of %s, got %s"
                          % (mvar, ", ".join(ROUTING_ALGORITHMS), describe(cfg["routing_algorithm"])))
        if cfg["gw_mode"] not in GW_MODES:
            errors.append("%s.gw_mode must be one of %s, got %s"
                          % (mvar, ", ".join(GW_MODES), describe(cfg["gw_mode"])))
        for key in ("gw_bandwidth_down", "gw_bandwidth_up"):
            errors.extend(int_errors(cfg[key], "%s.%s" % (mvar, key), 1, 2 ** 32 - 1,
                                     what="a bandwidth in kbit/s, an integer"))
        errors.extend(int_errors(cfg["hop_penalty"], mvar + ".hop_penalty", 0, 255))
        addresses = cfg["addresses"]
        if not isinstance(addresses, list):
            errors.append("%s.addresses must be a list of addresses with prefix length, got %s"
                          % (mvar, describe(addresses)))
            addresses = []
        for aindex, address in enumerate(addresses):
            if not _address_ok(address):
                errors.append("%s.addresses[%d]: %s is not an address with prefix length "
                              "(like 2001:db8::1/64)" % (mvar, aindex, describe(address)))
    return errors


def meshes_with_defaults(meshes):
    """Valid ``meshes`` with every key filled in and the integers as int."""
    result = []
    for mesh in meshes:
        merged = dict(MESH_DEFAULTS)
        merged.update(mesh)
        merged["addresses"] = list(merged["addresses"])
        for key in INT_KEYS:
            merged[key] = to_int(merged[key])
        result.append(merged)
    return result
