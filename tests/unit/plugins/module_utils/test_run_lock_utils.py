"""Tests for plugins/module_utils/run_lock.py: lock names, holder records,
what a lock file means for a run, messages, and who the controller's run is."""

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import run_lock as rl

NOW = 1_750_000_000.0


def holder(run_id="run-a", **extra):
    base = dict(run_id=run_id, controller="ctl1", user="alice", pid=4242, pid_start=1000,
                boot_id="boot-1", pid_ns="pid:[1]")
    base.update(extra)
    return base


# --- names --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["fastd-mesh0", "a", "0", "x" * 64, "fastd@mesh0", "A.b_c-d@e",
                                  "9lives"])
def test_good_names(name):
    assert rl.is_name(name)
    assert rl.name_errors([name]) == []


@pytest.mark.parametrize("name", ["", "-x", ".x", "_x", "@x", "x" * 65, "a/b", "..", "a b", "a\n",
                                  "fastd-mesh0\n", "a:b", "ä", 0, None, True, ["a"]])
def test_bad_names_name_the_item(name):
    errors = rl.name_errors(["good", name])
    assert len(errors) == 1
    assert errors[0].startswith("names[1] must be a lock name")
    assert errors[0].endswith("got %s" % rl.describe(name))


def test_names_must_be_a_list():
    assert rl.name_errors({"a": 1}) == ["names must be a list of lock names, got dict"]
    assert rl.name_errors("fastd-mesh0") == []  # one name given as a string


def test_normalize_sorts_and_dedupes():
    assert rl.normalize_names(["b", "a", "b", "a.1"]) == ["a", "a.1", "b"]
    assert rl.normalize_names("x") == ["x"]


@pytest.mark.parametrize("timeout, ttl, expected", [
    (0, 1, []),
    (-1, 10, ["timeout must be an integer >= 0"]),
    (5, 0, ["ttl must be an integer >= 1"]),
    (True, 10, ["timeout must be an integer >= 0"]),
    (1.5, 10, ["timeout must be an integer >= 0"]),
])
def test_arg_errors(timeout, ttl, expected):
    errors = rl.arg_errors(["a"], timeout, ttl)
    assert [e.split(" (")[0].split(", got")[0] for e in errors] == expected


# --- records ------------------------------------------------------------------

def test_record_round_trip():
    record = rl.make_record(holder(), NOW, 60)
    assert record["taken"] == record["refreshed"] == NOW and record["expires"] == NOW + 60
    assert rl.parse_record(rl.render_record(record)) == record
    refreshed = rl.make_record(holder(), NOW + 30, 60, taken=NOW)
    assert refreshed["taken"] == NOW and refreshed["expires"] == NOW + 90


@pytest.mark.parametrize("data, problem", [
    (b"", "empty"), (b"  \n", "empty"), (b"{", "not JSON"), (b"[]", "not a JSON object"),
    (b"\xff\xfe", "not JSON"), (b'{"taken": 1, "expires": 2}', "no run_id"),
    (b'{"run_id": "a", "expires": 2}', "no taken time"),
    (b'{"run_id": "a", "taken": 1, "expires": true}', "no expires time"),
])
def test_parse_record_rejects(data, problem):
    with pytest.raises(ValueError, match=problem):
        rl.parse_record(data)


# --- classify and plan ----------------------------------------------------------

def test_classify():
    mine = rl.make_record(holder("me"), NOW, 60)
    theirs = rl.make_record(holder("them"), NOW, 60)
    assert rl.classify(None, NOW, "me") == rl.FREE
    assert rl.classify(mine, NOW + 1, "me") == rl.OURS
    assert rl.classify(mine, NOW + 100, "me") == rl.OURS  # still ours: refreshing it is fine
    assert rl.classify(theirs, NOW + 1, "me") == rl.HELD
    assert rl.classify(theirs, NOW + 60, "me") == rl.EXPIRED
    assert rl.classify(theirs, NOW + 1, "me", stale_runs={"them"}) == rl.STALE
    assert rl.classify(ValueError("empty"), NOW, "me", age=1.0) == rl.BUSY
    assert rl.classify(ValueError("empty"), NOW, "me", age=rl.CORRUPT_GRACE) == rl.CORRUPT


def test_plan():
    assert rl.plan(rl.FREE, False) == "create"
    assert rl.plan(rl.OURS, True) == "refresh"
    for state in (rl.EXPIRED, rl.STALE, rl.CORRUPT):
        assert rl.plan(state, False) == "replace"
    for state in (rl.HELD, rl.BUSY):
        assert rl.plan(state, False) == "wait"
        assert rl.plan(state, True) == "replace"


# --- messages -------------------------------------------------------------------

def test_blocked_message_names_files_holders_and_the_way_out():
    record = rl.make_record(holder("them", pid=777, user="bob", controller="ctl9"), NOW, 60)
    blocked = [dict(name=n, path="/run/lock/x/%s.lock" % n, state=rl.HELD, holder=record)
               for n in ("a", "b")]
    blocked.append(dict(name="c", path="/run/lock/x/c.lock", state=rl.BUSY, holder=None,
                        error="the file is empty", age=1.25))
    text = rl.blocked_message(blocked, 600.2, 600)
    assert text.startswith("timed out after 600 s waiting for 3 locks held by another run: ")
    assert ("/run/lock/x/a.lock, /run/lock/x/b.lock are held by run them of ansible-playbook pid 777 "
            "by user bob on controller ctl9, since %s" % rl.when(NOW)) in text
    assert "/run/lock/x/c.lock holds no valid record but was changed 1.2 s ago (the file is empty)" in text
    assert "break_locks=true" in text and "Wait until that run ends" in text
    assert rl.blocked_message(blocked[:1], 0.1, 0).startswith(
        "not waiting (timeout=0) for 1 lock held by another run: /run/lock/x/a.lock is held by")


