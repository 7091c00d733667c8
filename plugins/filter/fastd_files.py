# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the files several fastd instances may share: secret keys
(``secret_name``) and the folders of the status sockets (``status_socket``).

They work on the normalized instances (fastd_instances_normalized), which
carry no secret, so nothing here can print one.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_status import STATUS_SOCKET_DIR
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe


def _present(instances, who):
    if not isinstance(instances, list) or not all(isinstance(i, dict) and "secret_file" in i for i in instances):
        raise AnsibleFilterError("%s: expects the instances from fastd_instances_normalized, got %s"
                                 % (who, describe(instances)))
    return [i for i in instances if i.get("state", "present") == "present"]


def fastd_secret_files(instances):
    """One item per secret key file of the present ``instances``: ``path``,
    ``instances`` (the names of the instances that use it, in order) and
    ``secret_from`` (the first of them with a ``secret`` given, whose secret
    fastd_instance_secret looks up by name; None: keep or generate the key on
    the gateway). Instances with the same ``secret_name`` share one file, so
    the key is generated once and every instance reports the same public key."""
    files = {}
    for inst in _present(instances, "fastd_secret_files"):
        path = inst["secret_file"]
        entry = files.setdefault(path, dict(path=path, instances=[], secret_from=None))
        entry["instances"].append(inst["name"])
        if inst.get("secret_given") and entry["secret_from"] is None:
            entry["secret_from"] = inst["name"]
    return list(files.values())


def fastd_public_keys(results):
    """{instance name: public key} from the results of the freifunk.gateway.fastd_key
    task that looped over fastd_secret_files (None where check mode could not
    know the key yet)."""
    if not isinstance(results, list):
        raise AnsibleFilterError("fastd_public_keys: expects the results of a loop over fastd_secret_files, "
                                 "got %s" % describe(results))
    keys = {}
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get("item"), dict):
            raise AnsibleFilterError("fastd_public_keys: a result without its loop item: %s" % describe(result))
        for name in result["item"].get("instances", []):
            keys[name] = result.get("public_key")
    return keys


def fastd_socket_dirs(instances):
    """The folders the status sockets of the present ``instances`` are in:
    /run/fastd first (the role's run markers are there too), then each other
    folder once, sorted. The role creates them at boot (tmpfiles) and lets
    the sandboxed fastd write there."""
    dirs = {os.path.dirname(i["status_socket"]) for i in _present(instances, "fastd_socket_dirs")}
    dirs.discard(STATUS_SOCKET_DIR)
    return [STATUS_SOCKET_DIR] + sorted(dirs)


class FilterModule:
    """Filters of freifunk.gateway for the files fastd instances share."""

    def filters(self):
        return {
            "fastd_secret_files": fastd_secret_files,
            "fastd_public_keys": fastd_public_keys,
            "fastd_socket_dirs": fastd_socket_dirs,
        }
