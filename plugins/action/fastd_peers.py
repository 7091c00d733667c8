# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller side of freifunk.gateway.fastd_peers.

With ``exclusive`` (the default) and at least QUICK_MIN_PEERS peers, first
asks the module whether the folder
still holds exactly what the last sync of this very list left there (the
digests in its state file; the module reads every file again). If so, the
task ends unchanged. Otherwise it checks the task's arguments and the whole
peer list on the controller (every mistake at once, each naming its place
such as ``peers[3].key``), renders each peer file, and calls the module with
the files as one JSON string (module_utils/fastd_peer_payload.py) in place
of the list. The module compares them with the host's folder, byte by byte,
and writes only what differs, as before; check mode and diff work as in the
module.

The result does not echo the list (``invocation`` shows ``(N peers)``), and
the worker's copy of the task no longer holds it either, so the list is not
sent back to the main process with the result.
"""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import BOOLEANS, boolean
from ansible.plugins.action import ActionBase
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_payload import FILES_OPTION, list_digest, pack
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_render import render_peers
from ansible_collections.freifunk.gateway.plugins.module_utils.files import parse_mode
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe

MODULE = "freifunk.gateway.fastd_peers"
OPTIONS = ("path", "peers", "exclusive", "mode")
DEFAULTS = {"exclusive": True, "mode": "0644"}
# Below this many peers, checking, rendering and shipping the list costs less
# than the extra module call that asks whether the folder is in sync.
QUICK_MIN_PEERS = 2000


def options(args):
    """``(errors, values)``: the task arguments with defaults, and every
    mistake in them except in the peer list itself."""
    errors = []
    unknown = sorted(str(k) for k in args if k not in OPTIONS)
    if unknown:
        errors.append("unsupported parameters: %s (valid: %s)" % (", ".join(unknown), ", ".join(OPTIONS)))
    values = dict(DEFAULTS, **{k: v for k, v in args.items() if k in OPTIONS})
    path = values.get("path")
    if not isinstance(path, str) or not path:
        errors.append("path is required: the peers directory on the host, got %s" % describe(path))
    exclusive = values["exclusive"]
    if isinstance(exclusive, str):
        exclusive = exclusive.lower()
    if isinstance(exclusive, bool) or exclusive in BOOLEANS:
        exclusive = boolean(exclusive)
    else:
        errors.append("exclusive must be true or false, got %s" % describe(values["exclusive"]))
    try:
        parse_mode(values["mode"])
    except ValueError as exc:
        errors.append(str(exc))
    values["exclusive"] = exclusive
    if "peers" not in values:
        errors.append("peers is required: a list of peers (each with name and key)")
    return errors, values


def shown_args(values):
    """What the result shows as its ``invocation``: the list replaced by its length."""
    peers = values["peers"]
    count = "(%d peers)" % len(peers) if isinstance(peers, list) else peers
    return dict(path=values["path"], peers=count, exclusive=values["exclusive"], mode=values["mode"])


def quick_args(values):
    """The module arguments that ask whether the folder is in sync with this
    list, or None when that cannot be asked (not exclusive, not a list)."""
    if not values["exclusive"] or not isinstance(values["peers"], list) or len(values["peers"]) < QUICK_MIN_PEERS:
        return None
    return dict(path=values["path"], peers=[], exclusive=True, mode=values["mode"], _quick=True,
                _list_digest=list_digest(values["peers"], values["mode"], True))


def plan(args):
    """``(errors, module_args, shown_args)`` for the task arguments ``args``.

    ``errors`` lists every mistake; when there is none, ``module_args`` is
    what the module gets for a full sync and ``shown_args`` what the result
    shows as its ``invocation``."""
    errors, values = options(args)
    files = None
    if "peers" in values:
        peer_errors, files = render_peers(values["peers"], "peers")
        errors.extend(peer_errors)
    if errors:
        return errors, None, None
    module_args = dict(path=values["path"], peers=[], exclusive=values["exclusive"], mode=values["mode"])
    module_args[FILES_OPTION] = pack(files)
    module_args["_list_digest"] = list_digest(values["peers"], values["mode"], values["exclusive"])
    return [], module_args, shown_args(values)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        # Retries (until:) run this again with the same task: keep its list.
        args = self.__dict__.setdefault("_task_args", self._task.args)
        try:
            answer = self._sync(args, task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(answer)
        return result

    def _sync(self, args, task_vars):
        errors, values = options(args)
        quick = None if errors else quick_args(values)
        if quick:
            answer = self._execute_module(module_name=MODULE, module_args=quick, task_vars=task_vars)
            if answer.get("failed"):
                return answer
            if answer.get("in_sync"):
                self._task.args = shown_args(values)
                result = dict(changed=False, added=[], updated=[], removed=[], count=len(values["peers"]),
                              invocation={"module_args": shown_args(values)})
                if self._task.diff:
                    result["diff"] = []
                return result
        errors, module_args, shown = plan(args)
        if errors:
            peers_only = all(e.startswith("peers[") for e in errors)
            return dict(failed=True, errors=errors,
                        msg=("invalid peers: " if peers_only else "invalid arguments: ") + "; ".join(errors))
        # The worker sends its task back with the result: without the list
        # that is a few hundred bytes instead of the whole list again.
        self._task.args = shown
        answer = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        answer["invocation"] = {"module_args": shown}
        return answer
