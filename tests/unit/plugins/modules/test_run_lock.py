"""run_lock on real lock files: the module's main() in-process (what Ansible
hands it and gets back), and its try-once step in many processes at once."""

import json
import multiprocessing
import os
import stat
import time
import traceback

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import run_lock as rl
from ansible_collections.freifunk.gateway.plugins.modules import run_lock


def holder(run_id, pid=4242):
    return dict(run_id=run_id, controller="ctl1", user="alice", pid=pid, pid_start=1000,
                boot_id="boot-1", pid_ns="pid:[1]")


A, B = holder("run-a", 1111), holder("run-b", 2222)


@pytest.fixture
def locks(tmp_path):
    return tmp_path / "run" / "lock" / "freifunk-gateway"


@pytest.fixture
def lock(run_module, locks):
    """lock(holder, names, check_mode=False, **args) -> the module's result."""
    def run(who, names, check_mode=False, **args):
        args = dict(args, names=names, path=str(locks), _holder=who)
        return run_module(run_lock, args, check_mode=check_mode)[0]
    return run


def record_of(locks, name):
    return json.loads((locks / (name + ".lock")).read_text())


def files(locks):
    return sorted(os.listdir(locks)) if locks.exists() else []


def test_take_refresh_release(lock, locks):
    result = lock(A, ["fastd-mesh1", "fastd-mesh0", "fastd-mesh1"])
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["held"] == ["fastd-mesh0", "fastd-mesh1"]
    assert result["blocked"] == result["broken"] == [] and result["run_id"] == "run-a"
    assert result["holders"] == {"fastd-mesh0": None, "fastd-mesh1": None}
    assert files(locks) == ["fastd-mesh0.lock", "fastd-mesh1.lock"]  # no temporary files left
    assert stat.S_IMODE(locks.stat().st_mode) == 0o755
    assert stat.S_IMODE((locks / "fastd-mesh0.lock").stat().st_mode) == 0o644
    first = record_of(locks, "fastd-mesh0")
    assert {k: first[k] for k in A} == A
    assert first["expires"] == pytest.approx(first["taken"] + 3600)

    time.sleep(0.05)
    again = lock(A, ["fastd-mesh0"], ttl=100)  # taking it again refreshes it
    assert again["held"] == ["fastd-mesh0"] and again["broken"] == []
    assert again["holders"]["fastd-mesh0"]["run_id"] == "run-a"
    second = record_of(locks, "fastd-mesh0")
    assert second["taken"] == first["taken"] and second["refreshed"] > first["refreshed"]
    assert second["expires"] == pytest.approx(second["refreshed"] + 100)

    released = lock(A, ["fastd-mesh0", "fastd-mesh1", "never-taken"], state="released")
    assert released["changed"] is False and not released.get("failed")
    assert released["released"] == ["fastd-mesh0", "fastd-mesh1"] and released["held"] == []
    assert files(locks) == []


def test_second_run_is_blocked_until_the_first_releases(lock, locks):
    assert lock(A, ["fastd-mesh0"])["held"] == ["fastd-mesh0"]
    before = (locks / "fastd-mesh0.lock").read_bytes()
    blocked = lock(B, ["fastd-mesh0"])
    assert blocked["held"] == [] and not blocked.get("failed")  # the action plugin waits or fails
    assert [(b["name"], b["state"], b["holder"]["run_id"]) for b in blocked["blocked"]] == \
        [("fastd-mesh0", "held", "run-a")]
    assert blocked["blocked"][0]["path"] == str(locks / "fastd-mesh0.lock")
    assert (locks / "fastd-mesh0.lock").read_bytes() == before

    assert lock(B, ["fastd-mesh0"], state="released")["released"] == []  # not B's lock
    assert (locks / "fastd-mesh0.lock").read_bytes() == before
    lock(A, ["fastd-mesh0"], state="released")
    assert lock(B, ["fastd-mesh0"])["held"] == ["fastd-mesh0"]
    assert record_of(locks, "fastd-mesh0")["run_id"] == "run-b"


def test_all_or_nothing(lock, locks):
    lock(B, ["y"])
    result = lock(A, ["x", "y", "z"])
    assert result["held"] == [] and [b["name"] for b in result["blocked"]] == ["y"]
    assert files(locks) == ["y.lock"]  # x was not kept


def test_all_or_nothing_gives_back_what_it_took(lock, locks, monkeypatch):
    """A lock file that appears between the look and the take (a writer that
    does not take the directory's flock): the names taken in this attempt
    are given back, the ones held before are kept."""
    lock(A, ["a"])
    real = run_lock.read_lock

    def racing(path, now):
        if path.endswith("/z.lock") and not os.path.exists(path):
            result = real(path, now)
            (locks / "z.lock").write_bytes(rl.render_record(rl.make_record(B, time.time(), 60)))
            return result
        return real(path, now)
    monkeypatch.setattr(run_lock, "read_lock", racing)
    result = lock(A, ["a", "b", "z"])
    assert result["held"] == [] and [b["holder"]["run_id"] for b in result["blocked"]] == ["run-b"]
    assert files(locks) == ["a.lock", "z.lock"]  # b given back, a still held (held before)
    assert record_of(locks, "a")["run_id"] == "run-a"


