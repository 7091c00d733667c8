# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The gateway side of ``peer_sources``: pull each git source, check every
peer file, stage the good ones for fastd, reload fastd when the staged set
changed. Run as ``freifunk-fastd-peers NAME`` by the unit
``freifunk-fastd-peers@NAME.service`` (timer) and once by the role.

For each git source of an instance (config: /etc/fastd/NAME/peer-sources.json,
written by the role from fastd_peer_sources.sync_config):

* ``git fetch`` of the source's version into a bare repository of its own
  (no work tree: nothing from the repository is ever written as a file, and
  a force-push just gives another commit);
* the files of the commit's folder are read from git and checked one by one:
  the file name must be a peer name, the text a peer file with one valid
  ``key`` (on the curve), valid ``remote`` lines and ``float``; its name,
  key and interface name must not be taken by the inventory's peers, a
  directory source or an earlier git source. A bad file is skipped and
  reported; the others go on;
* each good file is written again by fastd_render.render_peer into the
  source's staged folder, which fastd includes: fastd never reads a byte
  from the repository as it was.

A fetch that fails (repository unreachable, version gone) keeps the last
good commit, so the staged peers stay. Directory sources are only read:
their peers count as taken, and their bad files are reported (fastd reads
that folder as it is). Each source's state (commit, times, error, skipped
files) goes to state.json in its folder, which fastd_status reports, and
every skipped file or error to the journal at warning level.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
# subprocess, not AnsibleModule.run_command: this code also runs in the
# gateway's own scripts (a systemd timer), where there is no module.
import subprocess
import sys
import time

from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import (
    interface_name,
    parse_remote,
    validate_key,
    validate_peer_name,
    split_pattern,
)
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_sources import (
    CONFIG_NAME,
    INSTANCE_NAME,
    redact_url,
)
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_render import render_peer
from ansible_collections.freifunk.gateway.plugins.module_utils.files import atomic_write
from ansible_collections.freifunk.gateway.plugins.module_utils.rules import IFNAME_MAX, control_character, control_name

CONFIG_DIR = "/etc/fastd"
MAX_FILE = 64 * 1024  # a peer file is a few hundred bytes
GIT_TIMEOUT = 300
EXIT_OK, EXIT_USAGE, EXIT_SOURCE_FAILED = 0, 1, 2
_GIT_OPTIONS = ["-c", "protocol.ext.allow=never", "-c", "protocol.fd.allow=never",
                "-c", "core.hooksPath=/dev/null"]
_WORD = re.compile(r"[A-Za-z0-9_.:\[\]%-]+")


class SourceError(Exception):
    """A source could not be read; the message is safe to show."""


# --- peer files ----------------------------------------------------------------

def _statements(text):
    """The ``;``-ended statements of fastd config text, comments (``#``,
    ``//``, ``/* */``) removed, strings kept with their quotes."""
    statements, current, i, n = [], [], 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= n:
                raise ValueError("a string is not closed")
            current.append(text[i:end + 1])
            i = end + 1
        elif char == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("a /* comment is not closed")
            current.append(" ")
            i = end + 2
        elif char == ";":
            statements.append(" ".join("".join(current).split()))
            current = []
            i += 1
        else:
            current.append(char)
            i += 1
    if "".join(current).strip():
        raise ValueError("the last statement has no ';'")
    return [s for s in statements if s]


def parse_peer_file(text):
    """``{key, remotes, float}`` of a peer file's text, or ValueError saying
    what is wrong. Only ``key``, ``remote`` and ``float`` are taken: any
    other statement (``include``, ``on up``, ...) makes the file bad."""
    char = control_character(text, allow="\n\t\r")
    if char is not None:
        raise ValueError("it contains a control character (%s)" % control_name(char))
    key, remotes, floating = None, [], False
    for statement in _statements(text):
        word, _sep, rest = statement.partition(" ")
        if word == "key":
            if key is not None:
                raise ValueError("it has more than one key")
            if not (len(rest) >= 2 and rest[0] == rest[-1] == '"'):
                raise ValueError("key must be a quoted string")
            key = rest[1:-1]
        elif word == "remote":
            try:
                remotes.append(parse_remote(rest))
            except ValueError as exc:
                raise ValueError("remote %r is not a fastd remote: %s" % (rest[:80], exc)) from None
        elif word == "float":
            if rest not in ("yes", "no"):
                raise ValueError("float must be yes or no")
            floating = rest == "yes"
        else:
            shown = word if _WORD.fullmatch(word) else "?"
            raise ValueError("it has the statement %r; peer files may only have key, remote and "
                             "float" % shown[:40])
    if key is None:
        raise ValueError("it has no key")
    errors = validate_key(key, "its key")
    if errors:
        raise ValueError(errors[0])
    return {"key": key.lower(), "remotes": remotes, "float": floating}


