"""The run_lock action plugin: waiting, timing out, taking over the locks of
runs of this controller that are gone.

First in-process, with the real module main() on real lock files under
tmp_path and a fake clock; then end to end with real ansible-playbook runs
on localhost (two runs contending; a run killed with SIGKILL)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.freifunk.gateway.plugins.action import run_lock as action
from ansible_collections.freifunk.gateway.plugins.module_utils import run_lock as rl
from ansible_collections.freifunk.gateway.plugins.modules import run_lock as module

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


class Clock(object):
    """A fake monotonic clock that sleeping advances; ``on_sleep`` runs at
    each sleep (to let another run release its lock)."""

    def __init__(self):
        self.now, self.sleeps, self.on_sleep = 0.0, [], None

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


@pytest.fixture
def locks(tmp_path):
    return tmp_path / "locks"


@pytest.fixture
def act(run_module, locks):
    """act(args, check_mode=False) -> (result, calls): the action plugin run
    with the real module; calls are the module_args of each module call."""
    def run(args, check_mode=False, clock=None):
        clock = clock or Clock()
        calls = []
        task = mock.MagicMock(args=dict(args, path=str(locks)), check_mode=check_mode, async_val=0,
                              action="freifunk.gateway.run_lock")
        connection = mock.MagicMock()
        connection._shell.tmpdir = None
        plugin = action.ActionModule(task, connection, mock.MagicMock(), None, None, None)

        def execute(module_name, module_args, task_vars):
            assert module_name == "freifunk.gateway.run_lock"
            calls.append(json.loads(json.dumps(module_args)))
            return run_module(module, module_args, check_mode=check_mode)[0]
        plugin._execute_module = execute
        plugin._remove_tmp_path = lambda path: None
        plugin._clock, plugin._sleep = clock, clock.sleep
        return plugin.run(task_vars={}), calls
    return run


def hold(locks, who, names=("m",), ttl=3600):
    """Let run ``who`` (a holder dict) take ``names`` as the module would."""
    result = module.take(str(locks), sorted(names), who, ttl)
    assert result["held"] == sorted(names), result


def process_holder(pid, run_id="other-run"):
    """A holder record for the ansible-playbook process ``pid`` of this controller."""
    return dict(rl.controller_identity(pid=pid), run_id=run_id)


@pytest.fixture
def exited():
    """A holder whose process has ended (started, recorded, killed, reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    who = process_holder(child.pid, "dead-run")
    child.kill()
    child.wait()
    return who


@pytest.fixture
def alive():
    """A holder whose process is alive: this test process."""
    return process_holder(os.getpid(), "live-run")


def test_takes_and_releases(act, locks):
    result, calls = act(dict(names=["b", "a"]))
    assert not result.get("failed"), result
    assert result["held"] == ["a", "b"] and result["changed"] is False and result["waited"] == 0
    me = rl.controller_identity()
    assert calls[0]["_holder"] == me and calls[0]["_stale_runs"] == []
    assert json.loads((locks / "a.lock").read_text())["run_id"] == me["run_id"] == result["run_id"]
    # the same run again: the same run id, so it refreshes
    again, _calls = act(dict(names=["a"]))
    assert again["held"] == ["a"] and again["broken"] == []
    released, _calls = act(dict(names=["a", "b"], state="released"))
    assert released["released"] == ["a", "b"] and os.listdir(locks) == []


def test_timeout_zero_fails_at_once_naming_the_holder(act, locks, alive):
    hold(locks, alive)
    clock = Clock()
    result, calls = act(dict(names=["m"], timeout=0), clock=clock)
    assert result["failed"] and len(calls) == 1 and clock.sleeps == []
    assert result["msg"].startswith("not waiting (timeout=0) for 1 lock held by another run: "
                                    "%s is held by run live-run of ansible-playbook pid %d by user %s "
                                    "on controller %s, since "
                                    % (locks / "m.lock", os.getpid(), alive["user"], alive["controller"]))
    assert "break_locks=true" in result["msg"]
    assert result["held"] == [] and result["blocked"][0]["holder"]["run_id"] == "live-run"
    assert json.loads((locks / "m.lock").read_text())["run_id"] == "live-run"


def test_waits_about_a_second_between_tries_then_times_out(act, locks, alive):
    hold(locks, alive)
    clock = Clock()
    result, calls = act(dict(names=["m"], timeout=3), clock=clock)
    assert result["failed"] and result["msg"].startswith("timed out after 3 s waiting for 1 lock")
    assert clock.sleeps == [1.0, 1.0, 1.0] and len(calls) == 4 and result["waited"] == 3.0
    assert all(c["_stale_runs"] == [] for c in calls)


def test_gets_the_lock_when_the_other_run_releases_it(act, locks, alive):
    hold(locks, alive, names=("m", "n"))
    clock = Clock()
    clock.on_sleep = lambda count: count == 2 and module.release(str(locks), ["m", "n"], "live-run")
    result, calls = act(dict(names=["m", "n"], timeout=600), clock=clock)
    assert not result.get("failed"), result
    assert result["held"] == ["m", "n"] and result["waited"] == 2.0 and len(calls) == 3
    assert result["broken"] == []


def test_all_or_nothing_while_waiting(act, locks, alive):
    hold(locks, alive, names=("n",))
    clock = Clock()
    seen = []
    clock.on_sleep = lambda count: seen.append(sorted(os.listdir(locks)))
    result, _calls = act(dict(names=["m", "n"], timeout=2), clock=clock)
    assert result["failed"] and seen == [["n.lock"], ["n.lock"]]  # m never held while waiting


def test_run_of_this_controller_that_is_gone_is_taken_over_at_once(act, locks, exited):
    hold(locks, exited, names=("m", "n"))
    clock = Clock()
    result, calls = act(dict(names=["m", "n"], timeout=0), clock=clock)
    assert not result.get("failed"), result
    assert result["held"] == ["m", "n"] and clock.sleeps == []
    assert [c["_stale_runs"] for c in calls] == [[], ["dead-run"]]
    assert [(b["name"], b["holder"]["pid"], b["reason"].split(":")[0]) for b in result["broken"]] == \
        [("m", exited["pid"], "abandoned"), ("n", exited["pid"], "abandoned")]


def test_reused_pid_counts_as_gone(act, locks, alive):
    reused = dict(alive, run_id="old-run", pid_start=alive["pid_start"] - 1)
    hold(locks, reused)
    result, _calls = act(dict(names=["m"], timeout=0))
    assert result["held"] == ["m"] and result["broken"][0]["holder"]["run_id"] == "old-run"


@pytest.mark.parametrize("change", [dict(controller="another-controller"), dict(boot_id="another-boot")])
def test_gone_run_of_another_controller_is_waited_for(act, locks, exited, change):
    hold(locks, dict(exited, **change))
    result, calls = act(dict(names=["m"], timeout=0))
    assert result["failed"] and len(calls) == 1
    assert "held by run dead-run" in result["msg"]


def test_break_locks(act, locks, alive):
    hold(locks, alive)
    result, _calls = act(dict(names=["m"], timeout=0, break_locks=True))
    assert result["held"] == ["m"] and result["broken"][0]["holder"]["run_id"] == "live-run"
    assert "break_locks" in result["broken"][0]["reason"]


def test_check_mode_does_not_wait_or_create(act, locks, alive):
    result, calls = act(dict(names=["m"]), check_mode=True)
    assert not result.get("failed") and result["held"] == [] and not locks.exists()
    hold(locks, alive)
    clock = Clock()
    result, calls = act(dict(names=["m"], timeout=600), check_mode=True, clock=clock)
    assert not result.get("failed") and len(calls) == 1 and clock.sleeps == []
    assert result["holders"]["m"]["run_id"] == "live-run"
    assert json.loads((locks / "m.lock").read_text())["run_id"] == "live-run"


@pytest.mark.parametrize("args, message", [
    (dict(names=["ok", "a/b"]), "names[1] must be a lock name"),
    (dict(names=["ok", 5]), "names[1] must be a lock name: a letter or digit, then up to 63 letters, "
                            "digits, '_', '.', '@' or '-'; got 5"),
    (dict(names=["ok"], ttl=0), "ttl must be an integer >= 1"),
    (dict(names=["ok"], timeout=-1), "timeout must be an integer >= 0"),
    (dict(names=["ok"], state="gone"), "value of state must be one of: held, released"),
    (dict(names=["ok"], bogus=1), "Invalid options for freifunk.gateway.run_lock: bogus"),
])
def test_bad_arguments_fail_before_anything_runs(act, locks, args, message):
    with pytest.raises(AnsibleActionFail, match=None) as error:
        act(args)
    assert message in str(error.value)
    assert not locks.exists()


def test_newly_gone():
    blocked = [dict(holder=dict(run_id="a")), dict(holder=dict(run_id="b")), dict(holder=None)]
    assert action.newly_gone(blocked, {}, {"a"}, gone=lambda holder, me: True) == {"b"}
    assert action.newly_gone(blocked, {}, set(), gone=lambda holder, me: False) == set()


# --- end to end: real ansible-playbook runs on localhost -----------------------------

PLAYBOOK = textwrap.dedent("""\
    - hosts: localhost
      gather_facts: false
      tasks:
        - name: lock
          freifunk.gateway.run_lock:
            names: [fastd-mesh1, fastd-mesh0]
            path: "{{ locks }}"
            timeout: "{{ timeout | int }}"
          register: lock
        - name: work
          ansible.builtin.wait_for:
            path: "{{ go }}"
            timeout: 120
          when: go | length > 0
        - name: unlock
          freifunk.gateway.run_lock:
            names: [fastd-mesh0, fastd-mesh1]
            path: "{{ locks }}"
            state: released
    """)


@pytest.fixture
def playbook(tmp_path):
    """playbook(timeout, go="") -> a started ansible-playbook Popen; result(proc)
    -> (rc, {task name: result})."""
    if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "freifunk", "gateway")):
        pytest.skip("run `make link` first: the collection is not linked into .build/collections")
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_HOME=str(tmp_path / ".ansible"), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1",
               ANSIBLE_REMOTE_TMP=str(tmp_path / ".ansible" / "tmp"))
    env.pop("ANSIBLE_CONFIG", None)
    started = []

    def start(timeout, go=""):
        proc = subprocess.Popen(
            [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "site.yml",
             "-e", json.dumps(dict(locks=str(tmp_path / "locks"), timeout=timeout, go=go,
                                   ansible_python_interpreter=sys.executable))],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(proc)
        return proc

    yield start
    (tmp_path / "go").write_text("")  # let the waiting task of a killed run end
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def outcome(proc):
    out, err = proc.communicate(timeout=300)
    assert out.strip(), err
    doc = json.loads(out)
    return proc.returncode, {t["task"]["name"]: t["hosts"]["localhost"] for t in doc["plays"][0]["tasks"]}


def wait_for_lock(path, proc):
    deadline = time.monotonic() + 120
    while not os.path.exists(path):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return json.loads(open(path).read())


def test_two_playbook_runs_contend(playbook, tmp_path):
    first = playbook(0, go=str(tmp_path / "go"))
    record = wait_for_lock(tmp_path / "locks" / "fastd-mesh1.lock", first)
    assert record["pid"] == first.pid  # the controller's ansible-playbook process
    assert record["pid_start"] == rl.process_start(first.pid)

    rc, results = outcome(playbook(0))
    assert rc != 0 and results["lock"]["failed"]
    assert "not waiting (timeout=0) for 2 locks" in results["lock"]["msg"]
    assert "ansible-playbook pid %d" % first.pid in results["lock"]["msg"]
    assert "unlock" not in results

    second = playbook(120)
    time.sleep(5)  # time to start and find the locks held
    assert second.poll() is None  # waiting
    (tmp_path / "go").write_text("")
    rc, results = outcome(second)
    assert rc == 0, results
    assert results["lock"]["held"] == ["fastd-mesh0", "fastd-mesh1"] and results["lock"]["broken"] == []
    assert results["lock"]["waited"] > 1
    assert results["unlock"]["released"] == ["fastd-mesh0", "fastd-mesh1"]
    rc, results = outcome(first)
    assert rc == 0 and results["unlock"]["released"] == ["fastd-mesh0", "fastd-mesh1"]
    # never blocked: the time its one try took is not waiting
    assert results["lock"]["waited"] == 0
    assert os.listdir(tmp_path / "locks") == []


def test_locks_of_a_killed_run_are_taken_over_at_once(playbook, tmp_path):
    first = playbook(0, go=str(tmp_path / "go-never"))
    record = wait_for_lock(tmp_path / "locks" / "fastd-mesh1.lock", first)
    wait_for_lock(tmp_path / "locks" / "fastd-mesh0.lock", first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    rc, results = outcome(playbook(0))  # no waiting allowed
    assert rc == 0, results
    lock = results["lock"]
    assert lock["held"] == ["fastd-mesh0", "fastd-mesh1"]
    assert [(b["name"], b["holder"]["pid"], b["reason"].split(":")[0]) for b in lock["broken"]] == \
        [("fastd-mesh0", first.pid, "abandoned"), ("fastd-mesh1", first.pid, "abandoned")]
    assert lock["broken"][0]["holder"]["run_id"] == record["run_id"] != lock["run_id"]
