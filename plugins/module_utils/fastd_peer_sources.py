# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Peer sources of a fastd instance (``fastd_instances[].peer_sources``):
git repositories of peer files pulled on the gateway, and directories that
something else manages. Validation (every mistake at once, naming the
variable path), defaults, where each source lives on the gateway, and the
configuration file the sync program (fastd_peer_sync.py) reads.

The sync program runs on the gateway with only this file, fastd.py,
fastd_render.py, mesh.py and rules.py beside it: standard library only.
"""

from __future__ import annotations

import os
import re

from ansible_collections.freifunk.gateway.plugins.module_utils.rules import (
    INSTANCE_NAME,
    control_errors,
    describe,
    name_taken_errors,
    one_of_errors,
    unknown_keys,
)

STATE_ROOT = "/var/lib/freifunk-fastd"  # one folder per instance, one per source in it
CONFIG_NAME = "peer-sources.json"  # in /etc/fastd/NAME/
SOURCE_TYPES = ("git", "directory")
SOURCE_KEYS = {
    "git": ("type", "name", "url", "version", "subdir", "interval"),
    "directory": ("type", "name", "path"),
}
GIT_DEFAULTS = {"version": "HEAD", "subdir": "", "interval": "5min"}
INTERVAL_MIN = 60  # seconds; a shorter pull interval only loads the git server

# systemd time span units (systemd.time(7)) that make sense for a pull interval.
_UNITS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_SPAN_PART = re.compile(r"([0-9]{1,7}) *([a-z]*)")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# A branch or tag: git's ref name rules (git-check-ref-format), a little stricter.
_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*")
_PATH_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@-]*")
_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
_SCP_LIKE = re.compile(r"(?:[A-Za-z0-9_.-]+@)?[A-Za-z0-9.-]+:(?!//)[^ ]+")
_USERINFO = re.compile(r"(?<=://)[^/@]*@")
URL_FORMS = ("https://host/path, ssh://[user@]host/path, git://host/path, user@host:path, "
             "file:///path or an absolute path on the gateway")


def redact_url(url):
    """``url`` with any user or password part (``https://user:token@host``)
    replaced by ``***@``: what messages, logs and the status may show."""
    return _USERINFO.sub("***@", str(url))


def parse_interval(text):
    """Seconds of a systemd time span such as ``5min``, ``1h 30min`` or
    ``300`` (seconds); ValueError otherwise."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError("expected a time span such as '5min', got %s" % describe(text))
    text = str(text).strip()
    if not text:
        raise ValueError("expected a time span such as '5min', got an empty string")
    total, pos = 0, 0
    while pos < len(text):
        match = _SPAN_PART.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError("%r is not a time span such as '5min' or '1h 30min'" % text)
        unit = match.group(2) or "s"
        if unit not in _UNITS:
            raise ValueError("%r has the unknown unit %r; use s, min, h, d or w" % (text, unit))
        total += int(match.group(1)) * _UNITS[unit]
        pos = match.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
    return total


def _url_errors(url, var):
    if not isinstance(url, str) or not url:
        return ["%s must be a git repository URL (%s), got %s" % (var, URL_FORMS, describe(url))]
    shown = describe(redact_url(url))
    errors = control_errors(url, var)
    if errors:
        return errors
    if url.startswith("-"):
        return ["%s must not start with '-' (git would read it as an option); got %s" % (var, shown)]
    if " " in url:
        return ["%s must not contain spaces; got %s" % (var, shown)]
    if url.startswith(_SCHEMES):
        rest = url.split("://", 1)[1]
        if url.startswith("file://") and not rest.startswith("/"):
            return ["%s: a file URL needs an absolute path (file:///srv/peers.git); got %s" % (var, shown)]
        if not rest.strip("/"):
            return ["%s has no host or path; got %s" % (var, shown)]
        userinfo = _USERINFO.search(url)
        if userinfo and ":" in userinfo.group(0):
            # Loop items, the sync's config file and git's own messages would
            # carry it: no secret goes where output can show it.
            return ["%s has a password or token in it (%s); it would be stored in the sync's "
                    "config and could show in Ansible's output: use an ssh deploy key "
                    "(ssh://git@host/path) or a git credential helper for root on the gateway "
                    "instead" % (var, shown)]
        return []
    if url.startswith("/"):
        return []
    if "::" not in url and _SCP_LIKE.fullmatch(url):
        return []
    return ["%s must be a git repository URL (%s); got %s (other transports such as "
            "ext:: are refused)" % (var, URL_FORMS, shown)]


def _version_errors(version, var):
    if isinstance(version, str) and (_COMMIT.fullmatch(version) or (
            _REF.fullmatch(version) and ".." not in version and not version.endswith((".lock", "."))
            and len(version) <= 200)):
        return []
    return ["%s must be a branch or tag name (e.g. main, v2025.1) or a full commit id "
            "(40 or 64 lowercase hex digits), or HEAD for the repository's default branch; "
            "got %s" % (var, describe(version))]


def _subdir_errors(subdir, var):
    if subdir == "":
        return []
    if isinstance(subdir, str) and len(subdir) <= 255 and all(
            _PATH_PART.fullmatch(part) for part in subdir.strip("/").split("/")) \
            and not subdir.startswith("/"):
        return []
    return ["%s must be a folder of the repository relative to its top, such as 'peers' or "
            "'domains/d1/peers' (letters, digits, '_', '.', '+', '@', '-'; no '..', no leading "
            "'/'; '' for the top), got %s" % (var, describe(subdir))]


def _interval_errors(interval, var):
    try:
        seconds = parse_interval(interval)
    except ValueError as exc:
        return ["%s: %s" % (var, exc)]
    if seconds < INTERVAL_MIN:
        return ["%s: %s is %d seconds; pull at most once a minute (at least '1min')"
                % (var, describe(interval), seconds)]
    return []


def _path_errors(path, var):
    if not isinstance(path, str) or not path.startswith("/"):
        return ["%s must be an absolute path of a folder on the gateway, got %s" % (var, describe(path))]
    errors = control_errors(path, var)
    if errors:
        return errors
    parts = path.rstrip("/").split("/")[1:]
    if not parts or any(p in ("", ".", "..") for p in parts) or path != path.rstrip("/") or '"' in path:
        return ["%s must be a plain absolute path (no '.', '..', '//', trailing '/' or '\"'), "
                "got %s" % (var, describe(path))]
    for managed in ("/etc/fastd", STATE_ROOT):
        if path == managed or path.startswith(managed + "/"):
            return ["%s: %s is managed by the role; give a folder of your own" % (var, describe(path))]
    return []


def validate_peer_sources(sources, var="peer_sources"):
    """Every mistake in a ``peer_sources`` list: types, keys, unique names,
    URLs, versions, folders, intervals, and no directory listed twice."""
    if not isinstance(sources, list):
        return ["%s must be a list of peer sources ({type: git, name, url, ...} or "
                "{type: directory, name, path}), got %s" % (var, describe(sources))]
    errors, names, paths = [], {}, {}
    for index, source in enumerate(sources):
        svar = "%s[%d]" % (var, index)
        if not isinstance(source, dict):
            errors.append("%s must be a dict with type and name, got %s" % (svar, describe(source)))
            continue
        kind = source.get("type")
        type_errors = one_of_errors(kind, SOURCE_TYPES, svar + ".type")
        errors.extend(type_errors)
        if type_errors:
            continue
        errors.extend(unknown_keys(source, SOURCE_KEYS[kind], svar))
        name = source.get("name")
        if "name" not in source:
            errors.append("%s.name is required" % svar)
        elif not (isinstance(name, str) and INSTANCE_NAME.fullmatch(name)):
            errors.append("%s.name must be 1-32 characters a-z, 0-9, '_' or '-', starting with a "
                          "letter or digit (it names the source's folder under %s/<instance>); got %s"
                          % (svar, STATE_ROOT, describe(name)))
        else:
            errors.extend(name_taken_errors(name, svar, names))
        if kind == "git":
            if "url" not in source:
                errors.append("%s.url is required" % svar)
            else:
                errors.extend(_url_errors(source["url"], svar + ".url"))
            errors.extend(_version_errors(source.get("version", GIT_DEFAULTS["version"]), svar + ".version"))
            errors.extend(_subdir_errors(source.get("subdir", GIT_DEFAULTS["subdir"]), svar + ".subdir"))
            errors.extend(_interval_errors(source.get("interval", GIT_DEFAULTS["interval"]),
                                           svar + ".interval"))
        else:
            if "path" not in source:
                errors.append("%s.path is required" % svar)
                continue
            path_errors = _path_errors(source["path"], svar + ".path")
            errors.extend(path_errors)
            if not path_errors:
                if source["path"] in paths:
                    errors.append("%s.path: %r is already listed by %s"
                                  % (svar, str(source["path"]), paths[source["path"]]))
                paths.setdefault(source["path"], svar)
    return errors


def normalize_peer_sources(sources, instance):
    """Valid ``sources`` of instance ``instance`` with defaults filled in and,
    for each, ``peers_dir``: the folder fastd includes (a git source's staged
    folder of checked peer files, or a directory source's own path), and
    ``state_file``."""
    result = []
    for source in sources:
        item = dict(source)
        base = os.path.join(STATE_ROOT, instance, item["name"])
        if item["type"] == "git":
            for key, value in GIT_DEFAULTS.items():
                item.setdefault(key, value)
            item["interval_seconds"] = parse_interval(item["interval"])
            item["peers_dir"] = os.path.join(base, "peers")
            item["repository"] = os.path.join(base, "repository.git")
        else:
            item["peers_dir"] = item["path"]
        item["state_file"] = os.path.join(base, "state.json")
        result.append(item)
    return result


def sync_config(instance):
    """What the sync program needs of one normalized instance (see
    fastd_instances_normalized): its sources and the names, keys and
    interface pattern of the peers the inventory gives it, which win over
    every file of a source."""
    peers = list(instance.get("peers") or [])
    for group in instance.get("peer_groups") or []:
        peers.extend(group.get("peers") or [])
    return {
        "instance": instance["name"],
        "unit": "fastd@%s.service" % instance["name"],
        "state_dir": os.path.join(STATE_ROOT, instance["name"]),
        "interface": instance["interface"],
        "mode": instance.get("mode", "multitap"),
        "inventory": [{"name": p["name"], "key": p["key"].lower()} for p in peers],
        "sources": normalize_peer_sources(instance.get("peer_sources") or [], instance["name"]),
    }


def source_lines(states, only_problems=False):
    """Lines a person reads for the source states of fastd_status (or of one
    run of freifunk-fastd-peers): per source its commit, peers and error, then
    each skipped (git) or bad (directory) file with the reason."""
    lines = []
    for state in states or []:
        bad = state.get("skipped") or []
        problems = state.get("problems") or []
        if only_problems and not (state.get("error") or bad or problems):
            continue
        where = state.get("url") or state.get("path") or ""
        head = "  source %s (%s %s): %d peers" % (state.get("name"), state.get("type"), where,
                                                  state.get("peers") or 0)
        if state.get("commit"):
            head += ", commit %s" % state["commit"][:12]
        if state.get("error"):
            head += ", ERROR: %s" % state["error"]
        lines.append(head)
        lines.extend("    skipped %s: %s" % (i.get("file"), i.get("reason")) for i in bad)
        lines.extend("    bad file %s (fastd reads it as it is): %s" % (i.get("file"), i.get("reason"))
                     for i in problems)
    return lines