class Taken:
    """Names, keys and interface names already used, each with its owner."""

    def __init__(self, pattern, mode):
        self.pattern = pattern if mode == "multitap" else None
        self.names, self.keys, self.ifnames = {}, {}, {}

    def ifname(self, name, key):
        if not self.pattern or "%" not in self.pattern:
            return None
        return interface_name(self.pattern, name=name, key=key)

    def conflict(self, name, key):
        """Why ``name``/``key`` cannot be added, or None."""
        if name in self.names:
            return "the name %s is already used by %s" % (name, self.names[name])
        if key in self.keys:
            return "its key is already used by %s" % self.keys[key]
        if self.pattern and split_pattern(self.pattern)[1] == "%n":
            prefix, _p, suffix = split_pattern(self.pattern)
            if len(prefix) + len(name) + len(suffix) > IFNAME_MAX:
                return ("the name is too long for the interface pattern %r (at most %d characters)"
                        % (self.pattern, IFNAME_MAX - len(prefix) - len(suffix)))
        ifname = self.ifname(name, key)
        if ifname is not None and ifname in self.ifnames:
            return "it would get the interface name %s of %s" % (ifname, self.ifnames[ifname])
        return None

    def add(self, name, key, owner):
        self.names[name] = owner
        self.keys[key] = owner
        ifname = self.ifname(name, key)
        if ifname is not None:
            self.ifnames.setdefault(ifname, owner)


