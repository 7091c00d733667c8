# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark freifunk.gateway.fastd_peers against a copy loop and a plain-Python floor.

    python3 run.py [--quick] [--counts 100,1000,10000] [--repeat 3] [--loop-cap 100]
                   [--loop-repeat 1] [--json FILE] [--keep]

Run by ``make peers`` in bench/ (``make bench`` at the top). Everything runs on
this host, in a temporary folder (mktemp, so TMPDIR decides where):

* fastd_peers: ``ansible-playbook fastd_peers.yml`` against localhost with
  connection local, one task over the whole peer list (a vars file). Timed
  around the whole ansible-playbook process, and the task on its own (task
  start to result, stamped by callback_plugins/bench_timing.py).
* Ansible's own cost: the same play and vars file with no task
  (empty_play.yml) and with one task that does nothing (noop_task.yml).
* fastd_peers from the inventory: the list in group_vars next to the
  inventory instead of a vars file (fastd_peers_inventory.yml), with its own
  do-nothing baseline (noop_task_inventory.yml).
* controller: the action plugin's check and render of the list (plan()) in a
  fresh Python process, timed after the imports.
* module process: the module file run as a script with the arguments the
  action plugin gives it on stdin (as tests/unit does), no controller at all.
* copy loop: ``ansible-playbook copy_loop.yml``, one ansible.builtin.copy task
  looping over the same files (same text), on at most --loop-cap peers.
* floor: ``floor_sync.py``, plain Python that leaves the same files behind.

Cases per peer count: first sync into a missing/empty folder, no-change
re-run, and 1 % changed (new keys for the peers whose index is 1 modulo 100). The
peer list is deterministic (keys are sha256 chains from the index that fastd
accepts as public keys). Each timing is the
median of --repeat runs (the copy loop runs --loop-repeat times). After every
run the folder is compared with the expected files; a difference is reported,
timings are never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from pathlib import Path

from floor_sync import render_peer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import benchlib  # noqa: E402

# The collection's own rule for which keys fastd accepts, and the action
# plugin's plan(), from the checkout's collection link (made by `make link`,
# which `make peers` runs first).
sys.path.insert(0, os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep)[0]
                or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "collections"))
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import is_public_key  # noqa: E402
from ansible_collections.freifunk.gateway.plugins.action.fastd_peers import plan, options  # noqa: E402
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_payload import (  # noqa: E402
    STATE_NAME,
    list_digest,
)

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(BENCH))
CASES = ("first", "no-change", "1% changed")
# Taking turns in this order, run by run. The do-nothing plays and the
# controller step do not depend on the case; they run in every case anyway,
# so that host load hits them alike.
METHODS = ("fastd_peers", "noop", "empty", "fastd_peers_inv", "noop_inv", "controller", "module", "quick", "floor")
WRITERS = ("fastd_peers", "fastd_peers_inv", "module", "floor")
CONTROLLER_SCRIPT = """
import json, sys, time
from ansible_collections.freifunk.gateway.plugins.action.fastd_peers import plan
peers = json.load(open(sys.argv[1], encoding="utf-8"))["bench_peers"]
start = time.perf_counter()
errors, _args, _shown = plan({"path": "/nonexistent", "peers": peers})
print(json.dumps({"seconds": time.perf_counter() - start, "errors": len(errors)}))
"""
TARGET_NO_CHANGE_S = 2.0
TARGET_LOOP_RATIO = 100.0
TARGET_FLOOR_RATIO = 3.0


BenchError = benchlib.BenchError


# --- the peers ---------------------------------------------------------------

def changed_index(index):
    """1 % of the peers get a new key in the '1% changed' case."""
    return index % 100 == 1


def peer_key(seed):
    """A deterministic public key fastd accepts: the first sha256 in the
    chain from ``seed`` that is a valid curve point (about half are)."""
    digest = hashlib.sha256(seed.encode("ascii")).hexdigest()
    while not is_public_key(digest):
        digest = hashlib.sha256(digest.encode("ascii")).hexdigest()
    return digest


def make_peer(index, changed=False):
    seed = "freifunk.gateway bench peer %d%s" % (index, " changed" if changed else "")
    peer = {"name": "node%05d" % index,
            "key": peer_key(seed),
            "comment": "bench peer %d" % index}
    if index % 10 == 0:
        peer["remotes"] = ['"node%05d.example.org" port 10000' % index,
                           "192.0.2.%d:10000" % (index % 250 + 1)]
    if index % 20 == 0:
        peer["float"] = True
    return peer


