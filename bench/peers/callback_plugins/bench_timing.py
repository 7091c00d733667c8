# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Task timing for bench/peers/run.py (not part of the collection).

Writes one JSON document to the file named by BENCH_TIMING_FILE when the
playbook ends: wall-clock (time.time()) stamps of the callback's load, the
playbook and play start and, per task, its start and the arrival of its result, plus
what the result says (changed, and the sizes of fastd_peers' lists or the
number of loop items).
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: bench_timing
    type: aggregate
    short_description: Per-task wall-clock stamps for the peers benchmark
    description:
      - Writes task start and result times to the file in BENCH_TIMING_FILE.
    requirements:
      - enabled in callbacks_enabled
"""

LOADED = time.time()


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.doc = {"loaded": LOADED, "playbook_start": None, "tasks": []}

    def v2_playbook_on_start(self, playbook):
        self.doc["playbook_start"] = time.time()

    def v2_playbook_on_play_start(self, play):
        self.doc["play_start"] = time.time()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.doc["tasks"].append({"name": task.get_name(), "start": time.time(), "end": None})

    def _result(self, result, status):
        end = time.time()
        if not self.doc["tasks"]:
            return
        task = self.doc["tasks"][-1]
        res = result._result
        task.update(end=end, status=status, changed=bool(res.get("changed")))
        for key in ("added", "updated", "removed"):
            if isinstance(res.get(key), list):
                task[key] = len(res[key])
        if isinstance(res.get("results"), list):
            task["items"] = len(res["results"])
            task["items_changed"] = sum(1 for r in res["results"] if r.get("changed"))
        if status not in ("ok", "skipped"):
            task["msg"] = str(res.get("msg", ""))[:2000]

    def v2_runner_on_ok(self, result):
        self._result(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self.doc["stats"] = time.time()
        path = os.environ.get("BENCH_TIMING_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self.doc, handle)
