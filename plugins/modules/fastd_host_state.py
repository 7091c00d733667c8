#!/usr/bin/python
# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fastd_host_state
short_description: Read and keep the fastd role's bookkeeping on a gateway in one call per step
version_added: 0.1.0
author: freifunk.gateway maintainers (@freifunk-gateway)
description:
  - The steps of the fastd role's run that read the host or keep its own bookkeeping, each one
    call for all instances, so that a run that changes nothing stays cheap.
  - O(step=package) reads the state and version of the fastd package in dpkg's database and the
    version the installed C(fastd) reports.
  - O(step=begin) reports the instances an earlier run left unfinished (their marker file exists;
    the run was stopped between changing the instance's files and running it with them) and
    makes the missing markers (empty, mode 0600) for this run. In check mode it only reports.
    It also reads, before the run changes anything, what O(step=units) reads, the peer group
    folders of each instance (C(groups/*) in its C(config_dir)), the instance folders in
    O(config_root) that O(names) does not list, and the instances of O(timer_template) that have a unit file.
  - O(step=units) reads each instance's unit with C(systemctl is-active) and C(systemctl is-enabled).
  - O(step=finish) removes the backups of C(fastd.conf) (C(fastd.conf.*~) in each C(config_dir))
    and the markers, once every instance runs with this run's files. In check mode it does nothing.
  - The markers and backups are the role's own bookkeeping; making and removing them is never
    reported as a change.
extends_documentation_fragment:
  - freifunk.gateway.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  step:
    description: What to do; see the description.
    type: str
    required: true
    choices: [package, begin, units, finish]
  package:
    description: The fastd package's name (O(step=package)).
    type: str
    default: fastd
  instances:
    description:
      - The instances (the role's normalized C(fastd_instances)); each item needs C(name), and
        C(pending_file), C(unit) and C(config_dir) for O(step=begin), C(unit) for O(step=units),
        C(config_dir) and C(pending_file) for O(step=finish). Other keys are ignored.
    type: list
    elements: dict
    default: []
  config_root:
    description:
      - The folder of the instance folders (O(step=begin)). A folder in it with a dot in its name
        (C(secrets.d)) is the role's own and never reported.
    type: path
    default: /etc/fastd
  names:
    description:
      - Every instance name C(fastd_instances) lists, present or absent (O(step=begin)); the other
        instance folders in O(config_root) are reported in RV(unnamed_folders).
    type: list
    elements: str
    default: []
  timer_template:
    description:
      - The unit file of a template timer, with nothing after the C(@) of its name (O(step=begin)), for
        example the peer source program's C(/etc/systemd/system/freifunk-fastd-peers@.timer); the
        instances that have a unit file of their own beside it (C(freifunk-fastd-peers@NAME.timer))
        are returned in RV(timers).
    type: path
"""

EXAMPLES = r"""
- name: Read the fastd package's state and the installed fastd's version
  freifunk.gateway.fastd_host_state:
    step: package
    package: fastd
  register: fastd_package_state

- name: Read the instances' units
  freifunk.gateway.fastd_host_state:
    step: units
    instances: "{{ __fastd_instances }}"
  register: fastd_units
"""

RETURN = r"""
package_state:
  description: dpkg's C(db:Status-Status) of O(package) (V(installed), V(config-files), ...), or V(not-installed).
  returned: step is package
  type: str
  sample: installed
package_version:
  description: dpkg's version of O(package) when it is installed, else empty.
  returned: step is package
  type: str
  sample: 22-4
version:
  description: The version the installed C(fastd --version) reports, without the V(v); empty when there is no fastd.
  returned: step is package
  type: str
  sample: "22"
pending:
  description: The names of the instances whose marker an earlier run left.
  returned: step is begin
  type: list
  elements: str
units:
  description: Per instance name, its unit's C(active) and C(enabled) states as systemctl prints them.
  returned: step is units or begin
  type: dict
  sample: {"mesh": {"active": "active", "enabled": "enabled"}}
running:
  description: The names of the instances whose unit is active.
  returned: step is units or begin
  type: list
  elements: str
settled:
  description: The names of the instances whose unit is active and enabled (nothing to start).
  returned: step is units or begin
  type: list
  elements: str
group_folders:
  description: The peer group folders on the host (C(CONFIG_DIR/groups/NAME)), sorted.
  returned: step is begin
  type: list
  elements: str
  sample: [/etc/fastd/mesh0/groups/backbone]
unnamed_folders:
  description: The instance folders in O(config_root) that O(names) does not list, sorted.
  returned: step is begin
  type: list
  elements: str
  sample: [/etc/fastd/handmade]
timers:
  description: The instance names of O(timer_template) that have a unit file, sorted; empty without O(timer_template).
  returned: step is begin
  type: list
  elements: str
  sample: [mesh0]
removed:
  description: The backups and markers removed.
  returned: step is finish
  type: list
  elements: str
"""

import glob
import os
import re

from ansible.module_utils.basic import AnsibleModule

VERSION = re.compile(r"\bv(\d+(?:\.\d+)*)")
NEEDS = {"begin": ("name", "pending_file", "unit", "config_dir"), "units": ("name", "unit"),
         "finish": ("name", "config_dir", "pending_file")}


def package(module, result):
    dpkg_query = module.get_bin_path("dpkg-query")
    state = version = ""
    if dpkg_query:
        rc, out, _err = module.run_command([dpkg_query, "--show", "--showformat=${db:Status-Status} ${Version}",
                                            "--", module.params["package"]])
        if rc == 0:
            state, _sep, version = out.strip().partition(" ")
    result["package_state"] = state or "not-installed"
    result["package_version"] = version if state == "installed" else ""
    fastd = module.get_bin_path("fastd")
    version = ""
    if fastd:
        rc, out, _err = module.run_command([fastd, "--version"])
        found = VERSION.search(out) if rc == 0 else None
        version = found.group(1) if found else ""
    result["version"] = version


def folders(path):
    """The names of the folders in PATH (not following a link to one), sorted; none when PATH is no folder."""
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def timer_instances(template):
    """The NAMEs of the unit files PREFIX@NAME.SUFFIX beside TEMPLATE (PREFIX@.SUFFIX), sorted."""
    if not template:
        return []
    folder, unit = os.path.split(template)
    prefix, at, suffix = unit.partition("@")
    if not at:
        return []
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n[len(prefix) + 1:len(n) - len(suffix)] for n in names
                  if n.startswith(prefix + "@") and n.endswith(suffix) and len(n) > len(unit))


def begin(module, instances, result):
    result["pending"] = [i["name"] for i in instances if os.path.lexists(i["pending_file"])]
    units(module, instances, result)
    result["group_folders"] = sorted(os.path.join(i["config_dir"], "groups", name) for i in instances
                                     for name in folders(os.path.join(i["config_dir"], "groups")))
    root, named = module.params["config_root"], set(module.params["names"])
    result["unnamed_folders"] = [os.path.join(root, name) for name in folders(root)
                                 if "." not in name and name not in named]
    result["timers"] = timer_instances(module.params["timer_template"])
    if module.check_mode:
        return
    for item in instances:
        if item["name"] not in result["pending"]:
            fd = os.open(item["pending_file"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)


def units(module, instances, result):
    systemctl = module.get_bin_path("systemctl", required=True)
    result["units"] = {}
    for item in instances:
        states = {}
        for verb, key in (("is-active", "active"), ("is-enabled", "enabled")):
            _rc, out, _err = module.run_command([systemctl, verb, "--", item["unit"]])
            states[key] = out.strip().splitlines()[0] if out.strip() else "unknown"
        result["units"][item["name"]] = states
    result["running"] = [n for n, s in result["units"].items() if s["active"] == "active"]
    result["settled"] = [n for n, s in result["units"].items() if s == {"active": "active", "enabled": "enabled"}]


def finish(module, instances, result):
    result["removed"] = []
    if module.check_mode:
        return
    for item in instances:
        backups = sorted(glob.glob(os.path.join(glob.escape(item["config_dir"]), "fastd.conf.*~")))
        for path in backups + [item["pending_file"]]:
            try:
                os.remove(path)
            except FileNotFoundError:
                continue
            result["removed"].append(path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            step=dict(type="str", required=True, choices=["package", "begin", "units", "finish"]),
            package=dict(type="str", default="fastd"),
            instances=dict(type="list", elements="dict", default=[]),
            config_root=dict(type="path", default="/etc/fastd"),
            names=dict(type="list", elements="str", default=[]),
            timer_template=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    step = module.params["step"]
    instances = module.params["instances"]
    result = dict(changed=False)
    if step == "package":
        package(module, result)
        module.exit_json(**result)
    for index, item in enumerate(instances):
        lacking = [k for k in NEEDS[step] if not item.get(k)]
        if lacking:
            module.fail_json(msg="instances[%d] lacks %s, which step=%s needs" % (index, ", ".join(lacking), step))
    try:
        {"begin": begin, "units": units, "finish": finish}[step](module, instances, result)
    except OSError as exc:
        module.fail_json(msg="step=%s: %s" % (step, exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
