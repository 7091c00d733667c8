# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a Gluon site.conf fit the gateways? ``site_errors`` compares the site
data (from the freifunk.gateway.gluon_site lookup) with the gateways'
inventory (see gluon_fleet for its shape) and returns every mismatch, each
naming the site file and key path and the gateway variable::

    site.conf: mesh_vpn.fastd.mtu is 1312, but gw02: fastd_instances[0].mtu (mesh0) is 1280

What nodes do, from Gluon (gluon-mesh-vpn-fastd, gluon-web-mesh-vpn-fastd):

* Nodes offer ``mesh_vpn.fastd.methods``. With ``configurable = true`` the
  node's owner picks a mode in the config mode: in security mode the node
  offers the site's methods without ``null@l2tp`` and ``null``; in
  performance mode it offers ``null@l2tp``, ``null`` and then the others.
* fastd's handshake answer carries the gateway's list, and the node takes the
  first method of that list it offers too: the gateway's order decides. A
  gateway that lists an encrypted method before ``null`` gives nodes in
  performance mode encryption without telling anyone; one that lists ``null``
  before ``null@l2tp`` never gives them L2TP.
* The MTU is ``mesh_vpn.fastd.mtu`` (Gluon 2022 and later),
  ``mesh_vpn.mtu`` (2017-2021) or ``fastd_mesh_vpn.mtu`` (2015-2016, whose
  fastd settings are all under ``fastd_mesh_vpn``: that shape is read too).
  Tunneldigger: ``mesh_vpn.tunneldigger.mtu``, else ``mesh_vpn.mtu``.
* Peers sit in ``mesh_vpn.fastd.groups.NAME.peers.PEER = {key, remotes}``;
  groups may hold ``groups`` of their own. Brokers are ``host:port`` strings
  in ``mesh_vpn.tunneldigger.brokers``.

Other VPN providers (``mesh_vpn.wireguard``) are passed over.
"""

from __future__ import annotations

import difflib
import ipaddress
import os

from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import (
    METHODS,
    MTU_MAX,
    MTU_MIN,
    REMOVED_METHODS,
    is_hex_key,
    is_public_key,
    parse_remote,
)
from ansible_collections.freifunk.gateway.plugins.module_utils.gluon_fleet import fleet, normal_host
from ansible_collections.freifunk.gateway.plugins.module_utils.gluon_render import format_remote, key_path, lua_string
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import as_int, describe

NULL_METHODS = ("null@l2tp", "null")
KEY_SHOWN = 16  # digits of a stale key shown to find the entry
_MISSING = object()


def site_label(site_file, domain=None):
    """How messages name the site: ``site.conf``, or ``site.conf + domains/dom1.conf``."""
    name = os.path.basename(str(site_file)) or str(site_file)
    return "%s + domains/%s.conf" % (name, domain) if domain else name


def _table(value):
    """Gluon's converter turns an empty Lua table into a list: read ``[]`` as ``{}``."""
    return {} if value == [] else value


def _list(value):
    return [] if value == {} else value


def _quoted(values):
    return ", ".join("'%s'" % v for v in values)


class _Errors(list):
    """A list of messages that keeps each message once."""

    def add(self, message):
        if message not in self:
            self.append(message)


# --- the site's own shape -------------------------------------------------

class _Provider:
    """One VPN provider's settings: ``path`` (``mesh_vpn.fastd``), ``table``,
    ``mtu`` (_MISSING when the site has none) and ``mtu_path`` (where it is)."""

    def __init__(self, path, table, mtu, mtu_path):
        self.path, self.table, self.mtu, self.mtu_path = path, table, mtu, mtu_path


