# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-name run locks on the managed host (module and action plugin run_lock).

A lock is a file ``PATH/NAME.lock`` holding a JSON record of its holder: the
run (one ``ansible-playbook`` process on one controller), who started it and
until when the lock is valid. This file has what both sides share:

* checking the arguments (lock names, timeout, ttl);
* the holder record: building, parsing, describing it in messages;
* deciding per lock file what a run may do with it (``classify``);
* on the controller: who this run is (``controller_identity``, from
  ``/proc/PID/stat`` of the ``ansible-playbook`` process) and whether the run
  holding a lock is gone (``holder_gone``).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import time
import uuid

from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe

NAME_RULE = ("a lock name: a letter or digit, then up to 63 letters, digits, "
             "'_', '.', '@' or '-'")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")

DEFAULT_PATH = "/run/lock/freifunk-gateway"
DEFAULT_TIMEOUT = 600
DEFAULT_TTL = 3600
SUFFIX = ".lock"
FILE_MODE = 0o644
DIR_MODE = 0o755
# A lock file without a valid record is treated as held for this long after
# its last change, then as abandoned. Lock files appear complete (they are
# hard links to a fully written temporary file), so this only guards against
# writers that do not work that way.
CORRUPT_GRACE = 5.0
FORMAT = 1

# What classify() finds; the first three mean the run may take the lock.
FREE = "free"          # no lock file
OURS = "ours"          # held by this run: taking it refreshes it
EXPIRED = "expired"    # its holder did not refresh it within its ttl
STALE = "stale"        # its holder's ansible-playbook process is gone (controller's word)
CORRUPT = "corrupt"    # no valid record, older than CORRUPT_GRACE
HELD = "held"          # held by another run
BUSY = "busy"          # no valid record, but changed just now
TAKEN_OVER = (EXPIRED, STALE, CORRUPT)

REASONS = {
    EXPIRED: "expired: its holder did not refresh it within its ttl",
    STALE: "abandoned: the holder's ansible-playbook process on this controller is gone",
    CORRUPT: "corrupt: the lock file held no valid record",
    "break_locks": "broken with break_locks while held by another run",
}

_NAMESPACE = uuid.UUID("5b0b7c4e-3f0a-4f55-9d51-6f7265696675")
_HOLDER_KEYS = ("run_id", "controller", "user", "pid", "pid_start", "boot_id", "pid_ns")


class LockError(Exception):
    """A problem with a lock file or the lock directory, worded for the user."""


# --- arguments ----------------------------------------------------------------

def is_name(value):
    return isinstance(value, str) and bool(_NAME.fullmatch(value))


