# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateways of a Gluon site as the site check and the renderer see them.

Input: ``{hostname: gateway}``, one per gateway, where ``gateway`` is a dict:

* ``fastd_instances``: the host's fastd_instances, normalized
  (fastd_instances_normalized); absent ones are left out here.
* ``tunneldigger_instances``: the host's brokers, normalized likewise.
* ``public_keys``: ``{instance name: public key or None}`` (None: the
  instance has no key yet), or None when the keys were not read (a gateway
  outside the play: its key entries in the site are then not checked).
* ``remote_host``: the name or address nodes use for the gateway
  (``gluon_site_remote_host``), or a list of them.
* ``domain``: the Gluon domain the gateway serves (``gluon_site_domain``), or None.
* ``fastd_names`` / ``tunneldigger_names``: the instances that serve the
  site (``gluon_site_fastd_instances`` / ``gluon_site_tunneldigger_instances``);
  None: every present one.

The messages name the gateway and its variable: ``gw02: fastd_instances[0] (mesh0)``.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import parse_remote
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe

GATEWAY_KEYS = ("fastd_instances", "tunneldigger_instances", "public_keys", "remote_host", "domain",
                "fastd_names", "tunneldigger_names")


def normal_host(host):
    """How two host names or addresses compare: addresses in their compressed
    form, names in lower case without a final dot."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host.lower().rstrip(".")


def _host_errors(host, var):
    if not isinstance(host, str) or not host:
        return ["%s must be a host name or IP address nodes use for this gateway, got %s" % (var, describe(host))]
    try:
        ipaddress.ip_address(host)
        return []
    except ValueError:
        pass
    try:
        parse_remote('"%s" port 1' % host)
    except ValueError:
        return ["%s must be a host name (letters, digits, '-', '_' and dots) or an IP address without port, "
                "got %s" % (var, describe(host))]
    return []


class Gateway:
    """One gateway: ``host``; ``remote_hosts`` (as given) and ``remotes``
    (compared forms); ``fastd`` and ``brokers``: lists of ``(label, var,
    instance)`` of the serving instances, ``label`` being
    ``gw02: fastd_instances[0] (mesh0)`` and ``var`` ``gw02: fastd_instances[0]``;
    ``keys``: {instance name: key or None}, or None when not read."""

    def __init__(self, host, remote_hosts, fastd, brokers, keys, domain):
        self.host = host
        self.remote_hosts = remote_hosts
        self.remotes = {normal_host(h) for h in remote_hosts}
        self.fastd = fastd
        self.brokers = brokers
        self.keys = keys
        self.domain = domain

    def key_of(self, inst):
        """The public key of a fastd instance (lower case), or None."""
        key = (self.keys or {}).get(inst["name"])
        return key.lower() if isinstance(key, str) else None


def _serving(host, gateway, list_key, names_key, setting, errors):
    instances = gateway.get(list_key) or []
    if not isinstance(instances, list):
        errors.append("%s: %s must be a list of instances, got %s" % (host, list_key, describe(instances)))
        return []
    present = []
    for position, inst in enumerate(instances):
        if not isinstance(inst, dict) or not isinstance(inst.get("name"), str):
            errors.append("%s: %s[%d] must be an instance with a name, got %s"
                          % (host, list_key, position, describe(inst)))
            continue
        if inst.get("state", "present") == "present":
            var = "%s: %s[%d]" % (host, list_key, inst.get("index", position))
            present.append(("%s (%s)" % (var, inst["name"]), var, inst))
    names = gateway.get(names_key)
    if names is None:
        return present
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        errors.append("%s: %s must be a list of instance names (or null: all present instances serve the "
                      "site), got %s" % (host, setting, describe(names)))
        return present
    known = {inst["name"] for _label, _var, inst in present}
    for index, name in enumerate(names):
        if name not in known:
            errors.append("%s: %s[%d]: %r is not a present instance of %s (present: %s)"
                          % (host, setting, index, name, list_key, ", ".join(sorted(known)) or "none"))
    return [entry for entry in present if entry[2]["name"] in names]


def fleet(gateways, domain=None):
    """``(gateways, errors)``: the Gateway objects of the hosts serving
    ``domain`` (None: a site without domains), sorted by host name, and every
    mistake in the input."""
    if not isinstance(gateways, dict):
        return [], ["the gateways must be a dict of host name: gateway, got %s" % describe(gateways)]
    result, errors = [], []
    for host in sorted(gateways, key=str):
        gateway = gateways[host]
        if not isinstance(gateway, dict):
            errors.append("%s: the gateway must be a dict with %s, got %s"
                          % (host, ", ".join(GATEWAY_KEYS), describe(gateway)))
            continue
        if (gateway.get("domain") or None) != (domain or None):  # "" is no domain too
            continue
        remote = gateway.get("remote_host", host)
        remote_hosts = remote if isinstance(remote, list) and remote else [remote]
        bad = []
        for index, name in enumerate(remote_hosts):
            var = "gluon_site_remote_host" + ("[%d]" % index if isinstance(remote, list) else "")
            bad += ["%s: %s" % (host, e) for e in _host_errors(name, var)]
        errors.extend(bad)
        keys = gateway.get("public_keys")
        if keys is not None and not isinstance(keys, dict):
            errors.append("%s: public_keys must be a dict of instance name: public key, got %s"
                          % (host, describe(keys)))
            keys = {}
        fastd = _serving(host, gateway, "fastd_instances", "fastd_names", "gluon_site_fastd_instances", errors)
        brokers = _serving(host, gateway, "tunneldigger_instances", "tunneldigger_names",
                           "gluon_site_tunneldigger_instances", errors)
        if not bad:
            result.append(Gateway(host, remote_hosts, fastd, brokers, keys, domain or None))
    return result, errors