def test_when():
    assert rl.when(0) == "1970-01-01T00:00:00Z"
    assert rl.when(None) == "an unknown time"


# --- /proc and the controller's run ----------------------------------------------

def fake_proc(tmp_path, pid, comm, state="S", start=12345):
    fields = [state] + ["0"] * 18 + [str(start), "0", "0"]
    (tmp_path / str(pid)).mkdir(parents=True)
    (tmp_path / str(pid) / "stat").write_text("%d (%s) %s\n" % (pid, comm, " ".join(fields)))


def test_process_start_reads_field_22(tmp_path):
    fake_proc(tmp_path, 10, "ansible-playbook", start=987654)
    fake_proc(tmp_path, 11, "evil) S 1 2 3 (x", start=42)  # a command name with ') ' in it
    fake_proc(tmp_path, 12, "dead", state="Z")
    assert rl.process_start(10, str(tmp_path)) == 987654
    assert rl.process_start(11, str(tmp_path)) == 42
    assert rl.process_start(12, str(tmp_path)) is None  # a zombie has ended
    assert rl.process_start(13, str(tmp_path)) is None  # no such process


def test_process_start_of_real_processes():
    with open("/proc/self/stat") as handle:
        expected = int(handle.read().rpartition(")")[2].split()[19])
    assert rl.process_start(os.getpid()) == expected
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        start = rl.process_start(child.pid)
        assert isinstance(start, int) and start >= expected
    finally:
        child.kill()
        child.wait()
    assert rl.process_start(child.pid) is None


def test_controller_identity_is_the_parent_and_stable():
    me = rl.controller_identity()
    assert me["pid"] == os.getppid()
    assert me["pid_start"] == rl.process_start(os.getppid())
    assert rl.controller_identity() == me  # every task of the run computes the same id
    other = rl.controller_identity(pid=os.getpid())
    assert other["run_id"] != me["run_id"]
    # the same pid with another start time (pid reused) is another run
    assert rl.controller_identity(pid=os.getppid(), proc="/nonexistent")["run_id"] != me["run_id"]


def test_controller_identity_without_proc():
    me = rl.controller_identity(pid=4242, proc="/nonexistent")
    assert me["pid_start"] is None and me["boot_id"] is None and me["pid_ns"] is None
    assert me["run_id"] == rl.controller_identity(pid=4242, proc="/nonexistent")["run_id"]


def test_forked_workers_share_the_run_id():
    """Workers forked from one process (as ansible-playbook forks its
    workers) compute the same run id, that of their parent."""
    results = []
    for _attempt in range(2):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(read)
            os.write(write, rl.controller_identity()["run_id"].encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as handle:
            results.append(handle.read())
        os.waitpid(pid, 0)
    assert results[0] == results[1] == rl.controller_identity(pid=os.getpid())["run_id"]


def exited_process():
    """(pid, start) of a process that has ended and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    start = rl.process_start(child.pid)
    child.kill()
    child.wait()
    return child.pid, start


def test_holder_gone_for_real_processes():
    me = rl.controller_identity()
    alive = dict(me, run_id="other", pid=os.getpid(), pid_start=rl.process_start(os.getpid()))
    assert not rl.holder_gone(alive, me)
    reused = dict(alive, pid_start=alive["pid_start"] - 1)  # same pid, another start: pid reused
    assert rl.holder_gone(reused, me)
    pid, start = exited_process()
    dead = dict(me, run_id="other", pid=pid, pid_start=start)
    assert rl.holder_gone(dead, me)
    assert not rl.holder_gone(dict(dead, run_id=me["run_id"]), me)  # never our own run


def test_holder_gone_for_a_zombie():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    me = rl.controller_identity()
    record = dict(me, run_id="other", pid=child.pid, pid_start=rl.process_start(child.pid) or 1)
    deadline = time.monotonic() + 10
    while rl.process_start(child.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert os.path.exists("/proc/%d" % child.pid)  # not reaped yet: a zombie
        assert rl.holder_gone(record, me)
    finally:
        child.wait()


@pytest.mark.parametrize("change", [
    dict(controller="ctl2"), dict(boot_id="boot-2"), dict(pid_ns="pid:[2]"), dict(controller=None),
    dict(pid="4242"), dict(pid=0), dict(pid=True),
])
def test_holder_gone_only_for_runs_of_this_controller(change):
    me = holder("me")
    record = dict(holder("them"), **change)
    assert not rl.holder_gone(record, me, start_of=lambda pid: None, exists=lambda pid: False,
                              proc="/nonexistent")


def test_holder_gone_cases_with_fakes(tmp_path):
    me, them = holder("me"), holder("them")
    gone = dict(start_of=lambda pid: None, proc=str(tmp_path))
    assert rl.holder_gone(them, me, exists=lambda pid: False, **gone)
    # no /proc entry, but the process exists (/proc mounted with hidepid): alive
    assert not rl.holder_gone(them, me, exists=lambda pid: True, **gone)
    assert not rl.holder_gone(them, me, start_of=lambda pid: 1000)
    assert rl.holder_gone(them, me, start_of=lambda pid: 1001)
    # this controller has no /proc: only the ttl counts
    assert not rl.holder_gone(them, dict(me, pid_start=None), exists=lambda pid: False, **gone)

    def unreadable(pid):
        raise PermissionError("no")
    assert not rl.holder_gone(them, me, start_of=unreadable)
    assert not rl.holder_gone(None, me) and not rl.holder_gone(them, None)
