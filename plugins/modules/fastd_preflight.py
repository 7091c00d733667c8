#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fastd_preflight
short_description: Check on the gateway that fastd instances can start before their configuration is replaced
version_added: 0.1.0
description:
  - Checks on the target what C(fastd --verify-config) cannot see but what stops fastd when it
    starts, so that a play can fail before a running instance is restarted with a configuration
    it cannot start with.
  - Fails with one message per problem, naming the variable (for example
    C(fastd_instances[0].bind[1])). Changes nothing.
  - Each bind address other than V(any) must be an address of the host. fastd binds with
    C(IP_FREEBIND), so it does start on an address the host lacks, but nothing reaches it there;
    see O(allow_missing_addresses). A link-local IPv6 address needs a scope, and the interface
    of a scope (C(fe80::1%eth0)) must exist.
  - Each bind address must find its UDP port free, or held by the instance itself (its unit's
    C(MainPID)) or by an item of O(instances) with C(state=absent), which is
    stopped first. V(any) is one dual-stack socket and takes the port on every IPv4 and IPv6
    address; a wildcard (V(0.0.0.0), V(::)) takes it on every address of its family; an IPv6
    wildcard socket of another program that is not IPv6-only also takes IPv4. Overlapping bind
    addresses of one instance are a problem too, since fastd binds each with its own socket.
  - In tap mode the interface must not exist, or be a TAP interface that no process other than
    the instance itself (or a retired one) has open. In multitap mode interfaces are created per
    peer, so there is nothing to check.
author:
  - freifunk.gateway maintainers (@freifunk-gateway)
extends_documentation_fragment:
  - freifunk.gateway.attributes
  - freifunk.gateway.attributes.info_module
options:
  instances:
    description:
      - The fastd instances as in C(fastd_instances), in the same order (the index is used in
        messages). Each item needs C(name) and C(port); C(bind) (default V([any])), C(mode)
        (V(tap) or V(multitap), default V(multitap)), C(interface) (required in tap mode),
        C(state) (V(present) or V(absent), default V(present)) and C(unit) (default
        C(fastd@NAME.service)) are read too. Other keys are ignored.
      - Items with C(state=absent) are not checked; what their running processes hold counts as free.
    type: list
    elements: dict
    required: true
  var:
    description: The name of the variable O(instances) comes from, used in messages.
    type: str
    default: fastd_instances
  allow_missing_addresses:
    description:
      - Report a bind address the host lacks as a warning instead of failing.
      - For addresses that are added later, for example a floating address managed by keepalived.
    type: bool
    default: false
notes:
  - Run it as root (C(become)); otherwise processes of other users, such as fastd itself, cannot be
    seen, and ports they hold are reported as held by an unknown process.
  - Whether an instance runs is read with C(systemctl show -P MainPID); without systemctl, no
    instance counts as running.
  - Nothing is sent; an address is tested by binding a UDP socket to it with port 0.
  - Two instances of O(instances) sharing a port or an interface are not checked here; that is
    part of the validation of C(fastd_instances).
seealso:
  - name: fastd configuration
    description: The C(bind), C(mode) and C(interface) options.
    link: https://fastd.readthedocs.io/en/stable/manual/config.html
  - module: freifunk.gateway.fastd_status
"""

EXAMPLES = r"""
- name: Check the host can start the instances before their configuration is written
  freifunk.gateway.fastd_preflight:
    instances: "{{ __fastd_instances }}"
  become: true

- name: Allow a floating address that keepalived adds later
  freifunk.gateway.fastd_preflight:
    instances:
      - name: mesh0
        port: 10000
        bind: [any]
        mode: multitap
        interface: fft-%k
      - name: mesh1
        port: 10001
        bind: [192.0.2.10, "[2001:db8::10]"]
        mode: tap
        interface: mesh-vpn
      - name: old
        port: 10002
        state: absent
    allow_missing_addresses: true
  become: true
"""

RETURN = r"""
checked:
  description: Names of the instances that were checked (those not absent).
  returned: always
  type: list
  elements: str
  sample: [mesh0, mesh1]
problems:
  description:
    - One message per problem; the module fails with them joined by newlines when there is any.
  returned: always
  type: list
  elements: str
  sample:
    - "fastd_instances[0].bind[0]: UDP port 10000 on any is already used by socat (pid 1234), which holds 0.0.0.0:10000; fastd could not start"
interfaces:
  description:
    - The names of the host's network interfaces (C(/sys/class/net)), sorted, so that a play can check
      other things against them without reading the host again.
  returned: always
  type: list
  elements: str
  sample: [bat0, br-client, eth0, lo]
ports:
  description:
    - For each checked instance, one entry per bind address with what holds its port now.
  returned: always
  type: dict
  sample:
    mesh0:
      - address: any
        port: 10000
        holder: {pid: 812, comm: fastd, instance: mesh0}
    mesh1:
      - address: 192.0.2.10
        port: 10001
        holder: null
  contains:
    address:
      description: The bind address as given.
      type: str
    port:
      description: The UDP port.
      type: int
    holder:
      description:
        - The process holding the port on an overlapping address now, or V(null) when the port is free.
        - A process that keeps the instance from starting is shown before the instance's own.
      type: dict
      contains:
        pid:
          description: Its process ID; V(null) when no process holds the socket (a kernel socket,
            or a process this check may not look at).
          type: int
        comm:
          description: Its command name (C(/proc/PID/comm)).
          type: str
        instance:
          description: The instance of O(instances) whose C(MainPID) it is, or V(null).
          type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.freifunk.gateway.plugins.module_utils import preflight


def main_pids(module, instances):
    """{name: MainPID of its unit (0: not running)} for every named item."""
    systemctl = module.get_bin_path("systemctl")
    pids = {}
    for inst in instances:
        name = inst.get("name") if isinstance(inst, dict) else None
        if not isinstance(name, str) or not name or name in pids:
            continue
        pids[name] = 0
        unit = inst.get("unit")
        if not isinstance(unit, str) or not unit:
            unit = preflight.UNIT % name
        if systemctl:
            rc, out, _err = module.run_command([systemctl, "show", "-P", "MainPID", unit])
            if rc == 0:
                pids[name] = preflight.parse_main_pid(out)
    return pids


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instances=dict(type="list", elements="dict", required=True),
            var=dict(type="str", default="fastd_instances"),
            allow_missing_addresses=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    instances = module.params["instances"]
    report = preflight.check_instances(instances, main_pids(module, instances), var=module.params["var"],
                                       allow_missing_addresses=module.params["allow_missing_addresses"])
    for warning in report["warnings"]:
        module.warn(warning)
    result = dict(changed=False, checked=report["checked"], problems=report["problems"], ports=report["ports"],
                  interfaces=sorted(os.listdir(preflight.SYS_CLASS_NET)))
    if report["problems"]:
        module.fail_json(msg="\n".join(report["problems"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
