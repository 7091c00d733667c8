# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the fastd role uses to check and render fastd_instances.

The rules themselves live in module_utils/fastd.py; these filters only make
them callable from the role, so nothing is decided in Jinja2.
"""

from __future__ import annotations

import os
import shlex

from ansible.errors import AnsibleFilterError
from ansible_collections.freifunk.gateway.plugins.module_utils import fastd
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_hooks import hook_command, validate_commands
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_sources import normalize_peer_sources
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_render import quote, render_bind
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_status import STATUS_SOCKET_DIR, status_socket_path
from ansible_collections.freifunk.gateway.plugins.module_utils.mesh import mesh_arguments, validate_mesh
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import control_errors, describe

CONFIG_DIR = "/etc/fastd"  # fixed by Debian's fastd@.service
# Keys that several instances share (secret_name): a folder whose name has a
# dot, which no instance name has, so it is never taken for an instance.
SHARED_SECRET_DIR = os.path.join(CONFIG_DIR, "secrets.d")


def fastd_instance_errors(instances, var="fastd_instances"):
    """Every mistake in ``instances``, one message each (empty: all good)."""
    return fastd.validate_instances(instances, var)


def _normalized(instances):
    errors = fastd.validate_instances(instances)
    if errors:
        raise AnsibleFilterError("fastd_instances is invalid:\n" + "\n".join(errors))
    return [fastd.instance_with_defaults(i) for i in instances]


def fastd_instances_normalized(instances):
    """``instances`` with every optional key filled in, integers as int, plus
    derived paths. ``secret`` is left out (the role loops over these items,
    and loop items are printed at -v); ``secret_given`` says whether one is
    set, and fastd_instance_secret looks it up by name."""
    result = []
    for inst in _normalized(instances):
        name = inst["name"]
        directory = os.path.join(CONFIG_DIR, name)
        inst["secret_given"] = inst.pop("secret") is not None
        inst.update(
            config_dir=directory,
            config_file=os.path.join(directory, "fastd.conf"),
            secret_file=(os.path.join(SHARED_SECRET_DIR, inst["secret_name"] + ".key") if inst["secret_name"]
                         else os.path.join(directory, "secret.conf")),
            peers_dir=os.path.join(directory, "peers"),
            status_socket=status_socket_path(name, inst["status_socket"]),
            # Present while a run may have changed the instance's files but
            # not yet (re)started it with them; tmpfs, so gone at boot.
            pending_file=os.path.join(STATUS_SOCKET_DIR, name + ".pending"),
            unit="fastd@%s.service" % name,
            # each source with its defaults and the folder fastd includes (peers_dir)
            peer_sources=normalize_peer_sources(inst["peer_sources"], name),
        )
        result.append(inst)
    return result


def fastd_instance_secret(instances, name):
    """The ``secret`` of the instance called ``name`` as given, or None when it
    has none. The secret is checked, but never shown in a message."""
    if not isinstance(instances, list):
        raise AnsibleFilterError("fastd_instance_secret: instances must be a list, got %s"
                                 % describe(instances))
    for index, inst in enumerate(instances):
        if isinstance(inst, dict) and inst.get("name") == name:
            secret = inst.get("secret")
            if secret is None:
                return None
            errors = fastd.validate_key(secret, "fastd_instances[%d].secret" % index, what="secret")
            if errors:
                raise AnsibleFilterError("fastd_instance_secret: " + errors[0])
            return secret
    raise AnsibleFilterError("fastd_instance_secret: no instance has the name %s"
                             % (repr(str(name)) if isinstance(name, str) else describe(name)))


def fastd_peer_dirs(instances):
    """One entry per peer directory of each present instance: the instance's
    own and one per group (absent instances have none to fill)."""
    dirs = []
    for inst in fastd_instances_normalized(instances):
        if inst["state"] != "present":
            continue
        dirs.append({"instance": inst["name"], "path": inst["peers_dir"], "peers": inst["peers"]})
        for group in inst["peer_groups"]:
            dirs.append({
                "instance": inst["name"],
                "path": os.path.join(inst["config_dir"], "groups", group["name"]),
                "peers": group["peers"],
            })
    return dirs


LISTENER_KEYS = ("name", "state", "port", "bind", "mode", "interface", "unit")


def fastd_listeners(instances):
    """Of each normalized instance, only what decides where fastd listens and
    which interface it takes (for freifunk.gateway.fastd_preflight), in the
    same order, so that a large peer list is not sent along."""
    return [{key: inst.get(key) for key in LISTENER_KEYS} for inst in instances]


def fastd_bind(address, port):
    """The address part of a fastd ``bind`` statement: ``any:PORT``,
    ``IPv4:PORT`` or ``[IPv6]:PORT`` (a scope such as ``%eth0`` stays inside
    the brackets). ``address`` may come with or without brackets; fastd
    rejects brackets around an IPv4 address, so they are dropped there, and
    an IPv6 address written with a dotted IPv4 part, which fastd cannot
    read, is written in hexadecimal. Refuses whatever fastd_instance_errors
    refuses in a bind address or port."""
    try:
        return render_bind(address, port)
    except ValueError as exc:
        raise AnsibleFilterError("fastd_bind: %s" % exc) from None


def fastd_quote(value):
    """A fastd config string literal; refuses control characters."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(int(value))
    try:
        return quote(value)
    except ValueError as exc:
        raise AnsibleFilterError("fastd_quote: %s" % exc) from None


