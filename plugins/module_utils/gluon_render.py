# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reverse direction of the site check: the part of a Gluon site.conf
that comes from the gateways, rendered as Lua from the fleet's inventory and
the gateways' real public keys, so keys flow from the gateways into the
firmware instead of by hand.

The snippet is one Lua table constructor (what site.conf itself is)::

    {
      mesh_vpn = {
        fastd = { groups = { backbone = { peers = { gw01 = { key = '...', remotes = {...} } } } } },
        tunneldigger = { brokers = { 'gw01.example.org:10042' } },
      },
    }

A site maintainer pastes the ``peers`` table and the ``brokers`` list into
site.conf (or the domain file); the group's ``limit`` and the MTUs stay the
site's own choice. Peers and brokers come in the order of the sorted host
names, so the same fleet always gives the same text.

Peer names: Gluon makes each peer a UCI section ``mesh_vpn_backbone_peer_NAME``
and refuses names with other characters than letters, digits and ``_``, so a
host name such as ``gw-01.example.org`` becomes ``gw_01_example_org``. A
gateway with several instances serving the site gets one peer per key
(``gw01_mesh0``); instances that share a key (``secret_name``) share a peer
with a remote for each port.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.freifunk.gateway.plugins.module_utils.gluon_fleet import fleet
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe

LUA_KEYWORDS = frozenset((
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"))
_LUA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UCI_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_LUA_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\0": "\\0"}
INDENT = "  "


class RenderError(ValueError):
    """The fleet cannot be rendered; ``errors`` lists every reason."""

    def __init__(self, errors):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def is_lua_name(name):
    """Whether ``name`` can stand bare as a Lua table key (``gw01 = ...``)."""
    return isinstance(name, str) and bool(_LUA_NAME.fullmatch(name)) and name not in LUA_KEYWORDS


def lua_string(text):
    """``text`` as a single-quoted Lua string literal."""
    return "'%s'" % "".join(_LUA_ESCAPES.get(c, c) for c in str(text))


def lua_key(name):
    """A table key for a key path or a constructor: ``gw01`` or ``['gw-01']``
    (integer keys of lists: ``[1]``)."""
    if isinstance(name, int) and not isinstance(name, bool):
        return "[%d]" % name
    return str(name) if is_lua_name(name) else "[%s]" % lua_string(name)


def key_path(path, name):
    """``path`` extended by the table key ``name``: ``a.b.gw01`` or ``a.b['gw-01']``."""
    key = lua_key(name)
    return "%s.%s" % (path, key) if not key.startswith("[") else path + key


def peer_name(text):
    """A Gluon peer name (a UCI name: letters, digits, ``_``) for ``text``."""
    name = _UCI_UNSAFE.sub("_", str(text))
    return name or "_"


def format_remote(host, port):
    """A fastd remote for nodes: ``"host" port N``, ``192.0.2.1:N`` or ``[2001:db8::1]:N``."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return '"%s" port %d' % (host, port)
    return ("%s:%d" if address.version == 4 else "[%s]:%d") % (address.compressed, port)


def _lua(value, depth):
    """``value`` (dict, list, str, int, bool) as a Lua constructor, dicts in
    their given order, one entry a line."""
    pad, inner = INDENT * depth, INDENT * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = ["%s%s = %s," % (inner, lua_key(k), _lua(v, depth + 1)) for k, v in value.items()]
        return "{\n%s\n%s}" % ("\n".join(lines), pad)
    if isinstance(value, list):
        if not value:
            return "{}"
        lines = ["%s%s," % (inner, _lua(v, depth + 1)) for v in value]
        return "{\n%s\n%s}" % ("\n".join(lines), pad)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "%d" % value
    return lua_string(value)


def to_lua(value):
    """Plain data as Lua text (a table constructor for dicts and lists)."""
    return _lua(value, 0)


def site_lua(peers, brokers, group="backbone", header=None):
    """The snippet for ``peers`` ({name: {key, remotes}}, in order) and
    ``brokers`` (list of ``host:port``): a ``mesh_vpn`` table with the fastd
    group's peers and the tunneldigger brokers (each part only when it has
    entries)."""
    mesh_vpn = {}
    if peers:
        mesh_vpn["fastd"] = {"groups": {group: {"peers": peers}}}
    if brokers:
        mesh_vpn["tunneldigger"] = {"brokers": list(brokers)}
    lines = ["-- %s" % line for line in (header or "").splitlines()]
    return "\n".join(lines + [to_lua({"mesh_vpn": mesh_vpn})]) + "\n"


def _is_ipv6(host):
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _fleet_peers(gateways, errors):
    peers, taken = {}, {}
    for gateway in gateways:
        by_key = {}
        for label, _var, inst in gateway.fastd:
            key = gateway.key_of(inst)
            if key is None:
                why = ("its public key was not read (the gateway is not in this play)" if gateway.keys is None
                       else "it has no key yet")
                errors.append("%s: %s; run the fastd role on %s first, then render again"
                              % (label, why, gateway.host))
                continue
            by_key.setdefault(key, []).append(inst)
        for key, instances in by_key.items():
            name = peer_name(gateway.host if len(by_key) == 1 else "%s_%s" % (gateway.host, instances[0]["name"]))
            if name in taken:
                errors.append("%s and %s both give the peer name %s (Gluon allows letters, digits and '_' only); "
                              "rename one of the hosts" % (taken[name], gateway.host, name))
                continue
            taken[name] = gateway.host
            ports = []
            for inst in instances:
                if inst["port"] not in ports:
                    ports.append(inst["port"])
            remotes = [format_remote(h, p) for h in gateway.remote_hosts for p in ports]
            peers[name] = {"key": key, "remotes": remotes}
    return peers


def _fleet_brokers(gateways, errors):
    brokers = []
    for gateway in gateways:
        hosts = [h for h in gateway.remote_hosts if not _is_ipv6(h)]
        if gateway.brokers and not hosts:
            errors.append("%s: gluon_site_remote_host has only IPv6 addresses, but tunneldigger reaches "
                          "brokers over IPv4 only; add a name or IPv4 address" % gateway.host)
        for _label, _var, inst in gateway.brokers:
            brokers += ["%s:%d" % (h, p) for h in hosts for p in inst["ports"]]
    return brokers


def fleet_lua(gateways, domain=None, group="backbone"):
    """The snippet for the gateways serving ``domain`` (see gluon_fleet for
    the shape of ``gateways``). Raise RenderError naming every gateway that
    cannot be rendered (no key yet, clashing peer names)."""
    parsed, errors = fleet(gateways, domain)
    if not is_lua_name(group) or _UCI_UNSAFE.search(group):
        errors.append("the peer group must be a Gluon group name (letters, digits, '_'), got %s" % describe(group))
    peers = _fleet_peers(parsed, errors)
    brokers = _fleet_brokers(parsed, errors)
    if errors:
        raise RenderError(errors)
    where = "domains/%s.conf" % domain if domain else "site.conf"
    header = ("For %s, rendered by freifunk.gateway from the gateways' inventory and public keys.\n"
              "Paste the peers table and the brokers list into mesh_vpn; keep the group's limit and the MTUs."
              % where)
    return site_lua(peers, brokers, group, header)
