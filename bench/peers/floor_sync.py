# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The floor of the peers benchmark: the same peer files, written by plain Python.

    python3 floor_sync.py DIR VARS_FILE

VARS_FILE is the JSON file the fastd_peers playbook loads ({"bench_peers": [...]}).
Renders every peer, reads and compares the files already in DIR, writes the
missing and different ones (a plain open/write, no temporary file, no fsync)
and removes files of peers not in the list. Prints a JSON line with the time
spent after the interpreter started (loading the list included) and the
number of files written and removed. No validation, no atomic writes, no
mode handling: the least work that leaves the same directory behind.
"""

from __future__ import annotations

import json
import os
import sys
import time


def render_peer(peer):
    """The peer file text, as freifunk.gateway's module_utils/fastd_render.render_peer
    writes it for the canonical remotes the benchmark uses."""
    lines = [("# " + line).rstrip() for line in peer.get("comment", "").splitlines()]
    lines.append('key "%s";' % peer["key"].lower())
    lines.extend("remote %s;" % remote for remote in peer.get("remotes", []))
    if peer.get("float"):
        lines.append("float yes;")
    return "\n".join(lines) + "\n"


def sync(path, peers):
    desired = {peer["name"]: render_peer(peer).encode("utf-8") for peer in peers}
    if not os.path.isdir(path):
        os.mkdir(path)
    existing = {name for name in os.listdir(path) if not name.startswith(".")}
    written = 0
    for name, data in desired.items():
        file_path = os.path.join(path, name)
        if name in existing:
            with open(file_path, "rb") as handle:
                if handle.read() == data:
                    continue
        with open(file_path, "wb") as handle:
            handle.write(data)
        written += 1
    removed = [name for name in existing if name not in desired]
    for name in removed:
        os.unlink(os.path.join(path, name))
    return written, len(removed)


def main():
    start = time.perf_counter()
    path, vars_file = sys.argv[1:3]
    with open(vars_file, encoding="utf-8") as handle:
        peers = json.load(handle)["bench_peers"]
    written, removed = sync(path, peers)
    sys.stdout.write(json.dumps({"seconds": time.perf_counter() - start,
                                 "written": written, "removed": removed}) + "\n")


if __name__ == "__main__":
    main()
