#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gateway_numbers
short_description: Count the nodes of a gateway's fastd instances and tunneldigger brokers
version_added: 0.1.0
description:
  - Reads the status socket of every fastd instance given in O(fastd) and the kernel's L2TP sessions of
    every tunneldigger broker given in O(tunneldigger), and returns their numbers; per instance the peers
    fastd knows, those connected, per method and offloaded; per broker its sessions and those in the mesh;
    and the gateway's totals.
  - The same numbers that the role freifunk.gateway.metrics writes for the Prometheus node exporter, and
    that the playbook C(freifunk.gateway.status) sums over the fleet.
  - An instance whose socket does not answer, or a broker that cannot be read, does not fail the module;
    it is reported with RV(fastd[].up=false) or RV(tunneldigger[].sessions=null) and its RV(fastd[].error).
author:
  - freifunk.gateway maintainers (@freifunk-gateway)
extends_documentation_fragment:
  - freifunk.gateway.attributes
  - freifunk.gateway.attributes.info_module
options:
  fastd:
    description:
      - The fastd instances to read, as the role freifunk.gateway.fastd has them (the filter
        P(freifunk.gateway.fastd_instances_normalized#filter) gives these keys; others are ignored).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The instance's name.
        type: str
        required: true
      status_socket:
        description: Its status socket; V(null) for C(/run/fastd/NAME.sock).
        type: path
      offload_l2tp:
        description: Whether the instance offloads C(null@l2tp) peers to the kernel (they count as offloaded).
        type: bool
        default: false
  tunneldigger:
    description:
      - The tunneldigger brokers to read, as the role freifunk.gateway.tunneldigger has them (the filter
        P(freifunk.gateway.tunneldigger_instances_normalized#filter) gives these keys; others are ignored).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The broker's name.
        type: str
        required: true
      tunnel_id_base:
        description: Its first tunnel id.
        type: int
        required: true
      max_tunnels:
        description: The number of tunnel ids it uses.
        type: int
        required: true
      mesh:
        description: Where its sessions go (C(backend), C(interface)); V(null) when nowhere.
        type: dict
  timeout:
    description: Seconds to wait for each status socket's answer.
    type: float
    default: 5
notes:
  - Reading the status sockets and session records needs root (C(become)).
seealso:
  - module: freifunk.gateway.fastd_status
  - module: freifunk.gateway.tunneldigger_status
"""

EXAMPLES = r"""
- name: Count the nodes of this gateway
  freifunk.gateway.gateway_numbers:
    fastd: "{{ fastd_instances | default([]) | freifunk.gateway.fastd_instances_normalized
               | selectattr('state', 'equalto', 'present') }}"
    tunneldigger: "{{ tunneldigger_instances | default([]) | freifunk.gateway.tunneldigger_instances_normalized
                      | selectattr('state', 'equalto', 'present') }}"
  register: __numbers

- name: Show how many nodes are connected
  ansible.builtin.debug:
    msg: "{{ __numbers.totals.nodes }} nodes"
"""

RETURN = r"""
fastd:
  description: One entry per instance, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    instance:
      description: The instance's name.
      type: str
      sample: mesh0
    up:
      description: Whether its status socket answered.
      type: bool
      sample: true
    error:
      description: Why it did not, or V(null).
      type: str
    peers:
      description: Peers fastd knows (configured, or connected through C(on verify)); V(null) when not up.
      type: int
      sample: 40
    connected:
      description: Connected peers; V(null) when not up.
      type: int
      sample: 37
    methods:
      description: Connected peers per method.
      type: dict
      sample: {"null@l2tp": 30, "salsa2012+umac": 7}
    offloaded:
      description: Peers connected with C(null@l2tp) on an instance with O(fastd[].offload_l2tp).
      type: int
      sample: 30
tunneldigger:
  description: One entry per broker, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    broker:
      description: The broker's name.
      type: str
      sample: td0
    up:
      description: Whether its unit is active; V(null) without systemctl.
      type: bool
    error:
      description: Why it could not be read, or V(null).
      type: str
    sessions:
      description: Its kernel sessions; V(null) when it could not be read.
      type: int
      sample: 12
    in_mesh:
      description: Sessions whose interface is in the mesh; V(null) without O(tunneldigger[].mesh).
      type: int
      sample: 12
    stale:
      description: Session records without a kernel session.
      type: int
      sample: 0
totals:
  description:
    - The gateway's sums. C(nodes) is fastd peers connected plus broker sessions; C(not_answering)
      counts instances and brokers that could not be read.
  returned: always
  type: dict
  sample: {"nodes": 49, "fastd_connected": 37, "fastd_peers": 40, "methods": {"null@l2tp": 30},
           "offloaded": 30, "sessions": 12, "in_mesh": 12, "not_answering": 0}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.freifunk.gateway.plugins.module_utils import gateway_numbers as gn


def main():
    module = AnsibleModule(
        argument_spec=dict(
            fastd=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                status_socket=dict(type="path"),
                offload_l2tp=dict(type="bool", default=False),
            )),
            tunneldigger=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                tunnel_id_base=dict(type="int", required=True),
                max_tunnels=dict(type="int", required=True),
                mesh=dict(type="dict"),
            )),
            timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    errors = gn.validate_instances(params["fastd"], params["tunneldigger"])
    if errors:
        module.fail_json(msg="; ".join(errors))
    ip = module.get_bin_path("ip", required=bool(params["tunneldigger"]))

    def run(what):
        return module.run_command([ip, "-j", "l2tp", "show", what])

    numbers = gn.read_host(params, timeout=params["timeout"], run=run)
    module.exit_json(changed=False, **numbers)


if __name__ == "__main__":
    main()
