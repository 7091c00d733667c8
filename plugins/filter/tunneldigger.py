# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the tunneldigger role uses to check and render its settings.

The rules live in module_utils/tunneldigger.py; these filters only make them
callable from the role, so nothing is decided in Jinja2.
"""

from __future__ import annotations

import shlex

from ansible.errors import AnsibleFilterError
from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger as td
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import control_errors, describe


def tunneldigger_errors(instances, fastd_instances=None, source=None, blocked_uuids=None, settings=None):
    """Every mistake in the role's settings, one message each (empty: all good)."""
    errors = td.validate_instances(instances, fastd_instances)
    if source is not None:
        errors += td.validate_source(source)
    if blocked_uuids is not None:
        errors += td.validate_blocked_uuids(blocked_uuids)
    if settings is not None:
        errors += td.validate_settings(settings)
    return errors


def tunneldigger_instances_normalized(instances):
    """``instances`` with every key filled in and the paths the role uses."""
    errors = td.validate_instances(instances)
    if errors:
        raise AnsibleFilterError("tunneldigger_instances is invalid:\n" + "\n".join(errors))
    return [dict(td.instance_with_defaults(inst), index=index) for index, inst in enumerate(instances)]


def tunneldigger_host_errors(instances, links):
    """Brokers whose interface or address the host lacks (``links``: ``ip -json address show``)."""
    return td.host_errors(instances, links)


def tunneldigger_source_normalized(source):
    """``tunneldigger_source`` with its type and the label of its version."""
    errors = td.validate_source(source)
    if errors:
        raise AnsibleFilterError("tunneldigger_source is invalid:\n" + "\n".join(errors))
    return td.source_with_defaults(source)


def _renderable(instance, caller):
    """The present instance a renderer works on, checked and normalized again."""
    inst, errors = td.renderable_instance(instance)
    if errors:
        raise AnsibleFilterError("%s: %s" % (caller, "\n".join(errors)))
    return inst


def tunneldigger_config(instance):
    """The broker's config file for a normalized instance."""
    return td.render_config(_renderable(instance, "tunneldigger_config"))


def tunneldigger_hook(instance, event, script, nft_set=None, block_time=None):
    """The shell-quoted command of a hook wrapper (the broker's arguments follow)."""
    if not isinstance(script, str) or not script.startswith("/") or control_errors(script, "script"):
        raise AnsibleFilterError("tunneldigger_hook: script must be the absolute path of the on-connect "
                                 "script (on_connect_script), got %s" % describe(script))
    inst = _renderable(instance, "tunneldigger_hook")
    try:
        argv = td.hook_argv(inst, event, script, nft_set=nft_set, block_time=block_time)
    except ValueError as exc:
        raise AnsibleFilterError("tunneldigger_hook: %s" % exc) from None
    return " ".join(shlex.quote(word) for word in argv)


def tunneldigger_blocklist(uuids):
    """The blocklist file's content: one normalized uuid per line."""
    errors = td.validate_blocked_uuids(uuids)
    if errors:
        raise AnsibleFilterError("tunneldigger_blocked_uuids is invalid:\n" + "\n".join(errors))
    return td.render_blocklist(uuids)


class FilterModule:
    """tunneldigger filters of freifunk.gateway."""

    def filters(self):
        return {
            "tunneldigger_errors": tunneldigger_errors,
            "tunneldigger_instances_normalized": tunneldigger_instances_normalized,
            "tunneldigger_host_errors": tunneldigger_host_errors,
            "tunneldigger_source_normalized": tunneldigger_source_normalized,
            "tunneldigger_config": tunneldigger_config,
            "tunneldigger_hook": tunneldigger_hook,
            "tunneldigger_blocklist": tunneldigger_blocklist,
        }