def peer_list(count, version):
    """Version "a" is the base list, "b" the same with 1 % of the keys changed."""
    return [make_peer(i, changed=(version == "b" and changed_index(i))) for i in range(count)]


def expected_files(peers):
    return {peer["name"]: render_peer(peer).encode("utf-8") for peer in peers}


def dir_problems(path, peers, mode=None):
    """What differs between ``path`` and the files ``peers`` should give."""
    want = expected_files(peers)
    problems, have = [], {}
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name == STATE_NAME:
                continue  # fastd_peers' state file
            if entry.name.startswith("."):
                problems.append("left-over hidden file %s" % entry.name)
                continue
            with open(entry.path, "rb") as handle:
                have[entry.name] = handle.read()
            if mode is not None and entry.stat().st_mode & 0o7777 != mode:
                problems.append("%s has mode %o" % (entry.name, entry.stat().st_mode & 0o7777))
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    wrong = sorted(n for n in want if n in have and have[n] != want[n])
    for label, names in (("missing", missing), ("extra", extra), ("different", wrong)):
        if names:
            problems.append("%d %s (%s)" % (len(names), label, ", ".join(names[:3])))
    return problems[:5]


# --- running things ------------------------------------------------------------

def median(values):
    return statistics.median(values) if values else None


def shebang_python(executable):
    """The interpreter ansible-playbook runs with (the venv's), else ours."""
    try:
        with open(executable, "rb") as handle:
            line = handle.readline().decode("utf-8", "replace")
    except OSError:
        return sys.executable
    if line.startswith("#!"):
        candidate = line[2:].strip().split()[0]
        if os.path.basename(candidate).startswith("python") and os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


