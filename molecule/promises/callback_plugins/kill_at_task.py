# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test aid of the promises scenario: kill ansible-playbook with SIGKILL
right after a named task finished, as a controller that dies or an admin's
kill -9 would, at exactly the point a test wants (no timing guesses).

Enabled only by the scenario's nested runs (ANSIBLE_CALLBACKS_ENABLED);
PROMISES_KILL_AT names the task (the name without the role's prefix).
"""

from __future__ import annotations

import os
import signal

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: kill_at_task
type: aggregate
short_description: Kill ansible-playbook with SIGKILL after a named task (tests only)
description:
  - Test aid of the promises scenario. Kills the ansible-playbook process after the task
    named in the environment variable E(PROMISES_KILL_AT) finished on any host.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kill_at_task"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._task = os.environ.get("PROMISES_KILL_AT", "")

    def _maybe_kill(self, result):
        name = result._task.get_name()
        if self._task and (name == self._task or name.endswith(" : " + self._task)):
            self._display.display("kill_at_task: killing ansible-playbook after %r" % name)
            os.kill(os.getpid(), signal.SIGKILL)

    def v2_runner_on_ok(self, result):
        self._maybe_kill(result)

    def v2_runner_on_skipped(self, result):
        self._maybe_kill(result)
