# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A gateway's addresses in the mesh of a Gluon site, from its index
(``gluon_site_index``, 1..n):

* IPv4: the index-th host address of the site's ``prefix4`` (``10.x.0.0/20``
  and index 3 give ``10.x.0.3/20``); none when the site has no ``prefix4``
  (Gluon makes it optional);
* IPv6: the index-th address of ``prefix6`` (``fdxx::3/64``);
* MAC: ``02:`` (locally administered, unicast), three bytes of the SHA-256
  of the domain's name (the site's ``site_code`` for a site without
  domains) and the index in two bytes. The same domain and index always give
  the same MAC, different domains of one gateway get different ones, and no
  node takes it (Gluon derives node MACs from the node's own).

Refused, every mistake at once: an index below 1 or beyond what the prefix
holds, a prefix with host bits set, the address of ``next_node`` (the
address every node answers on), and prefixes that overlap those of other
domains. These helpers run on the controller and use netaddr.
"""

from __future__ import annotations

import hashlib

from ansible_collections.freifunk.gateway.plugins.module_utils.gluon_align import site_label
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe

try:
    import netaddr
except ImportError:  # reported when called; the module must import without it
    netaddr = None

INDEX_MAX = 65535  # two bytes of the MAC


class AddressError(ValueError):
    """The addresses cannot be given; ``errors`` lists every reason."""

    def __init__(self, errors):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def _prefix(site, key, version, where, errors):
    """The site's ``key`` as a netaddr IPNetwork, or None (missing or reported)."""
    value = site.get(key) if isinstance(site, dict) else None
    if value is None:
        return None
    try:
        net = netaddr.IPNetwork(value) if isinstance(value, str) and "/" in value else None
    except (netaddr.AddrFormatError, ValueError, TypeError):
        net = None
    if net is None or net.version != version:
        errors.append("%s: %s must be an IPv%d prefix such as %s, got %s"
                      % (where, key, version, "10.0.0.0/20" if version == 4 else "fd00:1234::/64", describe(value)))
        return None
    if net.ip != net.network:
        errors.append("%s: %s is %s, which has host bits set; did you mean %s?" % (where, key, value, net.cidr))
        return None
    return net


def _next_node(site, version):
    node = site.get("next_node") if isinstance(site, dict) else None
    value = node.get("ip%d" % version) if isinstance(node, dict) else None
    try:
        return netaddr.IPAddress(value, version) if isinstance(value, str) else None
    except (netaddr.AddrFormatError, ValueError):
        return None


def _address(net, index, key, site, where, errors):
    """The index-th address of ``net`` with its prefix length, or None."""
    last = net.size - 1 if net.version == 6 or net.prefixlen >= 31 else net.size - 2
    if index > last:
        errors.append("%s: %s (%s) has %d addresses for gateways, too few for gluon_site_index %d"
                      % (where, key, net, max(last, 0), index))
        return None
    address = netaddr.IPAddress(net.first + index, net.version)
    taken = _next_node(site, net.version)
    if taken is not None and taken == address:
        errors.append("%s: gluon_site_index %d gives %s, which is next_node.ip%d (the address every node "
                      "answers on); give the gateway another index" % (where, index, address, net.version))
        return None
    return "%s/%d" % (address, net.prefixlen)


def _overlap_errors(site, domain, domains, where, errors):
    if domains is None:
        return
    if not isinstance(domains, dict):
        errors.append("domains must be a dict of domain name: site data, got %s" % describe(domains))
        return
    for key, version in (("prefix4", 4), ("prefix6", 6)):
        mine = _prefix(site, key, version, where, [])
        if mine is None:
            continue
        for name in sorted(domains, key=str):
            if name == domain:
                continue
            other = _prefix(domains[name], key, version, "domains/%s.conf" % name, [])
            if other is not None and (other.first <= mine.last and mine.first <= other.last):
                errors.append("%s: %s %s overlaps %s of domain %s (%s); every domain needs a prefix of its own"
                              % (where, key, mine, key, name, other))


def mac_address(seed, index):
    """``02:hh:hh:hh:ii:ii``: three bytes of SHA-256(seed), then the index."""
    digest = hashlib.sha256(str(seed).encode("utf-8")).digest()
    octets = [0x02] + list(digest[:3]) + [index >> 8, index & 0xFF]
    return ":".join("%02x" % o for o in octets)


def gateway_addresses(site, index, domain=None, domains=None, site_file="site.conf"):
    """``{"ipv4": "10.x.y.z/len" or None, "ipv6": "fd..::N/64", "mac": "02:..."}``
    for the gateway with ``index`` in ``site`` (the data of ``domain`` when
    the site has domains). ``domains``: {name: site data} of every domain, to
    refuse prefixes that overlap. Raise AddressError listing every mistake."""
    if netaddr is None:
        raise AddressError(["the Python library netaddr is missing on the controller (pip install netaddr)"])
    where = site_label(site_file, domain if isinstance(domain, str) else None)
    errors = []
    if not isinstance(site, dict):
        raise AddressError(["%s: the site must be a Lua table of settings, got %s" % (where, describe(site))])
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= INDEX_MAX:
        errors.append("gluon_site_index must be the gateway's number, 1..%d, got %s" % (INDEX_MAX, describe(index)))
        index = None
    if domain is not None and not (isinstance(domain, str) and domain):
        errors.append("gluon_site_domain must be a domain name or null, got %s" % describe(domain))
    net4 = _prefix(site, "prefix4", 4, where, errors)
    net6 = _prefix(site, "prefix6", 6, where, errors)
    if site.get("prefix6") is None:
        errors.append("%s: prefix6 is missing; Gluon needs the mesh's IPv6 prefix, e.g. 'fd00:1234::/64'" % where)
    _overlap_errors(site, domain, domains, where, errors)
    seed = domain if domain else site.get("site_code")
    if not (isinstance(seed, str) and seed):
        errors.append("%s: site_code is missing; it makes the gateway's MAC differ between sites" % where)
    result = {"ipv4": None, "ipv6": None, "mac": None}
    if index is not None:
        if net4 is not None:
            result["ipv4"] = _address(net4, index, "prefix4", site, where, errors)
        if net6 is not None:
            result["ipv6"] = _address(net6, index, "prefix6", site, where, errors)
        if isinstance(seed, str) and seed:
            result["mac"] = mac_address(seed, index)
    if errors:
        raise AddressError(errors)
    return result
