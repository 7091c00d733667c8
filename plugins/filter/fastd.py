# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the fastd role uses to check and render fastd_instances.

The rules themselves live in module_utils/fastd.py; these filters only make
them callable from the role, so nothing is decided in Jinja2.
"""

from __future__ import annotations

import ipaddress
import os
import shlex

from ansible.errors import AnsibleFilterError
from ansible_collections.freifunk.gateway.plugins.module_utils import fastd

CONFIG_DIR = "/etc/fastd"  # fixed by Debian's fastd@.service


def fastd_instance_errors(instances, var="fastd_instances"):
    """Every mistake in ``instances``, one message each (empty: all good)."""
    return fastd.validate_instances(instances, var)


def _normalized(instances):
    errors = fastd.validate_instances(instances)
    if errors:
        raise AnsibleFilterError("fastd_instances is invalid:\n" + "\n".join(errors))
    return [fastd.instance_with_defaults(i) for i in instances]


def fastd_instances_normalized(instances):
    """``instances`` with every optional key filled in, plus derived paths."""
    result = []
    for inst in _normalized(instances):
        name = inst["name"]
        directory = os.path.join(CONFIG_DIR, name)
        inst.update(
            config_dir=directory,
            config_file=os.path.join(directory, "fastd.conf"),
            secret_file=os.path.join(directory, "secret.conf"),
            peers_dir=os.path.join(directory, "peers"),
            status_socket=fastd.status_socket_path(name),
            unit="fastd@%s.service" % name,
        )
        result.append(inst)
    return result


def fastd_peer_dirs(instances):
    """One entry per peer directory: the instance's own and one per group."""
    dirs = []
    for inst in fastd_instances_normalized(instances):
        dirs.append({"instance": inst["name"], "path": inst["peers_dir"], "peers": inst["peers"]})
        for group in inst["peer_groups"]:
            dirs.append({
                "instance": inst["name"],
                "path": os.path.join(inst["config_dir"], "groups", group["name"]),
                "peers": group.get("peers", []),
            })
    return dirs


def fastd_bind(address, port):
    """The address part of a fastd ``bind`` statement: ``any:PORT``,
    ``IPv4:PORT`` or ``[IPv6]:PORT`` (a scope such as ``%eth0`` stays inside
    the brackets). ``address`` may come with or without brackets; fastd
    rejects brackets around an IPv4 address, so they are dropped there, and
    an IPv6 address written with a dotted IPv4 part, which fastd cannot
    read, is written in hexadecimal."""
    if isinstance(port, bool) or not isinstance(port, int):
        raise AnsibleFilterError("fastd_bind: port must be an integer, got %r" % (port,))
    if not isinstance(address, str):
        raise AnsibleFilterError("fastd_bind: address must be 'any' or an IP address, got %r"
                                 % (address,))
    if address == "any":
        return "any:%d" % port
    text = address[1:-1] if address.startswith("[") and address.endswith("]") else address
    try:
        version = ipaddress.ip_address(text).version
    except ValueError:
        raise AnsibleFilterError("fastd_bind: %r is not 'any' or an IP address (without port)"
                                 % (address,)) from None
    if version == 6:
        host, pct, scope = text.partition("%")
        if "." in host:  # fastd reads hex digits and colons only: ::ffff:192.0.2.1 in hex
            host = ipaddress.IPv6Address(host).exploded
        return "[%s%s%s]:%d" % (host, pct, scope, port)
    return "%s:%d" % (text, port)


def fastd_quote(value):
    """A fastd config string literal."""
    return fastd.quote(str(value))


def fastd_hook(mesh, action, script):
    """The command fastd runs to attach (``attach``) or detach (``detach``)
    the interface ``$INTERFACE`` to or from ``mesh``; None without a mesh.

    fastd hands the command to ``/bin/sh``, so the script path is shell-quoted
    (a plain path such as /usr/local/sbin/freifunk-on-connect stays as it is).
    """
    if action not in ("attach", "detach"):
        raise AnsibleFilterError("fastd_hook: action must be attach or detach, got %r" % (action,))
    if not mesh:
        return None
    if not isinstance(script, str) or not script:
        raise AnsibleFilterError("fastd_hook: script must be the path of the on-connect script "
                                 "(on_connect_script), got %r" % (script,))
    backend = mesh["backend"]
    words = [shlex.quote(script), action, "$INTERFACE", "--backend", backend,
             "--mesh" if backend == "batman_adv" else "--bridge", mesh["interface"]]
    if action == "attach":
        if mesh.get("hop_penalty") is not None:
            words += ["--hop-penalty", str(mesh["hop_penalty"])]
        if mesh.get("isolated"):
            words.append("--isolated")
    return " ".join(words)


def fastd_interface_name(pattern, name=None, key=None):
    """The interface name fastd gives a peer: ``pattern`` with ``%n``/``%k``
    expanded and cut to 15 characters, as fastd does."""
    return fastd.interface_name(pattern, name=name, key=key)


class FilterModule:
    """fastd filters of freifunk.gateway."""

    def filters(self):
        return {
            "fastd_instance_errors": fastd_instance_errors,
            "fastd_instances_normalized": fastd_instances_normalized,
            "fastd_peer_dirs": fastd_peer_dirs,
            "fastd_bind": fastd_bind,
            "fastd_quote": fastd_quote,
            "fastd_hook": fastd_hook,
            "fastd_interface_name": fastd_interface_name,
        }
