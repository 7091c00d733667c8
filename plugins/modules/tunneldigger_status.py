#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tunneldigger_status
short_description: Read the sessions of a tunneldigger broker instance from the kernel
version_added: 0.1.0
description:
  - Reports the L2TP sessions of one tunneldigger broker instance as the kernel and the mesh
    see them, never from the broker's log.
  - Kernel tunnels and sessions come from C(ip -j l2tp show tunnel) and C(ip -j l2tp show session);
    only tunnels with ids from O(tunnel_id_base) to O(tunnel_id_base) + O(max_tunnels) - 1 belong
    to the broker (fastd's L2TP offload creates kernel tunnels too). A session's endpoint is the
    peer address and port of its tunnel's UDP socket.
  - MTU, operational state and master of each session interface come from
    C(/sys/class/net/IFACE/{mtu,operstate,flags,master}).
  - The node's uuid and the time a session came up come from the session records that the
    on-connect hook writes on C(session.up), one file per interface in
    C(STATE_DIR/INSTANCE/sessions/), with C(key=value) lines.
  - A kernel session without a record is reported with RV(sessions[].uuid=null). A record without
    a kernel session, or whose endpoint differs from the kernel's (left over from an earlier
    tunnel with the same id), is listed in RV(stale) and not used.
  - With O(wait_for), polls until enough sessions are up, recorded and in the mesh, or fails after
    O(timeout) seconds naming every session it saw and its state.
author:
  - freifunk.gateway maintainers (@freifunk-gateway)
extends_documentation_fragment:
  - freifunk.gateway.attributes
  - freifunk.gateway.attributes.info_module
options:
  instance:
    description:
      - Name of the broker instance, as in the unit C(tunneldigger@INSTANCE) and in
        C(/etc/tunneldigger/INSTANCE/).
    type: str
    required: true
  tunnel_id_base:
    description: The broker's C(tunnel_id_base), its first tunnel id.
    type: int
    required: true
  max_tunnels:
    description: The broker's C(max_tunnels), the number of tunnel ids it uses.
    type: int
    required: true
  mesh:
    description:
      - Where the on-connect hook puts session interfaces, as the instance's C(mesh) setting
        (C(backend), C(interface), optionally C(hop_penalty), C(isolated)). A session is in the
        mesh when its interface's master is C(interface).
      - V(null) when sessions are not attached anywhere; then RV(sessions[].in_mesh) and
        RV(in_mesh_count) are V(null).
    type: dict
  state_dir:
    description: Folder of the per-instance runtime folders with the session records.
    type: path
    default: /run/tunneldigger
  timeout:
    description: With O(wait_for), the seconds to wait; V(0) checks once.
    type: float
    default: 0
  wait_for:
    description:
      - Poll until this many sessions are up, recorded by the on-connect hook (which writes the
        record as its last step) and in the mesh (up and recorded only, when O(mesh) is V(null)),
        or fail after O(timeout) seconds.
    type: dict
    suboptions:
      sessions:
        description: Least number of such sessions.
        type: int
        default: 1
notes:
  - Needs C(ip) from iproute2 (JSON output of C(ip l2tp) since 4.15; older versions print text,
    which is read as well). Reading the session records may need root (C(become)).
  - Without the kernel's L2TP netlink interface (module C(l2tp_netlink) not loaded) there are no
    L2TP tunnels; the module then reports no sessions and warns.
seealso:
  - module: freifunk.gateway.fastd_status
  - name: tunneldigger
    description: The broker's installation and configuration.
    link: https://tunneldigger.readthedocs.io/en/latest/server.html
"""

EXAMPLES = r"""
- name: Read the sessions of broker td0
  freifunk.gateway.tunneldigger_status:
    instance: td0
    tunnel_id_base: 100
    max_tunnels: 1024
    mesh:
      backend: batman_adv
      interface: bat0
  register: __td_status

- name: Wait until a node has a session in bat0
  freifunk.gateway.tunneldigger_status:
    instance: td0
    tunnel_id_base: 100
    max_tunnels: 1024
    mesh: {backend: batman_adv, interface: bat0}
    timeout: 60
    wait_for:
      sessions: 1
"""

RETURN = r"""
instance:
  description: The instance's name.
  returned: always
  type: str
  sample: td0
active:
  description:
    - Whether the unit C(tunneldigger@INSTANCE) is active (C(systemctl is-active)).
    - V(null) when there is no C(systemctl).
  returned: always
  type: bool
  sample: true
count:
  description: Number of the broker's kernel sessions.
  returned: success
  type: int
  sample: 2
