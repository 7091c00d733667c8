#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fastd_status
short_description: Read the status of a fastd instance
version_added: 0.1.0
description:
  - Reads the JSON document of a fastd status socket (C(status socket "...";) in C(fastd.conf))
    and returns it normalized; times in seconds, one list entry per peer.
  - With O(wait_for), polls until enough peers are connected, or fails after O(timeout)
    seconds with what it saw.
author:
  - freifunk.gateway maintainers (@freifunk-gateway)
extends_documentation_fragment:
  - freifunk.gateway.attributes
  - freifunk.gateway.attributes.info_module
options:
  instance:
    description:
      - Name of the fastd instance; reads C(/run/fastd/<instance>.sock) unless O(socket) is given.
      - With it the result also has the instance's RV(peer_sources).
      - At least one of O(instance) and O(socket) is required.
    type: str
  socket:
    description:
      - Path of the status socket, for an instance with its own C(status_socket).
    type: path
  timeout:
    description:
      - Seconds to wait for an answer, and with O(wait_for) the total time to wait.
    type: float
    default: 5
  wait_for:
    description: Poll until this many peers are connected.
    type: dict
    suboptions:
      peers:
        description: Least number of connected peers.
        type: int
        default: 1
      method:
        description: Count only peers connected with this method, for example V(null@l2tp).
        type: str
  raw:
    description: Also return the document as fastd sent it, in RV(raw).
    type: bool
    default: false
notes:
  - Reading the socket usually needs root (C(become)).
seealso:
  - name: fastd status socket
    description: The C(status socket) option.
    link: https://fastd.readthedocs.io/en/stable/manual/config.html
"""

EXAMPLES = r"""
- name: Read the status of instance mesh0
  freifunk.gateway.fastd_status:
    instance: mesh0
  register: __fastd_status

- name: Wait until a node is connected through L2TP
  freifunk.gateway.fastd_status:
    instance: mesh0
    timeout: 60
    wait_for:
      peers: 1
      method: null@l2tp
"""

RETURN = r"""
socket:
  description: The status socket that was read.
  returned: always
  type: str
  sample: /run/fastd/mesh0.sock
uptime:
  description: Seconds since fastd started.
  returned: success
  type: float
  sample: 17.707
interface:
  description: The interface of a tap mode instance; V(null) in multitap mode.
  returned: success
  type: str
  sample: mesh-vpn
statistics:
  description: fastd's traffic counters (C(rx), C(tx), ... with C(packets) and C(bytes)).
  returned: success
  type: dict
count:
  description: Number of peers fastd knows (configured or connected).
  returned: success
  type: int
  sample: 3
connected:
  description: Number of connected peers.
  returned: success
  type: int
  sample: 2
methods:
  description: Connected peers per method.
  returned: success
  type: dict
  sample: {"salsa2012+umac": 1, "null@l2tp": 1}
peers:
  description: One entry per peer, sorted by name (unnamed peers last), then key.
  returned: success
  type: list
  elements: dict
  contains:
    key:
      description: Public key.
      type: str
    name:
      description: Peer name; V(null) for peers accepted by C(on verify).
      type: str
    address:
      description: Remote address and port, or V(any) while not connected.
      type: str
    interface:
      description: The interface the peer uses (per peer in multitap mode).
      type: str
    mtu:
      description: The peer interface's MTU (fastd 23 and later, multitap mode), else V(null).
      type: int
    connected:
      description: Whether a session is established.
      type: bool
    method:
      description: The method in use, or V(null).
      type: str
    established:
      description: Seconds since the session was established, or V(null).
      type: float
    statistics:
      description: Traffic counters of the session, or V(null).
      type: dict
    mac_addresses:
      description: MAC addresses learned from the peer (tap mode).
      type: list
      elements: str
peer_sources:
  description:
    - The peer sources of the instance (C(peer_sources) of the role freifunk.gateway.fastd), in their order,
      as the last run of C(freifunk-fastd-peers) left them; empty without sources or without O(instance).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The source's name.
      type: str
    type:
      description: V(git) or V(directory).
      type: str
    url:
      description: The repository (git), with any user or password part shown as C(***).
      type: str
    path:
      description: The folder (directory).
      type: str
    commit:
      description: The commit whose peer files are staged (git).
      type: str
    fetched_at:
      description: When the last fetch succeeded, in seconds since the epoch (git).
      type: float
    checked_at:
      description: When the source was last read, in seconds since the epoch.
      type: float
    error:
      description: Why the last fetch or read failed (the last good peers stay), or V(null).
      type: str
    peers:
      description: Number of good peer files.
      type: int
    skipped:
      description: Peer files left out, each C({file, reason}) (git).
      type: list
      elements: dict
    problems:
      description: Bad peer files, each C({file, reason}); fastd reads the folder as it is (directory).
      type: list
      elements: dict
raw:
  description: The document as fastd sent it.
  returned: when O(raw=true)
  type: dict
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import validate_methods
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_sync import source_states
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_status import (
    count_connected, parse_status, read_socket, socket_error as describe, status_socket_path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instance=dict(type="str"),
            socket=dict(type="path"),
            timeout=dict(type="float", default=5),
            wait_for=dict(type="dict", options=dict(
                peers=dict(type="int", default=1),
                method=dict(type="str"),
            )),
            raw=dict(type="bool", default=False),
        ),
        required_one_of=[("instance", "socket")],
        supports_check_mode=True,
    )
    params = module.params
    path = params["socket"] or status_socket_path(params["instance"])
    wait_for = params["wait_for"]
    if wait_for and wait_for["method"] is not None:
        errors = validate_methods([wait_for["method"]], "wait_for.method")
        if errors:
            module.fail_json(msg=errors[0], socket=path)

    deadline = time.monotonic() + params["timeout"]
    while True:
        remaining = deadline - time.monotonic()
        try:
            doc = json.loads(read_socket(path, max(remaining, 0.1)).decode("utf-8"))
            status = parse_status(doc)
            error = None
        except (OSError, ValueError) as exc:
            status, error = None, describe(exc, path)
        if not wait_for:
            if error:
                module.fail_json(msg=error, socket=path)
            break
        if status and count_connected(status, wait_for["method"]) >= wait_for["peers"]:
            break
        if remaining <= 0:
            want = "%d connected peer(s)%s" % (
                wait_for["peers"], " using %s" % wait_for["method"] if wait_for["method"] else "")
            if status is None:
                module.fail_json(msg="timed out after %ss waiting for %s: %s"
                                 % (params["timeout"], want, error), socket=path)
            module.fail_json(msg="timed out after %ss waiting for %s; saw %d connected %s"
                             % (params["timeout"], want, status["connected"], status["methods"]),
                             socket=path, **status)
        time.sleep(min(0.5, max(remaining, 0)))

    result = dict(changed=False, socket=path, **status)
    if params["instance"]:
        result["peer_sources"] = source_states(params["instance"])
    if params["raw"]:
        result["raw"] = doc
    module.exit_json(**result)


if __name__ == "__main__":
    main()
