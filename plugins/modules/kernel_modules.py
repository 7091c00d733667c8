#!/usr/bin/python
# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_modules
short_description: Report, and optionally load, the kernel modules a gateway feature needs
version_added: 0.1.0
author: freifunk.gateway maintainers (@freifunk-gateway)
description:
  - Tells for each kernel module whether the running kernel has it C(loaded), C(builtin),
    C(loadable) (listed in C(modules.dep)) or C(absent).
  - With O(load=true), loads the loadable ones with C(modprobe).
  - With O(required=true), fails with a message that names what is missing and how to fix it
    when any module is absent, before anything else on the host changes.
  - Used by the fastd role to refuse L2TP offload on a kernel without L2TP, and by the l2tp and
    batman_adv roles.
extends_documentation_fragment:
  - freifunk.gateway.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  names:
    description: Kernel modules to look at (C(-) and C(_) are the same).
    type: list
    elements: str
    required: true
  load:
    description: Load every module that is C(loadable) but not loaded yet.
    type: bool
    default: false
  required:
    description: Fail when any module is C(absent).
    type: bool
    default: false
  purpose:
    description: What the modules are for, used in the failure message.
    type: str
    default: this feature
"""

EXAMPLES = r"""
- name: Make sure the kernel can offload fastd's data path to L2TP
  freifunk.gateway.kernel_modules:
    names: [l2tp_core, l2tp_netlink, l2tp_eth]
    load: true
    required: true
    purpose: fastd L2TP offload (offload_l2tp)

- name: Only look
  freifunk.gateway.kernel_modules:
    names: [batman-adv]
  register: batman
"""

RETURN = r"""
modules:
  description: State of each module after the run (C(loaded), C(builtin), C(loadable) or C(absent)).
  returned: always
  type: dict
  sample: {"l2tp_core": "loaded", "l2tp_eth": "loadable"}
supported:
  description: Whether no module is C(absent).
  returned: always
  type: bool
missing:
  description: The modules that are C(absent).
  returned: always
  type: list
  elements: str
loaded:
  description: The modules this run loaded (or would load, in check mode).
  returned: always
  type: list
  elements: str
release:
  description: The running kernel release.
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.freifunk.gateway.plugins.module_utils import kernel


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", required=True),
            load=dict(type="bool", default=False),
            required=dict(type="bool", default=False),
            purpose=dict(type="str", default="this feature"),
        ),
        supports_check_mode=True,
    )
    names = module.params["names"]
    release = os.uname().release
    states = kernel.modules_state(names, release)
    missing = [n for n, s in states.items() if s == "absent"]
    result = dict(changed=False, modules=states, missing=missing, supported=not missing,
                  loaded=[], release=release)
    if missing and module.params["required"]:
        module.fail_json(msg=kernel.missing_message(missing, release, module.params["purpose"]), **result)

    if module.params["load"]:
        to_load = [n for n, s in states.items() if s == "loadable"]
        if to_load:
            result["changed"] = True
            if module.check_mode:
                result["loaded"] = to_load
            else:
                modprobe = module.get_bin_path("modprobe", required=True)
                for name in to_load:
                    rc, _out, err = module.run_command([modprobe, name])
                    if rc != 0:
                        result["modules"] = kernel.modules_state(names, release)
                        module.fail_json(msg="modprobe %s failed: %s" % (name, err.strip()), **result)
                    result["loaded"].append(name)
                result["modules"] = kernel.modules_state(names, release)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