def test_expired_lock_is_taken_over(locks):
    run_lock.take(str(locks), ["m"], A, ttl=10, now=1000.0)
    held = run_lock.take(str(locks), ["m"], B, ttl=10, now=1009.9)
    assert held["held"] == [] and held["blocked"][0]["holder"]["run_id"] == "run-a"
    result = run_lock.take(str(locks), ["m"], B, ttl=10, now=1010.0)
    assert result["held"] == ["m"]
    assert [(b["name"], b["reason"].split(":")[0], b["holder"]["run_id"]) for b in result["broken"]] == \
        [("m", "expired", "run-a")]
    assert record_of(locks, "m")["run_id"] == "run-b"


def test_expiry_with_a_real_ttl(lock, locks):
    lock(A, ["m"], ttl=1)
    assert lock(B, ["m"])["blocked"]
    time.sleep(1.1)
    result = lock(B, ["m"])
    assert result["held"] == ["m"] and result["broken"][0]["holder"]["run_id"] == "run-a"


def test_break_locks_says_whose_locks_were_broken(lock, locks):
    lock(A, ["m", "n"])
    result = lock(B, ["m", "n", "o"], break_locks=True)
    assert result["held"] == ["m", "n", "o"]
    assert [(b["name"], b["holder"]["run_id"], b["holder"]["pid"]) for b in result["broken"]] == \
        [("m", "run-a", 1111), ("n", "run-a", 1111)]
    assert all("break_locks" in b["reason"] for b in result["broken"])
    assert record_of(locks, "m")["run_id"] == record_of(locks, "o")["run_id"] == "run-b"
    assert lock(A, ["m", "n"], state="released")["released"] == []  # A no longer holds them
    assert files(locks) == ["m.lock", "n.lock", "o.lock"]


def test_stale_run_is_taken_over_at_once(lock, locks):
    lock(A, ["m"])
    result = lock(B, ["m"], _stale_runs=["run-x", "run-a"])
    assert result["held"] == ["m"]
    assert result["broken"][0]["reason"].startswith("abandoned")
    assert result["broken"][0]["holder"]["run_id"] == "run-a"


def test_check_mode_creates_nothing(lock, locks, monkeypatch):
    warned = []  # (where warnings go depends on whether controller code was imported in this process)
    monkeypatch.setattr(run_lock.AnsibleModule, "warn", lambda self, msg, **kw: warned.append(msg))
    result = lock(A, ["m"], check_mode=True)
    assert result["held"] == [] and result["holders"] == {"m": None} and not locks.exists()
    lock(B, ["m"])
    before = (locks / "m.lock").read_bytes()
    result = lock(A, ["m", "n"], check_mode=True)
    assert not result.get("failed") and result["held"] == []
    assert result["holders"]["m"]["run_id"] == "run-b" and result["holders"]["n"] is None
    assert [b["name"] for b in result["blocked"]] == ["m"]
    assert len(warned) == 1
    assert warned[0].startswith("check mode: a real run would wait for: %s (held by run run-b" % (locks / "m.lock"))
    assert files(locks) == ["m.lock"] and (locks / "m.lock").read_bytes() == before
    assert lock(B, ["m"], check_mode=True, state="released")["released"] == []
    assert (locks / "m.lock").read_bytes() == before


@pytest.mark.parametrize("bad", ["../../etc/passwd", "-rf", "a" * 65, "fastd mesh0", ""])
def test_bad_names_are_refused_before_anything_changes(lock, locks, bad):
    result = lock(A, ["fastd-mesh0", bad])
    assert result["failed"]
    assert "names[1] must be a lock name" in result["msg"]
    assert result["msg"].endswith("got string %r" % bad) or "got string %r..." % bad[:60] in result["msg"]
    assert "names[0]" not in result["msg"]
    assert not locks.exists()


def test_without_the_action_plugin(run_module, locks):
    result, _out = run_module(run_lock, dict(names=["m"], path=str(locks)))
    assert result["failed"] and "action plugin" in result["msg"]
    assert not locks.exists()


def test_corrupt_lock_files(lock, locks):
    locks.mkdir(parents=True)
    fresh = locks / "fresh.lock"
    fresh.write_text("")
    result = lock(A, ["fresh"])
    assert result["held"] == [] and result["blocked"][0]["state"] == "busy"
    assert "empty" in result["blocked"][0]["error"]
    old = time.time() - rl.CORRUPT_GRACE - 1
    os.utime(fresh, (old, old))
    garbage = locks / "garbage.lock"
    garbage.write_text("{not json")
    os.utime(garbage, (old, old))
    result = lock(A, ["fresh", "garbage"])
    assert result["held"] == ["fresh", "garbage"]
    assert [(b["name"], b["reason"].split(":")[0], b["holder"]) for b in result["broken"]] == \
        [("fresh", "corrupt", None), ("garbage", "corrupt", None)]
    assert "not JSON" in result["broken"][1]["error"]