def _providers(site, where, errors):
    """``(fastd, tunneldigger)``: each a _Provider or None when the site has none."""
    if not isinstance(site, dict):
        errors.add("%s: the site must be a Lua table of settings, got %s" % (where, describe(site)))
        return None, None
    if "mesh_vpn" not in site:
        if "fastd_mesh_vpn" in site:
            old = _table(site["fastd_mesh_vpn"])
            if not isinstance(old, dict):
                errors.add("%s: fastd_mesh_vpn must be a table, got %s" % (where, describe(old)))
                return None, None
            return _Provider("fastd_mesh_vpn", old, old.get("mtu", _MISSING), "fastd_mesh_vpn.mtu"), None
        errors.add("%s: mesh_vpn is missing, so nodes have no VPN settings to reach the gateways; add "
                   "mesh_vpn = { fastd = {...} } and/or { tunneldigger = {...} } (sites of 2015-2016 have "
                   "fastd_mesh_vpn instead, which is read too)" % where)
        return None, None
    mesh = _table(site["mesh_vpn"])
    if not isinstance(mesh, dict):
        errors.add("%s: mesh_vpn must be a table, got %s" % (where, describe(mesh)))
        return None, None
    shared = mesh.get("mtu", _MISSING)
    result = []
    for name in ("fastd", "tunneldigger"):
        if name not in mesh:
            result.append(None)
            continue
        path = "mesh_vpn." + name
        table = _table(mesh[name])
        if not isinstance(table, dict):
            errors.add("%s: %s must be a table, got %s" % (where, path, describe(table)))
            result.append(None)
        elif "mtu" in table or shared is _MISSING:
            result.append(_Provider(path, table, table.get("mtu", _MISSING), path + ".mtu"))
        else:
            result.append(_Provider(path, table, shared, "mesh_vpn.mtu"))
    return tuple(result)


def _mtu(provider, where, errors):
    """The provider's MTU as an int, or None (reported) when missing or wrong."""
    mtu = provider.mtu
    if mtu is _MISSING:
        shared = "" if provider.path == "fastd_mesh_vpn" else " (or mesh_vpn.mtu)"
        errors.add("%s: %s%s is missing; nodes need the MTU of their tunnel (e.g. 1312)"
                   % (where, provider.mtu_path, shared))
        return None
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not MTU_MIN <= mtu <= MTU_MAX:
        errors.add("%s: %s must be an MTU (%d..%d), got %s"
                   % (where, provider.mtu_path, MTU_MIN, MTU_MAX, describe(mtu)))
        return None
    return mtu


def _site_methods(fastd, where, errors):
    path = fastd.path + ".methods"
    methods = _list(fastd.table.get("methods", _MISSING))
    if methods is _MISSING:
        errors.add("%s: %s is missing; nodes need the fastd methods they offer, e.g. { 'salsa2012+umac' }"
                   % (where, path))
        return None
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        errors.add("%s: %s must be a list of fastd method names, e.g. { 'salsa2012+umac' }, got %s"
                   % (where, path, describe(methods)))
        return None
    for method in methods:
        if method in REMOVED_METHODS:
            errors.add("%s: %s: %r was removed in fastd v%d; nodes offering it connect with nothing newer"
                       % (where, path, method, REMOVED_METHODS[method]["release"]))
        elif method not in METHODS:
            close = difflib.get_close_matches(method, list(METHODS), n=1)
            errors.add("%s: %s: %r is not a fastd method%s" % (
                where, path, method, " (did you mean '%s'?)" % close[0] if close else ""))
    return methods


def _modes(fastd, methods, where, errors):
    """``[(mode, offered)]``: what nodes offer in each mode they can be in."""
    path = fastd.path + ".configurable"
    configurable = fastd.table.get("configurable", False)
    if not isinstance(configurable, bool):
        errors.add("%s: %s must be true or false, got %s" % (where, path, describe(configurable)))
        configurable = False
    if not configurable:
        return [("", methods)]
    secure = [m for m in methods if m not in NULL_METHODS]
    if not secure:
        errors.add("%s: %s is true, but %s.methods has no method besides 'null@l2tp' and 'null': nodes "
                   "switched to security mode would offer none" % (where, path, fastd.path))
    return [("in security mode (%s is true) " % path, secure),
            ("in performance mode (%s is true) " % path, list(NULL_METHODS) + secure)]


# --- fastd: methods and MTU --------------------------------------------------

def _method_errors(modes, methods_path, where, label, var, inst, errors):
    """Per mode: the method a node gets from this instance (the gateway's order decides)."""
    accepted = inst["methods"]
    name = inst["name"]
    for mode, offered in modes:
        if not offered:
            continue
        gets = next((m for m in accepted if m in offered), None)
        nodes = "%s: nodes %soffer %s (%s)" % (where, mode, _quoted(offered), methods_path)
        if gets is None:
            errors.add("%s, but %s.methods (%s) accepts none of them (it lists %s); add one"
                       % (nodes, var, name, _quoted(accepted)))
            continue
        if mode.startswith("in performance") and gets not in NULL_METHODS:
            errors.add("%s, but %s.methods (%s) lists %r first, so they get encryption anyway; list "
                       "'null@l2tp' (with offload_l2tp: true) and 'null' before it" % (nodes, var, name, gets))
        elif "null@l2tp" in offered and gets == "null":
            fix = ("list 'null@l2tp' before 'null'" if "null@l2tp" in accepted
                   else "add 'null@l2tp' before 'null' with offload_l2tp: true")
            errors.add("%s, but %s.methods (%s) gives them 'null', handled in userspace; %s"
                       % (nodes, var, name, fix))
        if gets == "null@l2tp" and inst.get("offload_l2tp") is not True:
            errors.add("%s, and %s (%s) gives them 'null@l2tp', but %s.offload_l2tp is false, so fastd "
                       "handles every packet in userspace; set offload_l2tp: true" % (nodes, label, name, var))


