# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Task timing for bench/fleet/run.py (not part of the collection).

Records when each task started and when each host's result came back, and
whether the task reached the host or ran on the controller only. Writes a
JSON list to the file named by FLEET_TIMING_FILE when the playbook ends.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: fleet_timing
    type: aggregate
    short_description: Per-task, per-host result times for the fleet benchmark
    description:
      - Writes task and per-host result times to the file in FLEET_TIMING_FILE.
    requirements:
      - enabled in callbacks_enabled
"""

# Actions that run on the controller only (no connection to the host).
CONTROLLER_ACTIONS = {
    "set_fact", "debug", "assert", "fail", "include_role", "include_tasks", "import_role", "import_tasks",
    "validate_argument_spec", "meta", "include_vars", "set_stats", "add_host", "group_by",
}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fleet_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("FLEET_TIMING_FILE")
        self._start = time.monotonic()
        self._task = None
        self._records = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        action = task.action.rsplit(".", 1)[-1]
        delegated = bool(task.delegate_to) and task.delegate_to in ("localhost", "127.0.0.1")
        self._task = {
            "name": task.get_name(),
            "remote": action not in CONTROLLER_ACTIONS and not delegated,
            "start": time.monotonic() - self._start,
        }

    def _record(self, result, status):
        if self._task is None:
            return
        self._records.append({
            "task": self._task["name"],
            "remote": self._task["remote"],
            "host": result._host.get_name(),
            "status": status,
            "seconds": round(time.monotonic() - self._start - self._task["start"], 3),
        })

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        if self._path:
            with open(self._path, "w", encoding="utf-8") as handle:
                json.dump(self._records, handle)