class Bench:
    def __init__(self, args):
        self.args = args
        self.checks = []
        self.playbook_exe = shutil.which("ansible-playbook") or os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
        if not os.access(self.playbook_exe, os.X_OK):
            raise BenchError("ansible-playbook not found (PATH or %s/.venv/bin); run make venv" % ROOT)
        self.python = shebang_python(self.playbook_exe)
        env = dict(os.environ)
        env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, ".build", "collections"))
        env.setdefault("ANSIBLE_CONFIG", os.path.join(ROOT, "tests", "bed", "ansible.cfg"))
        env.setdefault("ANSIBLE_HOME", os.path.join(ROOT, ".ansible"))
        plugins = os.path.join(BENCH, "callback_plugins")
        env["ANSIBLE_CALLBACK_PLUGINS"] = os.pathsep.join(
            p for p in (plugins, env.get("ANSIBLE_CALLBACK_PLUGINS")) if p)
        env["ANSIBLE_CALLBACKS_ENABLED"] = ",".join(
            p for p in (env.get("ANSIBLE_CALLBACKS_ENABLED"), "bench_timing") if p)
        env["ANSIBLE_NOCOLOR"] = "1"
        env["ANSIBLE_RETRY_FILES_ENABLED"] = "0"
        self.env = env
        self.collections = None
        for path in env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep):
            module = os.path.join(path, "ansible_collections", "freifunk", "gateway",
                                  "plugins", "modules", "fastd_peers.py")
            if os.path.exists(module):
                self.collections, self.module_file = path, module
                break
        if self.collections is None:
            raise BenchError("freifunk.gateway is not in ANSIBLE_COLLECTIONS_PATH=%s; run "
                             "python3 %s/tests/bed/link_collection.py"
                             % (env["ANSIBLE_COLLECTIONS_PATH"], ROOT))
        self.work = tempfile.mkdtemp(prefix="fastd-peers-bench.")
        self.logs = os.path.join(self.work, "logs")
        os.mkdir(self.logs)
        self.inventory = os.path.join(self.work, "hosts.ini")
        with open(self.inventory, "w", encoding="utf-8") as handle:
            # Pipelining as tests/bed/ansible.cfg sets it for SSH: one
            # process per module call instead of mkdir, put, chmod, run, rm.
            handle.write("localhost ansible_connection=local ansible_pipelining=true "
                         "ansible_python_interpreter=%s\n" % self.python)
        self.serial = 0
        self.last_cpu = None
        self.cache = {}

    def log(self, text):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def check(self, label, problems):
        for problem in problems:
            self.checks.append("%s: %s" % (label, problem))

    def timed(self, cmd, label, env=None, stdin_path=None):
        """Run cmd; return (wall seconds, start as time.time(), stdout bytes).
        The CPU seconds (user + system) of the process and everything it waited
        for go to self.last_cpu."""
        self.serial += 1
        log = os.path.join(self.logs, "%04d-%s.log" % (self.serial, label.replace(" ", "_").replace("%", "pct")))
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            with open(log, "wb") as err:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                stamp = time.time()
                start = time.perf_counter()
                proc = subprocess.run(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=err,
                                      env=env or self.env, check=False)
                wall = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                self.last_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        finally:
            if stdin_path:
                stdin.close()
        if proc.returncode != 0:
            with open(log, "ab") as err:
                err.write(proc.stdout)
            with open(log, "rb") as err:
                tail = err.read()[-3000:].decode("utf-8", "replace")
            raise BenchError("%s failed (rc %d), log %s:\n%s" % (label, proc.returncode, log, tail))
        return wall, stamp, proc.stdout

    def json_file(self, name, doc):
        path = os.path.join(self.work, name)
        if path not in self.cache:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(doc, handle)
            self.cache[path] = True
        return path

    def vars_file(self, count, version):
        return self.json_file("peers-%d-%s.json" % (count, version),
                              {"bench_peers": peer_list(count, version)})

    def files_file(self, count, version):
        files = [{"name": name, "content": text.decode("utf-8")}
                 for name, text in expected_files(peer_list(count, version)).items()]
        return self.json_file("files-%d-%s.json" % (count, version), {"bench_files": files})

    def inventory_dir(self, count, version):
        """An inventory with the peer list in group_vars/all (made once)."""
        path = os.path.join(self.work, "inventory-%d-%s" % (count, version))
        if not os.path.isdir(path):
            os.makedirs(os.path.join(path, "group_vars", "all"))
            shutil.copy(self.inventory, os.path.join(path, "hosts.ini"))
            shutil.copy(self.vars_file(count, version), os.path.join(path, "group_vars", "all", "peers.json"))
        return os.path.join(path, "hosts.ini")

    def playbook(self, playbook, vars_file, dest, label, inventory=None):
        timing = os.path.join(self.logs, "timing.json")
        if os.path.exists(timing):
            os.unlink(timing)
        env = dict(self.env, BENCH_TIMING_FILE=timing)
        extra = {"bench_dest": dest}
        if vars_file:
            extra["bench_vars_file"] = vars_file
        cmd = [self.playbook_exe, "-i", inventory or self.inventory, os.path.join(BENCH, playbook),
               "-e", json.dumps(extra)]
        wall, stamp, _out = self.timed(cmd, label, env)
        with open(timing, encoding="utf-8") as handle:
            doc = json.load(handle)
        if not doc["tasks"]:  # the empty play
            return {"wall": wall, "cpu": self.last_cpu, "task": 0.0, "before": wall, "after": 0.0, "result": {}}
        task = doc["tasks"][-1]
        if task.get("status") != "ok":
            raise BenchError("%s: the task ended %s: %s" % (label, task.get("status"), task.get("msg")))
        return {"wall": wall, "cpu": self.last_cpu, "task": task["end"] - task["start"],
                "before": task["start"] - stamp, "after": stamp + wall - task["end"], "result": task}

    # --- one measurement of each method ---

    def run_fastd_peers(self, count, version, dest, label):
        return self.playbook("fastd_peers.yml", self.vars_file(count, version), dest, label)

    def run_noop(self, count, version, dest, label):
        return self.playbook("noop_task.yml", self.vars_file(count, version), dest, label)

    def run_empty(self, count, version, dest, label):
        return self.playbook("empty_play.yml", self.vars_file(count, version), dest, label)

    def run_fastd_peers_inv(self, count, version, dest, label):
        return self.playbook("fastd_peers_inventory.yml", None, dest, label,
                             inventory=self.inventory_dir(count, version))

    def run_noop_inv(self, count, version, dest, label):
        return self.playbook("noop_task_inventory.yml", None, dest, label,
                             inventory=self.inventory_dir(count, version))

    def run_controller(self, count, version, dest, label):
        env = dict(self.env, PYTHONPATH=self.collections)
        cmd = [self.python, "-c", CONTROLLER_SCRIPT, self.vars_file(count, version)]
        wall, _stamp, out = self.timed(cmd, label, env)
        result = json.loads(out.decode("utf-8"))
        if result["errors"]:
            raise BenchError("%s: the peer list has %d errors" % (label, result["errors"]))
        return {"wall": wall, "cpu": self.last_cpu, "inner": result["seconds"], "result": result}

    def run_module(self, count, version, dest, label):
        name = "args-%d-%s-%s.json" % (count, version, os.path.basename(dest))
        if os.path.join(self.work, name) not in self.cache:
            errors, module_args, _shown = plan({"path": dest, "exclusive": True, "peers": peer_list(count, version)})
            if errors:
                raise BenchError("the benchmark's peer list is invalid: %s" % errors[:3])
        else:
            module_args = None  # cached on disk
        args = self.json_file(name, {"ANSIBLE_MODULE_ARGS": module_args})
        env = dict(self.env, PYTHONPATH=self.collections)
        wall, _stamp, out = self.timed([self.python, self.module_file], label, env, stdin_path=args)
        result = json.loads(out.decode("utf-8").strip().splitlines()[-1])
        summary = {k: len(result[k]) for k in ("added", "updated", "removed") if k in result}
        summary["changed"] = result.get("changed")
        return {"wall": wall, "cpu": self.last_cpu, "result": summary}

    def run_floor(self, count, version, dest, label):
        cmd = [self.python, os.path.join(BENCH, "floor_sync.py"), dest, self.vars_file(count, version)]
        wall, _stamp, out = self.timed(cmd, label)
        result = json.loads(out.decode("utf-8"))
        return {"wall": wall, "cpu": self.last_cpu, "inner": result["seconds"], "result": result}

    def run_quick(self, count, version, dest, label):
        """The module's in-sync check (what a no-change run asks), on the
        folder the module process just synced."""
        _errors, values = options({"path": dest, "peers": peer_list(count, version)})
        # As quick_args() makes them; the action plugin asks only from
        # QUICK_MIN_PEERS peers on, this asks at every count.
        quick = dict(path=dest, peers=[], exclusive=True, mode=values["mode"], _quick=True,
                     _list_digest=list_digest(values["peers"], values["mode"], True))
        args = self.json_file("quick-%d-%s-%s.json" % (count, version, os.path.basename(dest)),
                              {"ANSIBLE_MODULE_ARGS": quick})
        env = dict(self.env, PYTHONPATH=self.collections)
        wall, _stamp, out = self.timed([self.python, self.module_file], label, env, stdin_path=args)
        result = json.loads(out.decode("utf-8").strip().splitlines()[-1])
        if result.get("in_sync") is not True:
            raise BenchError("%s: the module did not find its own folder in sync: %s" % (label, result))
        return {"wall": wall, "cpu": self.last_cpu, "result": result}

    def run_method(self, method, count, version, dest, label):
        return getattr(self, "run_" + method)(count, version, dest, label)

    # --- the benchmark ---

    def expect(self, label, method, case, count, result):
        """Check what the run reports against the case (not the time)."""
        changed = sum(1 for i in range(count) if changed_index(i))
        want = {"first": (count, 0), "no-change": (0, 0), "1% changed": (0, changed)}[case]
        if method == "floor":
            got = (result["written"], 0) if case == "first" else (0, result["written"])
        else:
            got = (result.get("added"), result.get("updated"))
        if got != want or result.get("removed"):
            self.checks.append("%s: expected (added, updated) %s, got %s, removed %s"
                               % (label, want, got, result.get("removed")))

    def bench_count(self, count, rows):
        repeat = self.args.repeat
        base, state = {}, {}
        for case in CASES:
            row = rows.setdefault((count, case), {m: [] for m in METHODS})
            for rep in range(repeat):
                for method in METHODS:
                    label = "%d %s %s r%d" % (count, case, method, rep + 1)
                    if method == "quick":
                        measured = self.run_quick(count, state["module"], base["module"], label)
                        row[method].append(measured)
                        self.log("  %-34s %s" % (label, describe(measured)))
                        continue
                    if method not in WRITERS:
                        measured = self.run_method(method, count, "a", None, label)
                        row[method].append(measured)
                        self.log("  %-34s %s" % (label, describe(measured)))
                        continue
                    if case == "first":
                        dest = os.path.join(self.work, "d%d" % count, "%s-first-%d" % (method, rep))
                        os.makedirs(os.path.dirname(dest), exist_ok=True)
                        version = "a"
                    else:
                        dest = base[method]
                        version = state[method]
                        if case == "1% changed":
                            version = "b" if version == "a" else "a"
                    measured = self.run_method(method, count, version, dest, label)
                    state[method] = version
                    if case == "first":
                        base[method] = dest
                    self.expect(label, method, case, count, measured["result"])
                    self.check(label, dir_problems(dest, peer_list(count, version),
                                                   mode=None if method == "floor" else 0o644))
                    row[method].append(measured)
                    self.log("  %-34s %s" % (label, describe(measured)))

    def bench_loop(self, count, rows):
        loop = rows.setdefault(("loop", count), {})
        changed = sum(1 for i in range(count) if changed_index(i))
        dest = version = None
        for case in CASES:
            runs = loop.setdefault(case, [])
            for rep in range(self.args.loop_repeat):
                if case == "first":
                    dest = os.path.join(self.work, "loop-%d-first-%d" % (count, rep))
                    os.mkdir(dest)  # copy needs the folder; fastd_peers creates it
                    version = "a"
                elif case == "1% changed":
                    version = "b" if version == "a" else "a"
                label = "%d %s copy-loop r%d" % (count, case, rep + 1)
                measured = self.playbook("copy_loop.yml", self.files_file(count, version), dest, label)
                task = measured["result"]
                want = {"first": count, "no-change": 0, "1% changed": changed}[case]
                if task.get("items") != count or task.get("items_changed") != want:
                    self.checks.append("%s: expected %d items, %d changed; got %s, %s"
                                       % (label, count, want, task.get("items"), task.get("items_changed")))
                self.check(label, dir_problems(dest, peer_list(count, version), mode=0o644))
                runs.append(measured)
                self.log("  %-34s %s" % (label, describe(measured)))

    def cleanup(self):
        if self.args.keep:
            self.log("kept %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def describe(measured):
    text = "%.3f s, cpu %.3f s" % (measured["wall"], measured["cpu"])
    if "task" in measured:
        text += " (task %.3f s)" % measured["task"]
    if "inner" in measured:
        text += " (in script %.3f s)" % measured["inner"]
    return text


# --- the report ------------------------------------------------------------------

def fmt(value, digits=3):
    if value is None:
        return "-"
    if value >= 100:
        return "%.0f" % value
    if value >= 10:
        return "%.1f" % value
    return "%.*f" % (digits, value)


def ratio(value):
    return "-" if value is None else ("%.0fx" % value if value >= 10 else "%.1fx" % value)


def summarize(rows, counts, loop_cap):
    """One dict per (count, case) with the medians and ratios."""
    out = []
    for count in counts:
        loop_count = min(count, loop_cap) if loop_cap else None
        for case in CASES:
            row = rows[(count, case)]
            fp = row["fastd_peers"]
            item = {"count": count, "case": case,
                    "fp_wall": median([m["wall"] for m in fp]),
                    "fp_task": median([m["task"] for m in fp]),
                    "fp_before": median([m["before"] for m in fp]),
                    "fp_after": median([m["after"] for m in fp]),
                    "fp_cpu": median([m["cpu"] for m in fp]),
                    "fp_spread": max(m["wall"] for m in fp) / min(m["wall"] for m in fp),
                    "module": median([m["wall"] for m in row["module"]]),
                    "module_cpu": median([m["cpu"] for m in row["module"]]),
                    "floor_cpu": median([m["cpu"] for m in row["floor"]]),
                    "floor": median([m["wall"] for m in row["floor"]]),
                    "floor_inner": median([m["inner"] for m in row["floor"]]),
                    "noop_wall": median([m["wall"] for m in row["noop"]]),
                    "noop_cpu": median([m["cpu"] for m in row["noop"]]),
                    "inv_cpu": median([m["cpu"] for m in row["fastd_peers_inv"]]),
                    "noop_inv_cpu": median([m["cpu"] for m in row["noop_inv"]]),
                    "noop_task": median([m["task"] for m in row["noop"]]),
                    "noop_before": median([m["before"] for m in row["noop"]]),
                    "empty_wall": median([m["wall"] for m in row["empty"]]),
                    "inv_wall": median([m["wall"] for m in row["fastd_peers_inv"]]),
                    "inv_task": median([m["task"] for m in row["fastd_peers_inv"]]),
                    "inv_before": median([m["before"] for m in row["fastd_peers_inv"]]),
                    "noop_inv_wall": median([m["wall"] for m in row["noop_inv"]]),
                    "noop_inv_before": median([m["before"] for m in row["noop_inv"]]),
                    "controller": median([m["inner"] for m in row["controller"]]),
                    "quick": median([m["wall"] for m in row["quick"]]),
                    "loop_count": loop_count}
            loop = rows.get(("loop", loop_count), {}).get(case)
            if loop:
                item["loop_wall"] = median([m["wall"] for m in loop])
                item["loop_task"] = median([m["task"] for m in loop])
                item["loop_cpu"] = median([m["cpu"] for m in loop])
                item["loop_peer_task"] = item["loop_task"] / loop_count
                item["loop_peer_wall"] = item["loop_wall"] / loop_count
                item["ratio_loop_task"] = item["loop_peer_task"] / (item["fp_task"] / count)
                item["ratio_loop_wall"] = item["loop_peer_wall"] / (item["fp_wall"] / count)
            item["ratio_floor_wall"] = item["fp_wall"] / item["floor"]
            item["ratio_floor_task"] = item["fp_task"] / item["floor"]
            item["ratio_floor_module"] = item["module"] / item["floor"]
            out.append(item)
    return out


def table(lines, header, rows):
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---:" if i > 1 else "---" for i in range(len(header))) + "|")
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")


def report(summary, meta):
    lines = []
    lines.append("Host: %s; %s; work folder on %s." % (meta["cpu"], meta["python"], meta["fs"]))
    lines.append("Other load: 1-minute load average %s before, %s after; CPU pressure (some, avg300) %s before, "
                 "%s after." % (meta["load_before"], meta["load_after"], meta["psi_before"], meta["psi_after"]))
    lines.append("%s; medians of %d runs (copy loop: %d), %s."
                 % (meta["ansible"], meta["repeat"], meta["loop_repeat"], meta["date"]))
    lines.append("")
    lines.append("fastd_peers against the copy loop and the floor (seconds; ms/peer = task time / peers):")
    lines.append("")
    header = ["peers", "case", "fastd_peers playbook s", "fastd_peers task s", "fastd_peers ms/peer",
              "copy loop playbook s", "copy loop ms/peer", "floor s",
              "loop/fastd_peers per peer (task \\| playbook)", "fastd_peers/floor (playbook \\| task)"]
    body = []
    for s in summary:
        loop_wall = "-"
        if "loop_wall" in s:
            loop_wall = fmt(s["loop_wall"]) + ("" if s["loop_count"] == s["count"] else " @%d" % s["loop_count"])
        body.append([
            "{:,}".format(s["count"]), s["case"], fmt(s["fp_wall"]), fmt(s["fp_task"]),
            fmt(1000 * s["fp_task"] / s["count"]),
            loop_wall, fmt(1000 * s["loop_peer_task"]) if "loop_peer_task" in s else "-",
            fmt(s["floor"]),
            "%s \\| %s" % (ratio(s.get("ratio_loop_task")), ratio(s.get("ratio_loop_wall"))),
            "%s \\| %s" % (ratio(s["ratio_floor_wall"]), ratio(s["ratio_floor_task"]))])
    table(lines, header, body)
    lines.append("")
    lines.append("Where fastd_peers' time goes (seconds): playbook = before task + task + after task;"
                 " empty play = the same play and vars file without a task; no-op play = the same with one"
                 " task that does nothing (Ansible's own cost); collection = playbook - no-op play;"
                 " controller = the action plugin checking and rendering the list (a fresh process, after"
                 " its imports); module process = the module file run directly with the action plugin's"
                 " arguments for a full sync, no controller; in-sync check = the module process answering"
                 " whether the folder still holds what the last sync left (what a no-change run asks);"
                 " cpu = user + system seconds of the process and its children:")
    lines.append("")
    header = ["peers", "case", "playbook", "before task", "task", "after task", "empty play", "no-op play",
              "collection", "controller", "module process", "in-sync check", "floor process", "floor in script",
              "module process/floor", "playbook cpu", "no-op cpu", "collection cpu", "module cpu", "floor cpu"]
    body = []
    for s in summary:
        body.append(["{:,}".format(s["count"]), s["case"], fmt(s["fp_wall"]), fmt(s["fp_before"]),
                     fmt(s["fp_task"]), fmt(s["fp_after"]), fmt(s["empty_wall"]), fmt(s["noop_wall"]),
                     fmt(s["fp_wall"] - s["noop_wall"]), fmt(s["controller"]), fmt(s["module"]), fmt(s["quick"]),
                     fmt(s["floor"]), fmt(s["floor_inner"]),
                     ratio(s["ratio_floor_module"]), fmt(s["fp_cpu"]), fmt(s["noop_cpu"]),
                     fmt(s["fp_cpu"] - s["noop_cpu"]), fmt(s["module_cpu"]), fmt(s["floor_cpu"])])
    table(lines, header, body)
    lines.append("")
    lines.append("The peer list in the inventory (group_vars/all/peers.json next to the inventory file)"
                 " instead of a vars file (seconds; collection = playbook - no-op play):")
    lines.append("")
    header = ["peers", "case", "playbook", "before task", "task", "no-op play", "collection",
              "playbook cpu", "no-op cpu", "collection cpu", "vars file playbook / inventory playbook"]
    body = []
    for s in summary:
        body.append(["{:,}".format(s["count"]), s["case"], fmt(s["inv_wall"]), fmt(s["inv_before"]),
                     fmt(s["inv_task"]), fmt(s["noop_inv_wall"]), fmt(s["inv_wall"] - s["noop_inv_wall"]),
                     fmt(s["inv_cpu"]), fmt(s["noop_inv_cpu"]), fmt(s["inv_cpu"] - s["noop_inv_cpu"]),
                     ratio(s["fp_wall"] / s["inv_wall"])])
    table(lines, header, body)
    loops = {}
    for s in summary:
        if "loop_wall" in s:
            loops[(s["loop_count"], s["case"])] = s
    if loops:
        lines.append("")
        parts = []
        for (count, case), s in sorted(loops.items(), key=lambda kv: (kv[0][0], CASES.index(kv[0][1]))):
            parts.append("%s %d peers %s s playbook, %s s task, %s cpu s"
                         % (case, count, fmt(s["loop_wall"]), fmt(s["loop_task"]), fmt(s["loop_cpu"])))
        lines.append("Copy loop: " + "; ".join(parts) + ".")
    worst = max(summary, key=lambda s: s["fp_spread"])
    lines.append("Spread of the fastd_peers playbook runs (slowest/fastest of the %d): up to %.2fx (%s %s)."
                 % (meta["repeat"], worst["fp_spread"], "{:,}".format(worst["count"]), worst["case"]))
    lines.append("")
    lines.extend(targets(summary))
    return lines


def targets(summary):
    lines = ["Targets:"]
    big = [s for s in summary if s["count"] == 10000 and s["case"] == "no-change"]
    if big:
        s = big[0]
        variants = (("vars file", s["fp_wall"], s["fp_task"], s["noop_wall"], s["fp_cpu"], s["noop_cpu"]),
                    ("inventory", s["inv_wall"], s["inv_task"], s["noop_inv_wall"], s["inv_cpu"], s["noop_inv_cpu"]))
        for where, wall, task, noop, cpu, noop_cpu in variants:
            verdict = "PASS" if wall < TARGET_NO_CHANGE_S else "MISS"
            lines.append("  %s  10,000-peer no-change run under %.0f s (peers from the %s): ansible-playbook "
                         "wall-clock %.2f s (%s); the task alone %.2f s; Ansible's own no-op play %.2f s, "
                         "so the collection's share is %.2f s; in CPU seconds %.2f, no-op %.2f, collection %.2f"
                         % (verdict, TARGET_NO_CHANGE_S, where, wall,
                            "%.2f s over" % (wall - TARGET_NO_CHANGE_S) if verdict == "MISS" else "ok",
                            task, noop, wall - noop, cpu, noop_cpu, cpu - noop_cpu))
    else:
        lines.append("  ----  10,000-peer no-change run: not measured (count 10000 not run)")
    with_loop = [s for s in summary if "ratio_loop_task" in s]
    if with_loop:
        for basis, key in (("task time", "ratio_loop_task"), ("playbook wall-clock", "ratio_loop_wall")):
            worst = min(with_loop, key=lambda s: s[key])
            misses = ["%s/%s %s" % ("{:,}".format(s["count"]), s["case"], ratio(s[key]))
                      for s in with_loop if s[key] < TARGET_LOOP_RATIO]
            lines.append("  %s  >= %.0fx cheaper per peer than the copy loop (%s per peer): lowest %s at %s %s%s"
                         % ("PASS" if not misses else "MISS", TARGET_LOOP_RATIO, basis, ratio(worst[key]),
                            "{:,}".format(worst["count"]), worst["case"],
                            "; below target: " + ", ".join(misses) if misses else ""))
    for basis, key in (("task time / floor process", "ratio_floor_task"),
                       ("playbook wall-clock / floor process", "ratio_floor_wall"),
                       ("module process / floor process", "ratio_floor_module")):
        worst = max(summary, key=lambda s: s[key])
        misses = ["%s/%s %s" % ("{:,}".format(s["count"]), s["case"], ratio(s[key]))
                  for s in summary if s[key] > TARGET_FLOOR_RATIO]
        lines.append("  %s  within %.0fx of the floor (%s): highest %s at %s %s%s"
                     % ("PASS" if not misses else "MISS", TARGET_FLOOR_RATIO, basis, ratio(worst[key]),
                        "{:,}".format(worst["count"]), worst["case"],
                        "; over target: " + ", ".join(misses) if misses else ""))
    return lines


def machine(work):
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            models = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        if models:
            cpu = models[0]
    except OSError:
        pass
    fs = "?"
    try:
        best = ""
        with open("/proc/mounts", encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                if work.startswith(fields[1]) and len(fields[1]) >= len(best):
                    best, fs = fields[1], "%s (%s)" % (fields[2], fields[1])
    except OSError:
        pass
    return "%s, %d cores" % (cpu, os.cpu_count() or 0), fs


def load():
    try:
        return "%.2f" % os.getloadavg()[0]
    except OSError:
        return "?"


def cpu_pressure():
    """Share of the last 300 s in which some runnable task waited for a CPU."""
    try:
        with open("/proc/pressure/cpu", encoding="utf-8") as handle:
            fields = dict(f.split("=") for f in handle.readline().split()[1:])
        return "%s%%" % fields["avg300"]
    except (OSError, KeyError, ValueError):
        return "?"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--counts", default="100,1000,10000", help="peer counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--loop-cap", type=int, default=100,
                        help="most peers the copy loop gets (0: no copy loop)")
    parser.add_argument("--loop-repeat", type=int, default=1, help="runs per copy-loop measurement")
    parser.add_argument("--json", help="also write the raw measurements to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 100 peers, one run each, a 10-peer copy loop")
    parser.add_argument("--report", metavar="FILE",
                        help="print the tables again from the --json FILE of an earlier run; run nothing")
    args = parser.parse_args(argv)
    if args.report:
        return report_again(args.report)
    if args.quick:
        args.counts, args.repeat, args.loop_repeat = "100", 1, 1
        args.loop_cap = min(args.loop_cap, 10)
    # A TERM (make interrupted, a timeout) still removes the work folder.
    signal.signal(signal.SIGTERM, lambda _signo, _frame: sys.exit(143))
    benchlib.print_header(benchlib.header(), "peers: fastd_peers with 100 to 10,000 peers")
    counts = [int(c) for c in args.counts.split(",") if c.strip()]
    if not counts or min(counts) < 1:
        parser.error("--counts needs positive peer counts")
    started = time.time()
    try:
        bench = Bench(args)
    except BenchError as exc:
        sys.stderr.write("peers bench: %s\n" % exc)
        return 2
    cpu, fs = machine(bench.work)
    version = subprocess.run([bench.playbook_exe, "--version"], stdout=subprocess.PIPE, env=bench.env,
                             check=False).stdout.decode("utf-8", "replace").splitlines()
    meta = {"cpu": cpu, "fs": fs, "load_before": load(), "psi_before": cpu_pressure(), "repeat": args.repeat,
            "loop_repeat": args.loop_repeat, "python": "Python %s" % platform.python_version(),
            "ansible": version[0].strip() if version else "ansible-playbook ?",
            "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    bench.log("peers benchmark in %s (%s, %s)" % (bench.work, meta["ansible"], bench.python))
    try:
        return run(bench, args, counts, meta, started)
    except BenchError as exc:
        sys.stderr.write("peers bench: %s\n" % exc)
        args.keep = True  # for the logs
        return 1
    finally:
        bench.cleanup()


def run(bench, args, counts, meta, started):
    rows = {}
    for count in counts:
        bench.log("%s peers:" % "{:,}".format(count))
        bench.bench_count(count, rows)
    if args.loop_cap:
        for loop_count in sorted({min(c, args.loop_cap) for c in counts}):
            bench.log("copy loop, %s peers:" % "{:,}".format(loop_count))
            bench.bench_loop(loop_count, rows)
    meta["load_after"] = load()
    meta["psi_after"] = cpu_pressure()
    summary = summarize(rows, counts, args.loop_cap)
    bench.log("")
    for line in report(summary, meta):
        bench.log(line)
    bench.log("")
    if bench.checks:
        bench.log("Checks: %d problem(s) with the files or the reported changes:" % len(bench.checks))
        for line in bench.checks:
            bench.log("  " + line)
    else:
        bench.log("Checks: after every run the folder held exactly the expected files; "
                  "every run reported the expected changes.")
    bench.log("Total benchmark time %.0f s." % (time.time() - started))
    if args.json:
        raw = {"meta": meta, "summary": summary, "checks": bench.checks, "counts": counts,
               "loop_cap": args.loop_cap,
               "runs": [{"key": list(map(str, key)), "runs": value} for key, value in rows.items()]}
        benchlib.write_json(args.json, json.loads(json.dumps(raw, default=str)))
    return 0


def report_again(path):
    """The tables of an earlier run, from its --json file."""
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    rows = {}
    for item in raw["runs"]:
        first, second = item["key"]
        key = ("loop", int(second)) if first == "loop" else (int(first), second)
        rows[key] = item["runs"]
    for line in report(summarize(rows, raw["counts"], raw["loop_cap"]), raw["meta"]):
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