def test_lock_path_that_is_not_a_file(lock, locks):
    (locks / "m.lock").mkdir(parents=True)
    result = lock(A, ["m"])
    assert result["failed"] and result["msg"] == \
        "the lock file %s is not a regular file; remove it" % (locks / "m.lock")
    assert "Traceback" not in json.dumps(result)


def test_lock_directory_that_is_a_file(lock, locks):
    locks.parent.mkdir(parents=True)
    locks.write_text("")
    result = lock(A, ["m"])
    assert result["failed"] and result["msg"] == "the lock directory %s exists but is not a directory" % locks
    assert lock(A, ["m"], check_mode=True)["msg"] == result["msg"]
    assert lock(A, ["m"], state="released")["released"] == []  # nothing of ours there


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_lock_file(lock, locks):
    (locks).mkdir(parents=True)
    (locks / "m.lock").write_text("{}")
    (locks / "m.lock").chmod(0)
    result = lock(A, ["m"])
    assert result["failed"] and "cannot read the lock file %s" % (locks / "m.lock") in result["msg"]


# --- many processes at once ------------------------------------------------------

def _contend(directory, names, index, barrier, queue):
    """One contender: wait for all, try once, report."""
    try:
        me = holder("contender-%d" % index, pid=10000 + index)
        barrier.wait(timeout=30)
        result = run_lock.take(directory, names, me, ttl=60)
        queue.put((index, result["held"], [b["holder"]["run_id"] for b in result["blocked"] if b["holder"]],
                   [b["holder"]["run_id"] for b in result["broken"] if b["holder"]], None))
    except BaseException:  # pragma: no cover - reported as a failure
        queue.put((index, [], [], [], traceback.format_exc()))


def _run_all(ctx, target, args_of, contenders):
    procs = [ctx.Process(target=target, args=args_of(i)) for i in range(contenders)]
    for proc in procs:
        proc.start()
    return procs


@pytest.mark.parametrize("names", [["m"], ["m", "n", "o"]])
def test_many_processes_race_exactly_one_wins(locks, names):
    """12 processes try at the same moment: exactly one gets all names, the
    others are told it holds them; also when all find an expired lock."""
    ctx = multiprocessing.get_context("fork")
    contenders = 12
    directory = str(locks)
    for round_ in range(4):
        if round_ % 2:  # every contender finds an expired lock to take over
            run_lock.take(directory, names, holder("old-run"), ttl=1, now=time.time() - 10)
        barrier, queue = ctx.Barrier(contenders), ctx.Queue()
        procs = _run_all(ctx, _contend, lambda i: (directory, names, i, barrier, queue), contenders)
        results = [queue.get(timeout=60) for _proc in procs]
        for proc in procs:
            proc.join(timeout=60)
            assert proc.exitcode == 0
        assert [r[4] for r in results if r[4]] == []  # no traceback
        winners = [r for r in results if r[1]]
        assert len(winners) == 1, (round_, results)
        winner = "contender-%d" % winners[0][0]
        assert winners[0][1] == sorted(names)
        for _index, held, blocked_by, _broken, _error in results:
            if not held:
                assert blocked_by and set(blocked_by) == {winner}, (round_, results)
        assert winners[0][3] == (["old-run"] * len(names) if round_ % 2 else [])
        assert {record_of(locks, n)["run_id"] for n in names} == {winner}
        assert files(locks) == sorted(n + ".lock" for n in names)
        run_lock.release(directory, names, winner)
        assert files(locks) == []


def _mutex_worker(directory, names, index, barrier, inside, most, queue):
    """Take the locks (retrying), check nobody else is inside, leave, release."""
    try:
        me = holder("worker-%d" % index, pid=20000 + index)
        barrier.wait(timeout=30)
        deadline = time.monotonic() + 60
        while not run_lock.take(directory, names, me, ttl=60)["held"]:
            assert time.monotonic() < deadline, "starved"
            time.sleep(0.002)
        with inside.get_lock():
            inside.value += 1
            most.value = max(most.value, inside.value)
        time.sleep(0.01)
        with inside.get_lock():
            inside.value -= 1
        assert run_lock.release(directory, names, me["run_id"]) == sorted(names)
        queue.put((index, None))
    except BaseException:  # pragma: no cover - reported as a failure
        queue.put((index, traceback.format_exc()))


def test_many_processes_take_turns(locks):
    """12 processes each take the locks once, waiting for the others: never
    two at the same time, everyone gets their turn, no traceback."""
    ctx = multiprocessing.get_context("fork")
    contenders = 12
    barrier, queue = ctx.Barrier(contenders), ctx.Queue()
    inside, most = ctx.Value("i", 0), ctx.Value("i", 0)
    procs = _run_all(ctx, _mutex_worker,
                     lambda i: (str(locks), ["p", "q"], i, barrier, inside, most, queue), contenders)
    results = sorted(queue.get(timeout=120) for _proc in procs)
    for proc in procs:
        proc.join(timeout=60)
    assert results == [(i, None) for i in range(contenders)]
    assert most.value == 1
    assert files(locks) == []
