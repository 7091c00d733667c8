#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: run_lock
short_description: Per-name locks on the gateway, so that two runs never change the same thing at once
version_added: 0.1.0
description:
  - Takes or releases named locks on the target, one file C(PATH/NAME.lock) per name, so that two
    C(ansible-playbook) runs against one gateway at the same time do not interleave their changes,
    for example to one fastd instance. Take the locks before the first change and release them in
    an C(always) section.
  - A lock file is a JSON record of its holder, the run that took it (one C(ansible-playbook)
    process on one controller, identified by a run id), that is the controller's host name, the
    user, the pid and start time of its C(ansible-playbook) process, when the lock was taken and when it
    expires. It is created atomically (a complete temporary file hard-linked to the lock name,
    which fails if the name exists) with mode 0644.
  - With O(state=held), the locks of all O(names) are taken in sorted order, all or nothing.
    While any of them is held by another run, the run takes none of them and waits up to
    O(timeout) seconds, checking about once a second, then fails with a message that names the
    lock files, their holders, and how to proceed.
  - A lock is taken over at once when its holder did not refresh it within its O(ttl), when its
    file holds no valid record (and is older than a few seconds), or when its holder is a run of
    this controller whose C(ansible-playbook) process is gone (interrupted with Ctrl-C or killed), that is
    its pid no longer exists or belongs to a process with another start time. RV(broken) lists
    such take-overs.
  - Taking a lock this run already holds refreshes it (its expiry is O(ttl) from now).
  - With O(state=released), removes the lock files this run holds; never another run's.
  - Never reports C(changed), since a lock is no change to the configuration of the host.
  - Runs through an action plugin of the same name, which identifies the run on the controller,
    checks whether holders on this controller are still alive, and waits.
author:
  - freifunk.gateway maintainers (@freifunk-gateway)
extends_documentation_fragment:
  - freifunk.gateway.attributes
attributes:
  check_mode:
    support: full
    details:
      - With O(state=held) the locks are read and their holders reported (RV(holders), RV(blocked)),
        but nothing is created and nothing waited for; a run in check mode changes nothing, so it may
        proceed while another run holds the locks. With O(state=released) nothing is done.
  diff_mode:
    support: N/A
    details:
      - Taking and releasing locks changes no configuration, so there is no diff.
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  names:
    description:
      - The names of the locks, for example V(fastd-mesh0).
      - Each is a letter or digit followed by up to 63 letters, digits, C(_), C(.), C(@) or C(-).
      - The order does not matter; duplicates count once. An empty list takes or releases nothing.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(held) takes the locks (or refreshes them if this run holds them already).
      - V(released) removes the lock files of O(names) that this run holds.
    type: str
    choices: [held, released]
    default: held
  timeout:
    description:
      - Seconds to wait for locks held by another run before failing.
      - V(0) fails at once if any lock is held by another run.
    type: int
    default: 600
  ttl:
    description:
      - Seconds after which a lock whose holder has not refreshed it counts as abandoned and may be
        taken by another run. Taking the lock again while holding it refreshes it.
      - Make it longer than the longest run that holds the locks without taking them again.
    type: int
    default: 3600
  break_locks:
    description:
      - Take the locks even while another run holds them.
      - For an administrator who knows that the run holding them is gone, for example because its
        controller crashed. RV(broken) names the runs whose locks were broken.
    type: bool
    default: false
  path:
    description:
      - The directory of the lock files. Created with mode 0755 if missing.
      - The default is on a tmpfs, so locks vanish when the host reboots, as do the runs' changes in
        flight.
    type: path
    default: /run/lock/freifunk-gateway
  _holder:
    description:
      - Internal, set by the action plugin; do not set it.
      - This run as the controller sees it (run id, controller host name, user, pid and start time
        of its C(ansible-playbook) process).
    type: dict
  _stale_runs:
    description:
      - Internal, set by the action plugin; do not set it.
      - Run ids whose C(ansible-playbook) process the controller found gone; their locks are taken
        over.
    type: list
    elements: str
    default: []
notes:
  - All runs against a gateway must use the same O(path).
  - Holders on other controllers are only ever given up on by O(ttl) or O(break_locks), since
    their processes cannot be checked. Without C(/proc) on the controller (not Linux), this holds
    for holders on the same controller too.
  - On the target, taking, taking over and releasing locks are serialized by a C(flock) on the lock
    directory, so that two runs never take over the same abandoned lock.
seealso:
  - module: freifunk.gateway.fastd_key
"""

EXAMPLES = r"""
- name: Change the fastd instances, one run at a time
  block:
    - name: Lock the instances against other runs
      freifunk.gateway.run_lock:
        names: "{{ fastd_instances | map(attribute='name') | map('regex_replace', '^', 'fastd-') | list }}"
        timeout: 900

    - name: Change the instances
      ansible.builtin.debug:
        msg: changes go here
  always:
    - name: Release the locks
      freifunk.gateway.run_lock:
        names: "{{ fastd_instances | map(attribute='name') | map('regex_replace', '^', 'fastd-') | list }}"
        state: released