def check_file(name, data, taken, owner):
    """``(rendered text, None)`` for a good peer file, ``(None, reason)`` for a bad one;
    a good one is added to ``taken``."""
    if validate_peer_name(name):
        return None, "the file name is not a peer name (1-63 letters, digits, '_', '.', '-', starting with a letter or digit)"
    if len(data) > MAX_FILE:
        return None, "it is larger than %d bytes" % MAX_FILE
    try:
        peer = parse_peer_file(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "it is not UTF-8 text"
    except ValueError as exc:
        return None, str(exc)
    reason = taken.conflict(name, peer["key"])
    if reason:
        return None, reason
    peer["name"] = name
    taken.add(name, peer["key"], owner)
    return render_peer(peer), None


# --- git -----------------------------------------------------------------------

def git(repository, args, stdin=None):
    """Run git on the bare ``repository``; stdout as bytes, SourceError on failure."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false", LC_ALL="C")
    try:
        proc = subprocess.run(["git"] + _GIT_OPTIONS + ["--git-dir", repository] + args,  # pylint: disable=ansible-bad-function
                              input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, timeout=GIT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise SourceError("git %s took longer than %d s" % (args[0], GIT_TIMEOUT)) from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        raise SourceError("git %s failed: %s" % (args[0], " / ".join(lines[-3:]) or "exit %d" % proc.returncode))
    return proc.stdout


def fetch(source):
    """Fetch the source's version; return the commit id."""
    repository = source["repository"]
    if not os.path.isdir(repository):
        os.makedirs(os.path.dirname(repository), exist_ok=True)
        subprocess.run(["git", "init", "--quiet", "--bare", repository], check=True,  # pylint: disable=ansible-bad-function
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    version = source["version"]
    try:
        git(repository, ["fetch", "--quiet", "--force", "--no-tags", "--depth", "1", "--",
                         source["url"], "+%s:refs/freifunk/fetched" % version])
    except SourceError as exc:
        raise SourceError(str(exc).replace(source["url"], redact_url(source["url"]))) from None
    commit = git(repository, ["rev-parse", "--verify", "--quiet", "refs/freifunk/fetched^{commit}"]).decode().strip()
    if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", version) and commit != version:
        raise SourceError("fetched %s, not the commit %s given as version" % (commit, version))
    return commit


def read_files(source, commit):
    """{file name: bytes} of the regular files in the source's folder at
    ``commit``, and [(name, reason)] of entries that are no regular file."""
    repository, subdir = source["repository"], source["subdir"].strip("/")
    listing = git(repository, ["ls-tree", "-z", "-l", "%s:%s" % (commit, subdir)])
    files, odd, oids = {}, [], []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _tab, raw_name = entry.partition(b"\t")
        mode, kind, oid, size = meta.split()
        name = raw_name.decode("utf-8", "replace")
        if name.startswith("."):  # fastd skips hidden files too
            continue
        if kind != b"blob":
            continue  # folders and submodules: fastd does not read sub-folders either
        if mode == b"120000":
            odd.append((name, "it is a symbolic link"))
        elif int(size) > MAX_FILE:
            odd.append((name, "it is larger than %d bytes" % MAX_FILE))
        else:
            oids.append((name, oid))
    if oids:
        out = git(repository, ["cat-file", "--batch"],
                  stdin=b"".join(oid + b"\n" for _name, oid in oids))
        pos = 0
        for name, _oid in oids:
            header_end = out.index(b"\n", pos)
            size = int(out[pos:header_end].split()[2])
            files[name] = out[header_end + 1:header_end + 1 + size]
            pos = header_end + 1 + size + 1
    return files, odd


# --- staging and state ---------------------------------------------------------

def stage(folder, wanted):
    """Make ``folder`` hold exactly ``wanted`` ({name: text}); True if anything changed."""
    changed = False
    if not os.path.isdir(folder):
        os.makedirs(folder, mode=0o755)
        changed = True
    for entry in os.listdir(folder):
        if entry not in wanted and not entry.startswith("."):
            os.unlink(os.path.join(folder, entry))
            changed = True
    for name, text in wanted.items():
        path, data = os.path.join(folder, name), text.encode("utf-8")
        try:
            with open(path, "rb") as handle:
                if handle.read() == data:
                    continue
        except FileNotFoundError:
            pass
        atomic_write(path, data, 0o644)
        changed = True
    return changed


def read_json(path):
    try:
        with open(path, "rb") as handle:
            value = json.loads(handle.read().decode("utf-8"))
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8"), 0o644)


def log(message):
    """A warning: to the journal at warning level under systemd, else to stderr."""
    prefix = "<4>" if os.environ.get("JOURNAL_STREAM") else "warning: "
    sys.stderr.write(prefix + message.replace("\n", " ") + "\n")
    sys.stderr.flush()


# --- one run -------------------------------------------------------------------

def _directory_source(source, taken, now):
    state = {"name": source["name"], "type": "directory", "path": source["path"],
             "checked_at": now, "error": None, "peers": 0, "problems": []}
    try:
        entries = sorted(os.listdir(source["path"]))
    except OSError as exc:
        state["error"] = "cannot read %s: %s" % (source["path"], exc.strerror or exc)
        return state
    for name in entries:
        path = os.path.join(source["path"], name)
        if name.startswith(".") or name.endswith("~") or not os.path.isfile(path):
            continue  # what fastd skips when it reads a peers folder
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE + 1)
        except OSError as exc:
            state["problems"].append({"file": name, "reason": "cannot read it: %s" % exc.strerror})
            continue
        _text, reason = check_file(name, data, taken, "directory source %s" % source["name"])
        if reason:
            state["problems"].append({"file": name, "reason": reason})
        else:
            state["peers"] += 1
    return state


def _git_source(source, taken, now, previous):
    state = {"name": source["name"], "type": "git", "url": redact_url(source["url"]),
             "version": source["version"], "subdir": source["subdir"],
             "commit": previous.get("commit"), "fetched_at": previous.get("fetched_at"),
             "checked_at": now, "error": None, "peers": 0, "skipped": []}
    same_place = (previous.get("url") == state["url"] and previous.get("version") == state["version"]
                  and previous.get("subdir") == state["subdir"])
    if not same_place:
        state["commit"] = None  # the last good commit came from another version or folder
    files = None
    try:
        commit = fetch(source)
        files, odd = read_files(source, commit)
        state["commit"], state["fetched_at"] = commit, now
    except (SourceError, OSError, ValueError, subprocess.SubprocessError) as exc:
        state["error"] = str(exc)
    if files is None and state["commit"]:
        try:
            files, odd = read_files(source, state["commit"])
        except (SourceError, OSError, ValueError) as exc:
            state["error"] += "; the last good commit cannot be read either: %s" % exc
    wanted = {}
    if files is not None:
        skipped = list(odd)
        owner = "git source %s" % source["name"]
        for name in sorted(files):
            text, reason = check_file(name, files[name], taken, "%s (%s)" % (owner, name))
            if reason:
                skipped.append((name, reason))
            else:
                wanted[name] = text
        state["skipped"] = [{"file": n, "reason": r} for n, r in sorted(skipped)]
    elif not state["error"]:
        state["error"] = "no commit fetched yet"
    state["peers"] = len(wanted)
    return state, wanted


def systemctl_reload(unit):
    """Reload ``unit`` (fastd re-reads its peer folders on SIGHUP) if it runs; whether it did."""
    active = subprocess.run(["systemctl", "is-active", "--quiet", unit], check=False)  # pylint: disable=ansible-bad-function
    if active.returncode != 0:
        return False
    subprocess.run(["systemctl", "reload", unit], check=True)  # pylint: disable=ansible-bad-function
    return True


def sync(config, now=None, reload=None):
    """One run for one instance's ``config``; returns the summary. ``reload(unit)``
    reloads fastd (default: systemctl_reload)."""
    now = time.time() if now is None else now
    reload = systemctl_reload if reload is None else reload
    state_dir = config["state_dir"]
    os.makedirs(state_dir, mode=0o755, exist_ok=True)
    taken = Taken(config["interface"], config.get("mode", "multitap"))
    for peer in config["inventory"]:
        taken.add(peer["name"], peer["key"].lower(), "the inventory (fastd_instances)")
    sources = config["sources"]
    states = {}
    for source in sources:
        if source["type"] == "directory":
            states[source["name"]] = _directory_source(source, taken, now)
    changed = False
    for source in sources:
        if source["type"] != "git":
            continue
        previous = read_json(source["state_file"])
        state, wanted = _git_source(source, taken, now, previous)
        changed = stage(source["peers_dir"], wanted) or changed
        states[source["name"]] = state
    keep = {source["name"] for source in sources}
    for entry in os.listdir(state_dir):
        path = os.path.join(state_dir, entry)
        if entry not in keep and INSTANCE_NAME.fullmatch(entry) and os.path.isdir(path):
            shutil.rmtree(path)  # a source that is gone; fastd.conf no longer names its folder
    result = {"instance": config["instance"], "changed": changed, "reloaded": False, "sources": []}
    for source in sources:
        state = states[source["name"]]
        write_json(source["state_file"], state)
        result["sources"].append(state)
        if state["error"]:
            log("peer source %s of %s: %s; its peers stay as they were"
                % (source["name"], config["instance"], state["error"]))
        for item in state.get("skipped", []):
            log("peer source %s of %s: skipped %s: %s"
                % (source["name"], config["instance"], item["file"], item["reason"]))
        for item in state.get("problems", []):
            log("peer source %s of %s: %s is bad (fastd reads this folder as it is): %s"
                % (source["name"], config["instance"], item["file"], item["reason"]))
    if changed:
        result["reloaded"] = bool(reload(config["unit"]))
    return result


def source_states(instance, config_dir=CONFIG_DIR):
    """The state of each peer source of ``instance``, in the configured order
    (for fastd_status); [] for an instance without peer sources."""
    config = read_json(os.path.join(config_dir, instance, CONFIG_NAME))
    states = []
    for source in config.get("sources", []):
        state = read_json(source.get("state_file", ""))
        states.append(state or {"name": source.get("name"), "type": source.get("type"),
                                "error": "not synced yet"})
    return states


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="freifunk-fastd-peers",
        description="Pull the peer sources of a fastd instance, check every peer file and "
                    "stage the good ones; reload fastd when they changed.")
    parser.add_argument("instance", nargs="?", help="the fastd instance (reads /etc/fastd/NAME/%s)" % CONFIG_NAME)
    parser.add_argument("--config", help="the configuration file to read instead")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if bool(args.instance) == bool(args.config):
        parser.error("give an instance name or --config")
    if args.instance and not INSTANCE_NAME.fullmatch(args.instance):
        parser.error("%r is not an instance name" % args.instance)
    path = args.config or os.path.join(CONFIG_DIR, args.instance, CONFIG_NAME)
    config = read_json(path)
    if not config.get("sources") and not os.path.exists(path):
        sys.stderr.write("%s does not exist: the instance has no peer sources\n" % path)
        return EXIT_USAGE
    os.makedirs(config["state_dir"], mode=0o755, exist_ok=True)
    with open(os.path.join(config["state_dir"], ".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the timer and the role never sync at once
        result = sync(config)
    if args.json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    else:
        for state in result["sources"]:
            sys.stdout.write("%s: %d peers%s\n" % (state["name"], state["peers"],
                                                   ", error: %s" % state["error"] if state["error"] else ""))
    failed = any(state["error"] for state in result["sources"])
    return EXIT_SOURCE_FAILED if failed else EXIT_OK
