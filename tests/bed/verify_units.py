"""Run systemd-analyze verify on every systemd unit the collection wrote, and
list the shell scripts it rendered from templates.

Runs on a test gateway after a converge (molecule/shared/written_files.yml
copies it there). A unit file or drop-in is the collection's when one of its
first lines carries a marker: the "Ansible managed" header of the roles'
templates, "Managed by Ansible" of their static files, or the collection's
name (the fastd@.service of the package the fastd role builds). A drop-in
stands for the unit it changes. A template unit (name@.service) is verified
through its instances that systemd knows of, or through a placeholder
instance when it knows none.

The shell scripts are the files under SCRIPT_ROOTS with a sh shebang and the
marker; the playbook copies them to the controller for shellcheck.

Prints one JSON object (the units verified, what systemd-analyze said about
them, the scripts) and exits 1 when systemd-analyze failed or said anything
about one of the units, 0 otherwise. Written for the test gateways' Python 3, standard library
only.
"""

import itertools
import json
import os
import re
import subprocess
import sys

ROOTS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
MARKER = re.compile(r"Ansible managed|Managed by Ansible|freifunk\.gateway")
UNIT_TYPES = (".service", ".timer", ".socket", ".path", ".target", ".mount")
PLACEHOLDER = "verify"
SCRIPT_ROOTS = ("/etc/tunneldigger", "/etc/fastd")
SHEBANG = re.compile(r"^#! */bin/(ba|da)?sh\b")


def is_ours(path, head_lines=5):
    """Whether the file at path carries the collection's marker near its top."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = list(itertools.islice(handle, head_lines))
    except OSError:
        return False
    return any(MARKER.search(line) for line in head)


def unit_of(root, path):
    """The unit a file under root defines or changes, or None if it is neither."""
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    if len(parts) == 1 and parts[0].endswith(UNIT_TYPES):
        return parts[0]
    if len(parts) == 2 and parts[0].endswith(tuple(t + ".d" for t in UNIT_TYPES)) and parts[1].endswith(".conf"):
        return parts[0][:-2]
    return None


def owned_units(roots=ROOTS):
    """{unit: [files]} of the collection's unit files and drop-ins under roots."""
    units = {}
    seen = set()
    for root in roots:
        if not os.path.isdir(root) or os.path.realpath(root) in seen:
            continue
        seen.add(os.path.realpath(root))
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if folder == root]  # unit files and NAME.d/ only
            for name in files:
                path = os.path.join(folder, name)
                if os.path.islink(path):
                    continue
                unit = unit_of(root, path)
                if unit and is_ours(path):
                    units.setdefault(unit, []).append(path)
    return units


def instances_of(template, known):
    """Names to verify a template unit (name@.type) by: its known instances, or a placeholder."""
    prefix, suffix = template.split("@", 1)
    found = sorted(u for u in known if u.startswith(prefix + "@") and u.endswith(suffix) and u != template)
    return found or [f"{prefix}@{PLACEHOLDER}{suffix}"]


def rendered_scripts(roots=SCRIPT_ROOTS):
    """The shell scripts under roots that carry the collection's marker, sorted."""
    found = []
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(folder, name)
                if os.path.islink(path) or not is_ours(path):
                    continue
                with open(path, encoding="utf-8", errors="replace") as handle:
                    if SHEBANG.match(handle.readline()):
                        found.append(path)
    return sorted(found)


def to_verify(units, known):
    """The unit names to give systemd-analyze verify for the owned units
    (instances named by the owned units themselves count as known)."""
    known = set(known) | set(units)
    names = set()
    for unit in units:
        if unit.endswith(tuple("@" + t for t in UNIT_TYPES)):
            names.update(instances_of(unit, known))
        else:
            names.add(unit)
    return sorted(names)


def about_ours(output, units, names):
    """The lines of systemd-analyze's output that speak of one of our units or files."""
    words = set(names) | set(units)
    for files in units.values():
        words.update(files)
    stems = {w.split("@", 1)[0] + "@" for w in words if "@" in w}
    return [line for line in output.splitlines()
            if any(w in line for w in words) or any(s in line for s in stems)]


def known_units():
    """Units systemd knows of, loaded or not (their instances among them)."""
    out = subprocess.run(["systemctl", "list-units", "--all", "--plain", "--no-legend", "--full"],
                         capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.split()}


def main():
    units = owned_units()
    if not units:
        print(json.dumps({"failed": True, "msg": "found no unit of the collection's under " + ", ".join(ROOTS)}))
        return 1
    names = to_verify(units, known_units())
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *names],
                          capture_output=True, text=True, check=False)
    complaints = about_ours(proc.stdout + proc.stderr, units, names)
    failed = proc.returncode != 0 or bool(complaints)
    print(json.dumps({"failed": failed, "verified": names, "files": units, "scripts": rendered_scripts(),
                      "rc": proc.returncode, "complaints": complaints,
                      "output": (proc.stdout + proc.stderr).splitlines()}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