def name_errors(names, var="names"):
    """Messages for ``names`` unless it is a list of lock names, each naming the bad item."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)):
        return ["%s must be a list of lock names, got %s" % (var, describe(names))]
    return ["%s[%d] must be %s; got %s" % (var, index, NAME_RULE, describe(name))
            for index, name in enumerate(names) if not is_name(name)]


def normalize_names(names):
    """The names sorted, each once: the order every run takes them in."""
    if isinstance(names, str):
        names = [names]
    return sorted(set(str(name) for name in names))


def arg_errors(names, timeout, ttl):
    errors = name_errors(names)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 0:
        errors.append("timeout must be an integer >= 0 (seconds; 0 = do not wait), got %s"
                      % describe(timeout))
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        errors.append("ttl must be an integer >= 1 (seconds), got %s" % describe(ttl))
    return errors


def lock_file(directory, name):
    return os.path.join(directory, name + SUFFIX)


# --- the holder record --------------------------------------------------------

def make_record(holder, now, ttl, taken=None):
    """The JSON-ready record of ``holder`` (from controller_identity) taking a
    lock at ``now`` (the managed host's clock), valid for ``ttl`` seconds."""
    record = dict(format=FORMAT)
    for key in _HOLDER_KEYS:
        record[key] = holder.get(key)
    record.update(taken=taken if taken is not None else now, refreshed=now, ttl=ttl,
                  expires=now + ttl)
    return record


def render_record(record):
    return (json.dumps(record, sort_keys=True, indent=1) + "\n").encode("utf-8")


def parse_record(data):
    """The record in ``data`` (bytes), or raise ValueError saying what is wrong."""
    if not data.strip():
        raise ValueError("the file is empty")
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not JSON (%s)" % exc)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    if not isinstance(record.get("run_id"), str) or not record["run_id"]:
        raise ValueError("no run_id")
    for key in ("taken", "expires"):
        if not isinstance(record.get(key), (int, float)) or isinstance(record.get(key), bool):
            raise ValueError("no %s time" % key)
    return record


def classify(record, now, run_id, stale_runs=(), age=None):
    """What a lock file means for run ``run_id`` at ``now``.

    ``record``: None for a missing file, a dict from parse_record, or an
    exception (ValueError) for a file without a valid record, which is BUSY
    while younger than CORRUPT_GRACE seconds (``age``), else CORRUPT.
    ``stale_runs``: run ids the controller found gone.
    """
    if record is None:
        return FREE
    if isinstance(record, Exception):
        return BUSY if age is not None and age < CORRUPT_GRACE else CORRUPT
    if record["run_id"] == run_id:
        return OURS
    if record["run_id"] in stale_runs:
        return STALE
    if record["expires"] <= now:
        return EXPIRED
    return HELD


def plan(state, break_locks):
    """What taking a lock in ``state`` does: 'create', 'refresh', 'replace' or 'wait'."""
    if state == FREE:
        return "create"
    if state == OURS:
        return "refresh"
    if state in TAKEN_OVER or break_locks:
        return "replace"
    return "wait"


# --- messages -----------------------------------------------------------------

def when(seconds):
    """An epoch time as UTC ISO 8601, e.g. 2025-06-01T10:00:00Z."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(seconds)))
    except (TypeError, ValueError, OverflowError, OSError):
        return "an unknown time"


def describe_holder(record):
    """Who holds a lock, for a message."""
    if not isinstance(record, dict):
        return "an unknown holder (the file holds no valid record)"
    return ("run %s of ansible-playbook pid %s by user %s on controller %s, since %s "
            "(expires %s unless refreshed)"
            % (record.get("run_id"), record.get("pid", "?"), record.get("user") or "?",
               record.get("controller") or "?", when(record.get("taken")),
               when(record.get("expires"))))


def blocked_message(blocked, waited, timeout):
    """The failure when locks stayed held by other runs; ``blocked`` as the
    module returns it (dicts with path, state, holder, error)."""
    if timeout:
        head = "timed out after %.0f s waiting for" % waited
    else:
        head = "not waiting (timeout=0) for"
    parts = []
    by_run = {}  # the files of each holding run, in the order first seen
    for item in blocked:
        holder = item.get("holder")
        if item.get("state") == BUSY or not isinstance(holder, dict):
            parts.append("%s holds no valid record but was changed %.1f s ago (%s); it counts as "
                         "held until it is %d s old, then as abandoned"
                         % (item["path"], item.get("age") or 0.0, item.get("error"), CORRUPT_GRACE))
            continue
        if holder["run_id"] not in by_run:
            by_run[holder["run_id"]] = ([], holder)
            parts.append(holder["run_id"])
        by_run[holder["run_id"]][0].append(item["path"])
    for index, part in enumerate(parts):
        if part in by_run:
            paths, holder = by_run[part]
            parts[index] = "%s %s held by %s" % (", ".join(paths), "is" if len(paths) == 1 else "are",
                                                 describe_holder(holder))
    return ("%s %d lock%s held by another run: %s. Wait until that run ends (it releases its "
            "locks at its end) and try again, or, if that run is gone (for example its controller "
            "crashed), take its locks with break_locks=true"
            % (head, len(blocked), "" if len(blocked) == 1 else "s", "; ".join(parts)))


# --- the controller side ------------------------------------------------------

def process_start(pid, proc="/proc"):
    """The start time of process ``pid`` in clock ticks after boot (field 22
    of ``/proc/PID/stat``), or None when there is no such process (a zombie
    counts as gone). Raises OSError for other problems reading the file."""
    try:
        with open(os.path.join(proc, str(int(pid)), "stat"), "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so split
    # after the last ')'; the fields after it start with field 3 (state).
    fields = text.rpartition(")")[2].split()
    if len(fields) < 20:
        raise OSError("cannot parse %s/%s/stat: %r" % (proc, pid, text[:200]))
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def proc_available(proc="/proc"):
    return os.path.exists(os.path.join(proc, "self", "stat"))


def pid_exists(pid):
    """Whether a process ``pid`` exists (also one of another user)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


def _read_first_line(path):
    try:
        with open(path) as handle:
            return handle.readline().strip() or None
    except OSError:
        return None


def controller_identity(pid=None, proc="/proc"):
    """Who this run is: the holder record's fields for the ``ansible-playbook``
    process ``pid`` (default: the parent of this process, since an action
    plugin runs in a worker forked from it).

    The run id is derived from the controller's host name, boot id, pid
    namespace, the pid and the process's start time, so every task of the
    run computes the same id in any worker without shared state. Without
    /proc (not Linux) the start time is unknown (``pid_start`` None): the
    run id then rests on host name and pid, and liveness cannot be checked.
    """
    if pid is None:
        pid = os.getppid()
    has_proc = proc_available(proc)
    try:
        start = process_start(pid, proc) if has_proc else None
    except (OSError, ValueError):
        start = None
    boot_id = _read_first_line(os.path.join(proc, "sys", "kernel", "random", "boot_id")) if has_proc else None
    try:
        pid_ns = os.readlink(os.path.join(proc, "self", "ns", "pid")) if has_proc else None
    except OSError:
        pid_ns = None
    try:
        user = getpass.getuser()
    except (KeyError, OSError, ImportError):
        user = str(os.getuid())
    host = socket.gethostname()
    key = "|".join(str(part) for part in (host, boot_id, pid_ns, pid, start))
    return dict(run_id=str(uuid.uuid5(_NAMESPACE, key)), controller=host, user=user, pid=pid,
                pid_start=start, boot_id=boot_id, pid_ns=pid_ns)


def holder_gone(record, me, start_of=process_start, exists=pid_exists, proc="/proc"):
    """Whether the run that wrote ``record`` is known to be gone: it ran on
    this controller (same host name, boot and pid namespace as ``me``) and
    its ansible-playbook process no longer exists, or the pid now belongs to
    a process with another start time. False when this cannot be told."""
    if not isinstance(record, dict) or not isinstance(me, dict):
        return False
    if me.get("pid_start") is None or record.get("run_id") == me.get("run_id"):
        return False
    for key in ("controller", "boot_id", "pid_ns"):
        if record.get(key) is None or record.get(key) != me.get(key):
            return False
    pid = record.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        start = start_of(pid)
    except (OSError, ValueError):
        return False
    if start is None:
        if os.path.exists(os.path.join(proc, str(pid))):
            return True  # a zombie: visible, but its run is over
        # No /proc entry: gone, unless the process exists but is hidden
        # from us (/proc mounted with hidepid).
        return not exists(pid)
    return start != record.get("pid_start")