- name: Take the locks of a run that is known to be gone (its controller crashed)
  freifunk.gateway.run_lock:
    names: [fastd-mesh0, fastd-mesh1]
    break_locks: true
  register: __locks

- name: Show whose locks were broken
  ansible.builtin.debug:
    var: __locks.broken
"""

RETURN = r"""
held:
  description:
    - The names whose locks this run holds after the task, sorted.
    - Empty with O(state=released), in check mode, and when the task failed.
  returned: always
  type: list
  elements: str
  sample: [fastd-mesh0, fastd-mesh1]
waited:
  description: Seconds spent waiting for other runs' locks.
  returned: always
  type: float
  sample: 12.5
broken:
  description:
    - The locks that were taken over from another holder, each with C(name), C(path), C(reason)
      (why it could be taken) and C(holder) (the record of the previous holder as in RV(holders),
      V(null) if the file held none).
    - The reasons are that the lock had expired, that its holder's C(ansible-playbook) process on
      this controller is gone, that its file held no valid record, or O(break_locks).
  returned: always
  type: list
  elements: dict
  sample:
    - name: fastd-mesh0
      path: /run/lock/freifunk-gateway/fastd-mesh0.lock
      reason: "abandoned: the holder's ansible-playbook process on this controller is gone"
      holder:
        run_id: 0d5e5b6c-6b1e-5bd6-9a0e-1f4c8a1f2f17
        controller: admin-laptop
        user: alice
        pid: 4242
blocked:
  description:
    - The locks held by other runs when the task ended, each with C(name), C(path), C(state)
      (V(held), or V(busy) for a file without a valid record that changed just now) and C(holder).
    - Set when the task failed because of them, and in check mode for the locks a real run would
      wait for. Empty otherwise.
  returned: always
  type: list
  elements: dict
holders:
  description:
    - For each name, the record in its lock file as last read (before this run took or released
      it), or V(null) if there was none.
    - A record has C(run_id), C(controller), C(user), C(pid) and C(pid_start) (the controller's
      C(ansible-playbook) process and its start time in clock ticks after boot), C(boot_id),
      C(pid_ns), and C(taken), C(refreshed) and C(expires) (seconds since the epoch, by the
      clock of the target) and C(ttl).
  returned: always
  type: dict
  sample:
    fastd-mesh0: null
released:
  description: The names whose lock files this run removed (with O(state=released)).
  returned: always
  type: list
  elements: str
  sample: [fastd-mesh0]
directory:
  description: The lock directory, O(path).
  returned: always
  type: str
  sample: /run/lock/freifunk-gateway
run_id:
  description: The id of this run (one C(ansible-playbook) process on one controller).
  returned: always
  type: str
  sample: 0d5e5b6c-6b1e-5bd6-9a0e-1f4c8a1f2f17
