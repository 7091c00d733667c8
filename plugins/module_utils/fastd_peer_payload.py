# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How freifunk.gateway.fastd_peers gets its peer files from the controller.

The action plugin checks the peer list and renders every peer file on the
controller, then hands the module one JSON string ``{name: file text}``
instead of the list itself. A single string costs the controller and the
module almost nothing to pass along; a list of 10,000 dicts is encoded,
type-checked and deep-copied item by item on its way (about 0.4 s of a
10,000-peer run). The module still checks every name it gets.

A run that changes nothing skips even that. After each sync the module keeps
a small state file in the folder (hidden, so fastd skips it): the digest of
the peer list it was given (:func:`list_digest`) and the digest of the files
it left there (:func:`files_digest`: names, modes and contents). The next run
first asks the module whether the folder still holds exactly those files for
that list; the module reads every file to answer, so a file changed, added,
removed or re-moded by hand is noticed, and then the full sync runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat

from ansible_collections.freifunk.gateway.plugins.module_utils import fastd, fastd_render, rules
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import validate_peer_name

FILES_OPTION = "_files"
STATE_NAME = ".fastd_peers.json"


def _code_version():
    """The digest of the code that checks and renders peers: a new collection
    version that renders a file differently must not skip the sync."""
    digest = hashlib.sha256()
    for mod in (fastd, fastd_render, rules):
        with open(mod.__file__, "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


def list_digest(peers, mode, exclusive):
    """The digest of a peer list as the task gives it (before any check), with
    the file mode, O(exclusive) and the code version."""
    text = json.dumps([_code_version(), peers, str(mode), bool(exclusive)],
                      sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def files_digest(files):
    """The digest of {name: (mode, bytes)}."""
    digest = hashlib.sha256()
    for name in sorted(files):
        mode, data = files[name]
        digest.update(b"%s\0%o\0%d\0" % (name.encode("utf-8"), mode, len(data)))
        digest.update(data)
    return digest.hexdigest()


def folder_files(path):
    """{name: (mode, bytes)} of the regular files in ``path`` whose names are
    peer names: those an exclusive sync manages."""
    files = {}
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False) and not validate_peer_name(entry.name):
                with open(entry.path, "rb") as handle:
                    data = handle.read()
                files[entry.name] = (stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode), data)
    return files


def read_state(path):
    """The state file of the folder ``path`` as a dict, {} when missing or unreadable."""
    try:
        with open(os.path.join(path, STATE_NAME), "rb") as handle:
            state = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def in_sync(path, digest):
    """Whether the folder ``path`` holds exactly the files the last sync of
    the list with ``digest`` left there (read again, byte by byte)."""
    if not os.path.isdir(path):
        return False
    state = read_state(path)
    if state.get("list") != digest or not state.get("files"):
        return False
    return files_digest(folder_files(path)) == state["files"]


def pack(files):
    """``files`` ({peer name: file text}) as the string the module takes."""
    return json.dumps(files, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def unpack(text):
    """{peer name: file bytes} from what :func:`pack` made; ValueError when
    ``text`` is not that (the option is set by the action plugin only)."""
    try:
        files = json.loads(text)
    except ValueError:
        raise ValueError("%s is not JSON: it is set by the fastd_peers action plugin, "
                         "not by hand" % FILES_OPTION) from None
    if not isinstance(files, dict):
        raise ValueError("%s must map peer names to file texts" % FILES_OPTION)
    out = {}
    for name, text in files.items():
        errors = validate_peer_name(name, "%s name" % FILES_OPTION)
        if errors:
            raise ValueError(errors[0])
        if not isinstance(text, str):
            raise ValueError("%s[%s] must be the file text" % (FILES_OPTION, name))
        out[name] = text.encode("utf-8")
    return out
