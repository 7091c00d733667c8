"""Shared data for the Gluon site tests: a fleet of gateways as the role
describes them, and site data in the shapes real sites have (as Python
dicts, the form the gluon_site lookup returns)."""

import copy
import hashlib

from ansible_collections.freifunk.gateway.plugins.filter.fastd import fastd_instances_normalized
from ansible_collections.freifunk.gateway.plugins.filter.tunneldigger import tunneldigger_instances_normalized
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import is_public_key


def public_key(seed):
    """A deterministic valid fastd public key (on the curve) for ``seed``."""
    counter = 0
    while True:
        key = hashlib.sha256(("%s/%d" % (seed, counter)).encode()).hexdigest()
        if is_public_key(key):
            return key
        counter += 1


KEYS = {host: public_key(host) for host in ("gw01", "gw02", "gw03", "gw04")}


def fastd(**extra):
    inst = {"name": "mesh0", "port": 10000, "interface": "mesh0-%k", "mtu": 1312,
            "methods": ["salsa2012+umac"]}
    inst.update(extra)
    return inst


def broker(**extra):
    inst = {"name": "td0", "address": "192.0.2.1", "ports": [10042], "interface": "eth0", "mtu": 1364}
    inst.update(extra)
    return inst


def gateway(host, fastd_instances=None, brokers=None, keys=..., domain=None, **extra):
    """A gateway entry as roles/gluon_site builds it (keys: public_keys; by
    default the host's key for every instance)."""
    fastd_instances = [fastd()] if fastd_instances is None else fastd_instances
    brokers = [broker()] if brokers is None else brokers
    entry = {
        "fastd_instances": fastd_instances_normalized(fastd_instances),
        "tunneldigger_instances": tunneldigger_instances_normalized(brokers),
        "public_keys": {i["name"]: KEYS[host] for i in fastd_instances} if keys is ... else keys,
        "remote_host": "%s.example.org" % host,
        "domain": domain,
    }
    entry.update(extra)
    return entry


def fleet(*hosts, **extra):
    return {host: gateway(host, **extra) for host in hosts}


def peer(host, port=10000, key=None):
    return {"key": KEYS[host] if key is None else key, "remotes": ['"%s.example.org" port %d' % (host, port)]}


def site(*hosts, **fastd_extra):
    """A 2022-style site (an MTU per provider) listing ``hosts``."""
    fastd_table = {
        "mtu": 1312,
        "methods": ["salsa2012+umac"],
        "groups": {"backbone": {"limit": 1, "peers": {h: peer(h) for h in hosts}}},
    }
    fastd_table.update(fastd_extra)
    return {
        "site_code": "ffxx",
        "prefix4": "10.130.0.0/20",
        "prefix6": "fd00:1234::/64",
        "mesh_vpn": {
            "fastd": fastd_table,
            "tunneldigger": {"mtu": 1364, "brokers": ["%s.example.org:10042" % h for h in hosts]},
        },
    }


def copied(value):
    return copy.deepcopy(value)
