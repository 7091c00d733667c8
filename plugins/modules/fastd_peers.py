#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fastd_peers
short_description: Sync a fastd peers directory from a list
version_added: 0.1.0
description:
  - Writes one file per peer into the directory O(path), for C(include peers from "dir";).
    The file name is the peer name, the content its C(key), C(remote) and C(float) lines.
  - Validates the whole list first (names, keys, remotes, duplicates) and fails with every
    error before it writes anything.
  - Writes only files whose content or mode differs, each atomically. With O(exclusive),
    removes peer files that are not in the list.
  - fastd re-reads peer directories on C(SIGHUP) (C(systemctl reload fastd@NAME)).
  - Runs through an action plugin of the same name. The list is checked and every peer file
    rendered on the controller, and the module gets the files as one JSON string, which is
    much cheaper to pass along than a list of thousands of peers. The module still compares
    every file on the host byte by byte, so files changed by hand are noticed and put back.
  - With O(exclusive), the module keeps a small hidden state file C(.fastd_peers.json) in O(path)
    with the digests of the last peer list and of the files it left there. For lists of 2,000
    peers or more, a run first asks the host whether the list is the same and every file in the
    folder still reads the same; if so, the run ends there without checking, rendering and
    shipping the list again. Any difference (a file edited, added, removed or with another mode)
    runs the full sync.
  - The state file is written by every sync with O(exclusive), also below 2,000 peers, so that it
    is there when a list grows past that size.
  - The quick check trusts the state file for what the last sync left. A peer file changed by
    hand is noticed; a change made to a peer file and, to match, to the state file is not. Only
    root can write either (the folder is root's); remove the state file to force a full sync.
author:
  - freifunk.gateway maintainers (@freifunk-gateway)
extends_documentation_fragment:
  - freifunk.gateway.attributes
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - The peer list is checked and rendered on the controller; see the description.
  async:
    description: Supports being used with the C(async) keyword.
    support: none
    details:
      - The action plugin talks to the module twice in one task; it cannot run with C(async).
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - One diff per peer file; more than 100 changed files are summarized in one diff.
options:
  path:
    description:
      - The peers directory. Created with mode C(0755) when missing, with any missing parents.
    type: path
    required: true
  peers:
    description:
      - The peers. Each is a dict with C(name) (file name and fastd peer name, 1-63 letters,
        digits, C(_), C(.), C(-), starting with a letter or digit), C(key) (public key, 64 hex
        digits), optional C(remotes) (list of fastd remotes such as
        C('"gw01.example.org" port 10000'), C(192.0.2.1:10000), C([2001:db8::1]:10000)),
        optional C(float) (bool) and optional C(comment).
      - Names and keys must be unique.
    type: list
    elements: dict
    required: true
  exclusive:
    description:
      - Remove files in O(path) that are not in O(peers).
      - Only regular files whose names are valid peer names are removed; hidden files and
        other names (for example C(README.txt~)) are left alone, as fastd skips them too.
    type: bool
    default: true
  mode:
    description: Permissions of the peer files, as an octal string such as V('0644').
    type: raw
    default: '0644'
  _files:
    description:
      - Internal, set by the action plugin (the rendered peer files as one JSON string, in place
        of O(peers)); do not set it.
    type: str
  _list_digest:
    description:
      - Internal, set by the action plugin (the digest of the peer list, kept in the folder's
        state file after a sync); do not set it.
    type: str
  _quick:
    description:
      - Internal, set by the action plugin (only answer whether the folder still holds what the
        last sync of O(_list_digest) left there); do not set it.
    type: bool
    default: false
seealso:
  - name: fastd configuration
    description: C(include peers from) and the peer options.
    link: https://fastd.readthedocs.io/en/stable/manual/config.html
  - module: freifunk.gateway.fastd_key
"""

EXAMPLES = r"""
- name: Let the other gateways of the domain connect
  freifunk.gateway.fastd_peers:
    path: /etc/fastd/mesh0/peers
    peers:
      - name: gw02
        key: 57401fc65b85c386feecaba0661fd1e927f08130e61132538839c5728380751a
        remotes:
          - '"gw02.example.org" port 10000'
          - "[2001:db8::2]:10000"
  notify: Reload fastd instance

- name: Add known nodes, keep files managed elsewhere
  freifunk.gateway.fastd_peers:
    path: /etc/fastd/mesh0/nodes
    peers: "{{ fastd_node_peers }}"
    exclusive: false
"""

RETURN = r"""
added:
  description: Peers whose files were (or would be) created.
  returned: always
  type: list
  elements: str
  sample: [node1]
updated:
  description: Peers whose files were (or would be) rewritten or had their mode fixed.
  returned: always
  type: list
  elements: str
  sample: []
removed:
  description: Files that were (or would be) removed because O(exclusive) is set.
  returned: always
  type: list
  elements: str
  sample: [old-node]
count:
  description: Number of peers in O(peers).
  returned: always
  type: int
  sample: 1
"""

import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import validate_peer_name
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_payload import (
    FILES_OPTION,
    STATE_NAME,
    files_digest,
    in_sync,
    unpack,
)
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_render import render_peers
from ansible_collections.freifunk.gateway.plugins.module_utils.files import atomic_write, parse_mode

DIFF_LIMIT = 100


def scan(module, path, wanted):
    """Regular files of ``path`` by name (hidden files skipped), one scandir."""
    files = {}
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_file(follow_symlinks=False):
                files[entry.name] = entry
            elif entry.name in wanted:
                module.fail_json(msg="%s exists but is not a regular file" % entry.path)
    return files


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def make_diff(path, added, updated, removed, desired, existing):
    total = len(added) + len(updated) + len(removed)
    if total > DIFF_LIMIT:
        lines = ["%s: %d peer files would change" % (path, total)]
        for label, names in (("added", added), ("updated", updated), ("removed", removed)):
            if names:
                shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
                lines.append("%s (%d): %s" % (label, len(names), shown))
        return {"prepared": "\n".join(lines) + "\n"}
    diff = []
    for name in sorted(added + updated + removed):
        file_path = os.path.join(path, name)
        before = read(file_path).decode("utf-8", "replace") if name in existing else ""
        after = desired[name].decode("utf-8") if name in desired else ""
        diff.append({"before_header": file_path, "after_header": file_path,
                     "before": before, "after": after})
    return diff


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            peers=dict(type="list", elements="dict", required=True),
            exclusive=dict(type="bool", default=True),
            mode=dict(type="raw", default="0644"),
            _files=dict(type="str"),
            _list_digest=dict(type="str"),
            _quick=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if module.params["_quick"]:
        module.exit_json(changed=False, in_sync=in_sync(module.params["path"], module.params["_list_digest"]))
    path, peers = module.params["path"], module.params["peers"]
    try:
        mode = parse_mode(module.params["mode"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if module.params[FILES_OPTION] is not None:
        # From the action plugin, which checked and rendered the list.
        try:
            desired = unpack(module.params[FILES_OPTION])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    else:
        errors, files = render_peers(peers, "peers")
        if errors:
            module.fail_json(msg="invalid peers: " + "; ".join(errors), errors=errors)
        desired = {name: text.encode("utf-8") for name, text in files.items()}

    if os.path.lexists(path) and not os.path.isdir(path):
        module.fail_json(msg="%s exists but is not a directory" % path)
    created = not os.path.isdir(path)
    existing = {} if created else scan(module, path, desired)
    added, updated, chmod = [], [], []
    for name, content in desired.items():
        entry = existing.get(name)
        if entry is None:
            added.append(name)
            continue
        st = entry.stat(follow_symlinks=False)
        if st.st_size != len(content) or read(entry.path) != content:
            updated.append(name)
        elif stat.S_IMODE(st.st_mode) != mode:
            chmod.append(name)
    removed = []
    if module.params["exclusive"]:
        removed = [n for n in existing if n not in desired and not validate_peer_name(n)]

    added.sort()
    removed.sort()
    result = dict(changed=bool(created or added or updated or chmod or removed), added=added,
                  updated=sorted(updated + chmod), removed=removed, count=len(desired))
    if module._diff:
        result["diff"] = make_diff(path, added, result["updated"], removed, desired, existing)

    if not module.check_mode:
        if created:
            os.makedirs(path)  # with parents: groups/NAME under the instance folder
            os.chmod(path, 0o755)
        for name in added + updated:
            atomic_write(os.path.join(path, name), desired[name], mode)
        for name in chmod:
            os.chmod(os.path.join(path, name), mode)
        for name in removed:
            os.unlink(os.path.join(path, name))
        if module.params["_list_digest"] and module.params["exclusive"]:
            state = {"list": module.params["_list_digest"], "count": len(desired),
                     "files": files_digest({name: (mode, data) for name, data in desired.items()})}
            atomic_write(os.path.join(path, STATE_NAME), json.dumps(state).encode("utf-8"), 0o644)
    # Do not echo the whole peer list back (1.4 MB at 10,000 peers): the
    # invocation shows how many peers were given instead.
    args = dict(module.params, peers="(%d peers)" % len(desired))
    for internal in (FILES_OPTION, "_list_digest", "_quick"):
        del args[internal]
    module.exit_json(invocation={"module_args": args}, **result)


if __name__ == "__main__":
    main()