def _fastd_config_errors(fastd, gateways, where, errors):
    methods = _site_methods(fastd, where, errors)
    modes = _modes(fastd, methods, where, errors) if methods else []
    mtu = _mtu(fastd, where, errors)
    for gateway in gateways:
        for label, var, inst in gateway.fastd:
            _method_errors(modes, fastd.path + ".methods", where, label, var, inst, errors)
            if mtu is not None and inst["mtu"] != mtu:
                errors.add("%s: %s is %d, but %s.mtu (%s) is %s"
                           % (where, fastd.mtu_path, mtu, var, inst["name"], inst["mtu"]))


# --- fastd: peers -------------------------------------------------------------

def _site_peers(groups, path, where, errors, peers):
    """Collect ``(path, peer)`` of every peer in ``groups`` (nested groups too)."""
    groups = _table(groups)
    if not isinstance(groups, dict):
        errors.add("%s: %s must be a table of peer groups, got %s" % (where, path, describe(groups)))
        return
    for name in sorted(groups, key=str):
        gpath = key_path(path, name)
        group = _table(groups[name])
        if not isinstance(group, dict):
            errors.add("%s: %s must be a table with limit, peers and groups, got %s"
                       % (where, gpath, describe(group)))
            continue
        members = _table(group.get("peers", {}))
        if not isinstance(members, dict):
            errors.add("%s: %s.peers must be a table of named peers, got %s" % (where, gpath, describe(members)))
            members = {}
        for peer in sorted(members, key=str):
            peers.append((key_path(gpath + ".peers", peer), members[peer]))
        if "groups" in group:
            _site_peers(group["groups"], gpath + ".groups", where, errors, peers)


def _split_remote(text):
    """``(host, port)`` of a remote in parse_remote's canonical form."""
    for family in ("ipv4 ", "ipv6 "):
        if text.startswith(family):
            text = text[len(family):]
    if text.startswith('"'):
        host, _sep, port = text[1:].partition('" port ')
    elif text.startswith("["):
        host, _sep, port = text[1:].partition("]:")
        host = host.partition("%")[0]
    else:
        host, _sep, port = text.rpartition(":")
    return host, int(port)


def _peer_remotes(path, peer, where, errors):
    """The parsed ``(text, host, port)`` of a site peer's remotes."""
    remotes = _list(peer.get("remotes", _MISSING))
    if remotes is _MISSING or remotes == []:
        errors.add("%s: %s.remotes is missing or empty; nodes need '\"host\" port N' to reach the gateway"
                   % (where, path))
        return []
    if not isinstance(remotes, list):
        errors.add("%s: %s.remotes must be a list of strings, got %s" % (where, path, describe(remotes)))
        return []
    parsed = []
    for remote in remotes:
        try:
            parsed.append((remote,) + _split_remote(parse_remote(remote)))
        except ValueError as exc:
            errors.add("%s: %s.remotes: %s is not a fastd remote: %s" % (where, path, describe(remote), exc))
    return parsed


def _remote_errors(path, remotes, owners, where, errors):
    """The remotes of a site peer must name its gateway and a port of the instance(s) with its key."""
    for text, host, port in remotes:
        gateways = [(gw, entries) for gw, entries in owners.items() if normal_host(host) in gw.remotes]
        if not gateways:
            names = "; ".join("%s's gluon_site_remote_host is %s" % (gw.host, _quoted(gw.remote_hosts))
                              for gw in owners)
            errors.add("%s: %s.remotes: %s names %s, but the key is that of %s (%s); nodes would look for "
                       "the gateway elsewhere" % (where, path, lua_string(text), host,
                                                  ", ".join(l for entries in owners.values() for l, _v, _i in entries),
                                                  names))
            continue
        ports = [inst["port"] for _gw, entries in gateways for _l, _v, inst in entries]
        if port not in ports:
            _gw, entries = gateways[0]
            errors.add("%s: %s.remotes: %s has port %d, but %s.port (%s) is %d"
                       % (where, path, lua_string(text), port, entries[0][1], entries[0][2]["name"], ports[0]))