"""

import contextlib
import os
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.freifunk.gateway.plugins.module_utils import run_lock as rl

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None


def read_lock(path, now):
    """(record, age) of the lock file ``path``: record None if it is
    missing, a ValueError if it holds no valid record; age in seconds since
    it last changed. Raises LockError if it cannot be read."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise rl.LockError("cannot examine the lock file %s: %s" % (path, exc.strerror))
    if not stat.S_ISREG(info.st_mode):
        raise rl.LockError("the lock file %s is not a regular file; remove it" % path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise rl.LockError("cannot read the lock file %s: %s" % (path, exc.strerror))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(1 << 16)
    age = max(0.0, now - info.st_mtime)
    try:
        return rl.parse_record(data), age
    except ValueError as exc:
        return ValueError("%s: %s" % (path, exc)), age


def ensure_directory(path, create):
    """Make sure the lock directory exists (with ``create``), tolerating other
    runs creating it at the same moment."""
    if os.path.isdir(path):
        return
    if create:
        try:
            os.makedirs(path)
            os.chmod(path, rl.DIR_MODE)
        except FileExistsError:
            pass
        except OSError as exc:
            raise rl.LockError("cannot create the lock directory %s: %s" % (path, exc.strerror))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise rl.LockError("the lock directory %s exists but is not a directory" % path)


@contextlib.contextmanager
def guard(directory):
    """Serialize reading and changing the lock files of ``directory`` on this
    host: an exclusive flock on the directory, released when the process
    ends in any way. Where flock is not supported, creating a lock stays
    atomic (hard link) but taking over is not serialized."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise rl.LockError("cannot open the lock directory %s: %s" % (directory, exc.strerror))
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                pass
        yield
    finally:
        os.close(fd)


def write_record(path, record, replace):
    """Write ``record`` to the lock file ``path`` through a complete
    temporary file: hard-linked to ``path`` (False if it exists already), or
    with ``replace`` renamed over it."""
    directory, base = os.path.split(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + base + ".", dir=directory)
    except OSError as exc:
        raise rl.LockError("cannot create a file in the lock directory %s: %s" % (directory, exc.strerror))
    try:
        os.fchmod(fd, rl.FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(rl.render_record(record))
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    except OSError as exc:
        raise rl.LockError("cannot write the lock file %s: %s" % (path, exc.strerror))
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def remove_own(path, run_id, now):
    """Remove ``path`` if it is a lock of ``run_id``; whether it was."""
    record, _age = read_lock(path, now)
    if not isinstance(record, dict) or record["run_id"] != run_id:
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise rl.LockError("cannot remove the lock file %s: %s" % (path, exc.strerror))
    return True


def _entry(name, path, record, age=None, **extra):
    entry = dict(name=name, path=path, holder=record if isinstance(record, dict) else None, **extra)
    if isinstance(record, Exception):
        entry["error"] = str(record)
        entry["age"] = round(age or 0.0, 3)
    return entry


def take(directory, names, holder, ttl, break_locks=False, stale_runs=(), check_mode=False, now=None):
    """Try once to take the locks ``names`` (sorted) for ``holder``, all or
    nothing. Returns dict(held, blocked, broken, holders)."""
    now = time.time() if now is None else now
    run_id = holder["run_id"]
    result = dict(held=[], blocked=[], broken=[], holders={})
    ensure_directory(directory, create=not check_mode)
    if check_mode and not os.path.isdir(directory):
        result["holders"] = dict((name, None) for name in names)
        return result
    with (contextlib.nullcontext() if check_mode else guard(directory)):
        found = []
        for name in names:
            path = rl.lock_file(directory, name)
            record, age = read_lock(path, now)
            state = rl.classify(record, now, run_id, stale_runs, age)
            result["holders"][name] = record if isinstance(record, dict) else None
            found.append((name, path, record, age, state))
            if rl.plan(state, break_locks) == "wait":
                result["blocked"].append(_entry(name, path, record, age, state=state))
        if result["blocked"] or check_mode:
            return result

        taken = []  # taken in this attempt (not refreshed): given back if it fails
        complete = False
        try:
            for name, path, record, age, state in found:
                action = rl.plan(state, break_locks)
                if action == "refresh":
                    write_record(path, rl.make_record(holder, now, ttl, taken=record["taken"]), True)
                    continue
                new = rl.make_record(holder, now, ttl)
                if action == "create":
                    if not write_record(path, new, False):
                        # Created by a writer that does not take the guard.
                        record, age = read_lock(path, now)
                        result["blocked"].append(_entry(name, path, record, age, state=rl.HELD))
                        break
                else:
                    write_record(path, new, True)
                    reason = rl.REASONS[state if state in rl.TAKEN_OVER else "break_locks"]
                    result["broken"].append(_entry(name, path, record, age, reason=reason))
                taken.append(path)
            else:
                complete = True
        finally:
            if not complete:
                for path in taken:
                    remove_own(path, run_id, now)
        if complete:
            result["held"] = list(names)
    return result


def release(directory, names, run_id, check_mode=False):
    """Remove the lock files of ``names`` that ``run_id`` holds; the names removed."""
    released = []
    if check_mode or not os.path.isdir(directory):
        return released
    now = time.time()
    with guard(directory):
        for name in names:
            if remove_own(rl.lock_file(directory, name), run_id, now):
                released.append(name)
    return released


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", required=True),
            state=dict(type="str", choices=["held", "released"], default="held"),
            timeout=dict(type="int", default=rl.DEFAULT_TIMEOUT),
            ttl=dict(type="int", default=rl.DEFAULT_TTL),
            break_locks=dict(type="bool", default=False),
            path=dict(type="path", default=rl.DEFAULT_PATH),
            _holder=dict(type="dict"),
            _stale_runs=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    errors = rl.arg_errors(params["names"], params["timeout"], params["ttl"])
    if errors:
        module.fail_json(msg="; ".join(errors))
    holder = params["_holder"]
    if not isinstance(holder, dict) or not isinstance(holder.get("run_id"), str) or not holder["run_id"]:
        module.fail_json(msg="run_lock runs through its action plugin (freifunk.gateway.run_lock), "
                             "which identifies the run; _holder with a run_id is missing")
    names = rl.normalize_names(params["names"])
    directory = params["path"]
    result = dict(changed=False, held=[], waited=0.0, broken=[], blocked=[], holders={},
                  released=[], directory=directory, run_id=holder["run_id"])
    try:
        if params["state"] == "released":
            result["released"] = release(directory, names, holder["run_id"], module.check_mode)
        else:
            result.update(take(directory, names, holder, params["ttl"], params["break_locks"],
                               set(params["_stale_runs"]), module.check_mode))
    except rl.LockError as exc:
        module.fail_json(msg=str(exc), **result)
    except OSError as exc:  # anything not foreseen above, still without a traceback
        module.fail_json(msg="run_lock: %s%s" % (exc.strerror or exc, ": %s" % exc.filename if exc.filename else ""),
                         **result)
    if module.check_mode and result["blocked"]:
        module.warn("check mode: a real run would wait for: %s"
                    % "; ".join("%s (held by %s)" % (b["path"], rl.describe_holder(b["holder"]))
                                for b in result["blocked"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
