# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller side of freifunk.gateway.run_lock.

Runs in the worker process that ``ansible-playbook`` forks for the task, so
the parent process is the run: its pid and start time (``/proc/PID/stat``)
give the run id, the same in every task and worker of the run. Calls the
module in try-once mode until it gets the locks; when the module reports a
lock held by a run of this controller whose ``ansible-playbook`` process is
gone, calls it again at once with that run id in ``_stale_runs``; otherwise
waits about a second between attempts, up to ``timeout``.
"""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.freifunk.gateway.plugins.module_utils import run_lock as rl

MODULE = "freifunk.gateway.run_lock"
POLL = 1.0

ARGUMENT_SPEC = dict(
    names=dict(type="raw", required=True),
    state=dict(type="str", choices=["held", "released"], default="held"),
    timeout=dict(type="int", default=rl.DEFAULT_TIMEOUT),
    ttl=dict(type="int", default=rl.DEFAULT_TTL),
    break_locks=dict(type="bool", default=False),
    path=dict(type="path", default=rl.DEFAULT_PATH),
)


def newly_gone(blocked, me, known, gone=rl.holder_gone):
    """Run ids of the holders in ``blocked`` (as the module returns it) that
    are runs of this controller whose process is gone, not yet in ``known``."""
    found = set()
    for item in blocked:
        holder = item.get("holder")
        if isinstance(holder, dict) and holder.get("run_id") not in known and gone(holder, me):
            found.add(holder["run_id"])
    return found


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _supports_check_mode = True

    # Seams for the tests.
    _clock = staticmethod(time.monotonic)
    _sleep = staticmethod(time.sleep)

    def identity(self):
        return rl.controller_identity()

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(ARGUMENT_SPEC)
        errors = rl.arg_errors(args["names"], args["timeout"], args["ttl"])
        if errors:
            raise AnsibleActionFail("; ".join(errors))
        names = rl.normalize_names(args["names"])
        timeout = args["timeout"]
        me = self.identity()
        module_args = dict(names=names, state=args["state"], timeout=timeout, ttl=args["ttl"],
                           break_locks=args["break_locks"], path=args["path"], _holder=me)
        stale = set()
        # Waiting starts when another run first blocks this one: the time
        # the first try takes (connection, module start) is not waiting.
        blocked_since = None
        try:
            while True:
                module_args["_stale_runs"] = sorted(stale)
                answer = self._execute_module(module_name=MODULE, module_args=dict(module_args),
                                              task_vars=task_vars)
                now = self._clock()
                waited = round(now - blocked_since, 3) if blocked_since is not None else 0.0
                result.update(answer)
                result.update(changed=False, waited=waited)
                if answer.get("failed") or args["state"] == "released" or self._task.check_mode:
                    return result
                blocked = answer.get("blocked") or []
                if not blocked:
                    return result
                gone = newly_gone(blocked, me, stale)
                if gone:
                    stale |= gone
                    continue
                if blocked_since is None:
                    blocked_since = now
                if waited >= timeout:
                    result.update(failed=True, msg=rl.blocked_message(blocked, waited, timeout))
                    return result
                self._sleep(min(POLL, max(0.0, timeout - waited)))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