def _missing_entry(gateway, inst, key):
    remotes = ", ".join(lua_string(format_remote(h, inst["port"])) for h in gateway.remote_hosts)
    return "%s = { key = '%s', remotes = { %s } }" % (gateway.host.split(".")[0], key, remotes)


def _peer_errors(fastd, gateways, where, errors):
    peers = []
    groups_path = fastd.path + ".groups"
    if "groups" not in fastd.table:
        if any(gateway.fastd for gateway in gateways):
            errors.add("%s: %s is missing; nodes find the gateways' fastd keys and addresses there"
                       % (where, groups_path))
    else:
        _site_peers(fastd.table["groups"], groups_path, where, errors, peers)
    owners = {}  # key: {gateway: [(label, var, inst)]}
    unread = set()  # the names of gateways whose keys were not read
    for gateway in gateways:
        if gateway.keys is None:
            unread |= gateway.remotes
            continue
        for entry in gateway.fastd:
            key = gateway.key_of(entry[2])
            if key is not None:
                owners.setdefault(key, {}).setdefault(gateway, []).append(entry)
    seen, claimed = {}, set()
    for path, peer in peers:
        if not isinstance(peer, dict):
            errors.add("%s: %s must be a table with key and remotes, got %s" % (where, path, describe(peer)))
            continue
        key = peer.get("key")
        remotes = _peer_remotes(path, peer, where, errors)
        if not is_hex_key(key):
            errors.add("%s: %s.key must be a fastd public key (64 hex digits), got %s" % (where, path, describe(key)))
            continue
        key = key.lower()
        if key in seen:
            errors.add("%s: %s.key is the same key as %s.key; fastd refuses a key twice" % (where, path, seen[key]))
            continue
        seen[key] = path
        if key in owners:
            _remote_errors(path, remotes, owners[key], where, errors)
            continue
        hosts = {normal_host(host) for _text, host, _port in remotes}
        if hosts & unread:
            continue  # the key of a gateway outside the play: not checked
        named = [gw for gw in gateways if gw.keys is not None and gw.remotes & hosts and gw.fastd]
        shown = key[:KEY_SHOWN]
        if not is_public_key(key):
            errors.add("%s: %s.key (%s...) is not a valid fastd public key (it is not on the curve; "
                       "fastd ignores the peer); a digit may be wrong" % (where, path, shown))
        if named:
            for gateway in named:
                claimed.add(gateway)
                actual = ", ".join("%s has '%s'" % (label, gateway.key_of(inst))
                                   for label, _var, inst in gateway.fastd if gateway.key_of(inst))
                errors.add("%s: %s.key (%s...) is not the key of the gateway its remotes name: %s; "
                           "put the gateway's key there" % (where, path, shown, actual or
                                                            "%s has no key yet" % gateway.host))
        else:
            errors.add("%s: %s (key %s...) is no gateway's: no fastd instance serving the site has this "
                       "key and its remotes name no gateway; remove the stale entry, or add its gateway to "
                       "the play" % (where, path, shown))
    for gateway in gateways:
        if gateway.keys is None:
            continue
        for label, _var, inst in gateway.fastd:
            key = gateway.key_of(inst)
            if key is None:
                errors.add("%s has no fastd key yet, so the site cannot list it: deploy %s once without the "
                           "site check (gluon_site_file unset for it), then render the peers block (role "
                           "freifunk.gateway.gluon_site, tasks_from: render) and add it to %s"
                           % (label, gateway.host, where))
            elif key not in seen and gateway not in claimed:
                errors.add("%s: no peer in %s has the key of %s; nodes never connect to it; add %s to the "
                           "peers of a group (or render the block: role freifunk.gateway.gluon_site, "
                           "tasks_from: render)" % (where, groups_path, label, _missing_entry(gateway, inst, key)))


def _absent_provider_errors(gateways, attr, path, setting, where, errors):
    for gateway in gateways:
        entries = getattr(gateway, attr)
        if entries:
            serving = ", ".join(label for label, _var, _inst in entries)
            errors.add("%s: %s is missing, so nodes never use it, but %s would serve the site; set %s: [] "
                       "for %s, or add %s to the site" % (where, path, serving, setting, gateway.host, path))