in_mesh_count:
  description: Number of sessions whose interface is in the mesh; V(null) when O(mesh) is V(null).
  returned: success
  type: int
  sample: 1
stale:
  description:
    - Names of session records without a kernel session of the broker (or whose endpoint is not
      the kernel's), sorted. A down hook that did not run leaves them behind.
  returned: success
  type: list
  elements: str
  sample: [l2tp103-103]
sessions:
  description: One entry per kernel session of the broker, sorted by tunnel id and session id.
  returned: success
  type: list
  elements: dict
  contains:
    interface:
      description: The session's interface, C(l2tp<tunnel_id>-<session_id>).
      type: str
      sample: l2tp100-100
    tunnel_id:
      description: Local tunnel id.
      type: int
      sample: 100
    session_id:
      description: Local session id (the tunnel id, or 1 for old clients).
      type: int
      sample: 100
    uuid:
      description: The node's uuid from the session record; V(null) without a record.
      type: str
      sample: 0242ac110002
    endpoint:
      description:
        - The node's address and port, C(ip:port), from the kernel's tunnel (its peer address and
          port), else from the session record; V(null) when neither knows.
      type: str
      sample: 198.51.100.7:41235
    mtu:
      description: The interface's MTU; V(null) when the interface does not exist.
      type: int
      sample: 1364
    up:
      description:
        - Whether the interface is up (administratively up, operational state C(up) or
          C(unknown), which is what L2TP Ethernet interfaces report when up).
      type: bool
      sample: true
    operstate:
      description: The interface's operational state from sysfs; V(null) when it does not exist.
      type: str
      sample: unknown
    master:
      description: The interface's master (the bridge or batman-adv interface), or V(null).
      type: str
      sample: bat0
    in_mesh:
      description: Whether RV(sessions[].master) is the mesh interface; V(null) when O(mesh) is V(null).
      type: bool
      sample: true
    since:
      description: When the session came up (seconds since the epoch), from the record; else V(null).
      type: int
      sample: 1732579200
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger_status as td


def read_kernel(module, ip, warned):
    """The output of ``ip -j l2tp show tunnel`` and ``... session``; two empty
    ones, with one warning, when the kernel has no L2TP netlink."""
    outputs = []
    for what in ("tunnel", "session"):
        rc, out, err = module.run_command([ip, "-j", "l2tp", "show", what])
        if rc != 0 and td.no_l2tp_netlink(err):
            if not warned:
                module.warn("the kernel has no L2TP netlink interface (l2tp_netlink not loaded): "
                            "no L2TP tunnels")
                warned.append(True)
            return "", ""
        if rc != 0:
            module.fail_json(msg="ip -j l2tp show %s failed (rc %d): %s" % (what, rc, err.strip()))
        outputs.append(out)
    return tuple(outputs)


def unit_active(module, systemctl, instance):
    if systemctl is None:
        return None
    _rc, out, _err = module.run_command([systemctl, "is-active", td.unit_name(instance)])
    return out.strip() == "active"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instance=dict(type="str", required=True),
            tunnel_id_base=dict(type="int", required=True),
            max_tunnels=dict(type="int", required=True),
            mesh=dict(type="dict"),
            state_dir=dict(type="path", default=td.STATE_DIR),
            timeout=dict(type="float", default=0),
            wait_for=dict(type="dict", options=dict(
                sessions=dict(type="int", default=1),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    instance, mesh, wait_for = params["instance"], params["mesh"], params["wait_for"]
    errors = td.validate_options(instance, params["tunnel_id_base"], params["max_tunnels"], mesh,
                                 params["timeout"], wait_for["sessions"] if wait_for else None)
    if errors:
        module.fail_json(msg="; ".join(errors), instance=instance)

    ip = module.get_bin_path("ip", required=True)
    systemctl = module.get_bin_path("systemctl")
    deadline = time.monotonic() + params["timeout"]
    warned = []
    while True:
        active = unit_active(module, systemctl, instance)
        tunnels, sessions = read_kernel(module, ip, warned)
        try:
            status = td.gather(tunnels, sessions, instance, params["tunnel_id_base"], params["max_tunnels"],
                               mesh, params["state_dir"], td.SYSFS_NET)
        except ValueError as exc:
            module.fail_json(msg=str(exc), instance=instance, active=active)
        if not wait_for or td.count_ready(status, mesh) >= wait_for["sessions"]:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            module.fail_json(msg=td.timeout_message(instance, status, active, wait_for["sessions"],
                                                    params["timeout"], mesh),
                             instance=instance, active=active, **status)
        time.sleep(min(1.0, remaining))

    module.exit_json(changed=False, instance=instance, active=active, **status)


if __name__ == "__main__":
    main()