def fastd_hook(mesh, action, script, commands=None, instance=None):
    """The command fastd runs to attach (``attach``) or detach (``detach``)
    the interface ``$INTERFACE`` to or from ``mesh``, chained with the extra
    ``commands`` (``on_up`` / ``on_down``) of ``instance``; None when there is
    neither a mesh nor a command.

    fastd hands the command to ``/bin/sh``, so the script path is shell-quoted
    (a plain path such as /usr/local/sbin/freifunk-on-connect stays as it is),
    ``mesh`` and ``commands`` are checked as fastd_instance_errors checks them,
    and the order and quoting are those of module_utils/fastd_hooks.py.
    """
    if action not in ("attach", "detach"):
        raise AnsibleFilterError("fastd_hook: action must be attach or detach, got %s"
                                 % describe(action))
    hook = "on_up" if action == "attach" else "on_down"
    errors = validate_commands([] if commands is None else commands, hook)
    if commands and not (isinstance(instance, str) and instance):
        errors.append("instance must be the instance's name when there are commands, got %s"
                      % describe(instance))
    if errors:
        raise AnsibleFilterError("fastd_hook: " + "; ".join(errors))
    mesh_command = None
    if mesh:
        # a fixed mac was checked against the instance's mode by fastd_instance_errors
        errors = validate_mesh(mesh, "mesh", one_interface=True)
        if errors:
            raise AnsibleFilterError("fastd_hook: " + "; ".join(errors))
        if not isinstance(script, str) or not script:
            raise AnsibleFilterError("fastd_hook: script must be the path of the on-connect script "
                                     "(on_connect_script), got %s" % describe(script))
        errors = control_errors(script, "script (on_connect_script)")
        if errors:
            raise AnsibleFilterError("fastd_hook: " + errors[0])
        mesh_command = " ".join([shlex.quote(script), action, "$INTERFACE"] + mesh_arguments(mesh, action))
    return hook_command(mesh_command, commands, "up" if action == "attach" else "down", instance)


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
            "fastd_instance_secret": fastd_instance_secret,
            "fastd_peer_dirs": fastd_peer_dirs,
            "fastd_bind": fastd_bind,
            "fastd_listeners": fastd_listeners,
            "fastd_quote": fastd_quote,
            "fastd_hook": fastd_hook,
            "fastd_interface_name": fastd_interface_name,
        }