# --- tunneldigger --------------------------------------------------------------

def _parse_broker(text):
    """``(host, port)`` of a site broker ``host:port``; raise ValueError."""
    if not isinstance(text, str):
        raise ValueError("expected 'host:port', got %s" % describe(text))
    host, sep, port = text.rpartition(":")
    number = as_int(port)
    if not sep or not host or number is None or not 1 <= number <= 65535:
        raise ValueError("expected 'host:port' with a port 1..65535")
    try:
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            raise ValueError("tunneldigger reaches brokers over IPv4 only")
    except ValueError as exc:
        if "IPv4 only" in str(exc):
            raise
        parse_remote('"%s" port 1' % host)  # a host name, else ValueError
    return host, number


def _broker_errors(td, gateways, where, errors):
    path = td.path + ".brokers"
    brokers = _list(td.table.get("brokers", []))
    if not isinstance(brokers, list):
        errors.add("%s: %s must be a list of 'host:port', got %s" % (where, path, describe(brokers)))
        brokers = []
    listed = set()  # (host, broker var) found in the site
    for text in brokers:
        try:
            host, port = _parse_broker(text)
        except ValueError as exc:
            errors.add("%s: %s: %s is not a broker: %s" % (where, path, describe(text), exc))
            continue
        shown = lua_string(text)
        owners = [gw for gw in gateways if normal_host(host) in gw.remotes]
        if not owners:
            errors.add("%s: %s: %s names no gateway serving the site (their gluon_site_remote_host: %s); "
                       "remove the stale entry, or add its gateway to the play"
                       % (where, path, shown, _quoted(h for gw in gateways for h in gw.remote_hosts) or "none"))
            continue
        found = [(gw, var) for gw in owners for _l, var, inst in gw.brokers if port in inst["ports"]]
        if found:
            listed.update((gw.host, var) for gw, var in found)
            continue
        offered = "; ".join("%s.ports (%s) are %s" % (var, inst["name"], ", ".join(map(str, inst["ports"])))
                            for gw in owners for _l, var, inst in gw.brokers)
        errors.add("%s: %s: %s has port %d, but %s" % (
            where, path, shown, port, offered or "%s runs no tunneldigger broker for the site" % owners[0].host))
    mtu = _mtu(td, where, errors)
    for gateway in gateways:
        for label, var, inst in gateway.brokers:
            if (gateway.host, var) not in listed:
                hosts = [h for h in gateway.remote_hosts if ":" not in h] or gateway.remote_hosts
                errors.add("%s: %s lacks %s; nodes never use it; add '%s:%d'"
                           % (where, path, label, hosts[0], inst["ports"][0]))
            if mtu is not None and inst.get("mtu") != mtu:
                errors.add("%s: %s is %d, but %s.mtu (%s) is %s; set it to %d so the session interfaces "
                           "match the nodes" % (where, td.mtu_path, mtu, var, inst["name"],
                                                "not set" if inst.get("mtu") is None else inst["mtu"], mtu))


# --- all together ------------------------------------------------------------------

def site_errors(site, site_file, gateways, domain=None):
    """Every mismatch between ``site`` (the data of ``site_file``, for
    ``domain`` merged in) and the gateways serving ``domain`` (those whose
    ``domain`` is ``domain``; see gluon_fleet for the shape). Empty: they fit."""
    errors = _Errors()
    where = site_label(site_file, domain)
    parsed, input_errors = fleet(gateways, domain)
    for error in input_errors:
        errors.add(error)
    fastd, td = _providers(site, where, errors)
    if not isinstance(site, dict) or ("mesh_vpn" not in site and "fastd_mesh_vpn" not in site):
        return list(errors)
    fastd_path = "fastd_mesh_vpn" if "mesh_vpn" not in site else "mesh_vpn.fastd"
    if fastd is None:
        _absent_provider_errors(parsed, "fastd", fastd_path, "gluon_site_fastd_instances", where, errors)
    else:
        _fastd_config_errors(fastd, parsed, where, errors)
        _peer_errors(fastd, parsed, where, errors)
    if td is None:
        _absent_provider_errors(parsed, "brokers", "mesh_vpn.tunneldigger", "gluon_site_tunneldigger_instances",
                                where, errors)
    else:
        _broker_errors(td, parsed, where, errors)
    return list(errors)
