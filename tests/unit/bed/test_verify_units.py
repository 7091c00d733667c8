"""tests/bed/verify_units.py, the Molecule check that runs systemd-analyze
verify on the collection's units: which files it takes for the collection's,
the unit each stands for, and which of systemd-analyze's lines it holds
against them. The verifying itself runs on real systemd in the scenarios."""

import importlib.util
import os

import pytest

HERE = os.path.dirname(__file__)
SPEC = importlib.util.spec_from_file_location(
    "verify_units", os.path.join(HERE, "..", "..", "bed", "verify_units.py"))
verify_units = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(verify_units)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


@pytest.mark.parametrize("rel, unit", [
    ("tunneldigger@.service", "tunneldigger@.service"),
    ("freifunk-fastd-peers@ffgw.timer", "freifunk-fastd-peers@ffgw.timer"),
    ("fastd@.service.d/hardening.conf", "fastd@.service"),
    ("tunneldigger@td.service.d/limits.conf", "tunneldigger@td.service"),
    ("fastd@.service.d/notes.txt", None),
    ("multi-user.target.wants/x.service", None),
    ("README", None),
])
def test_unit_of(rel, unit):
    assert verify_units.unit_of("/etc/systemd/system", os.path.join("/etc/systemd/system", rel)) == unit


def test_owned_units_takes_marked_files_only(tmp_path):
    root = str(tmp_path)
    write(os.path.join(root, "tunneldigger@.service"), "# Ansible managed\n[Unit]\n")
    write(os.path.join(root, "fastd@.service.d", "hardening.conf"), "# Ansible managed\n[Service]\n")
    write(os.path.join(root, "freifunk-fastd-peers@.service"), "# Managed by Ansible (role ...)\n[Unit]\n")
    write(os.path.join(root, "fastd@.service"), "# Debian's unit, shipped by freifunk.gateway\n[Unit]\n")
    write(os.path.join(root, "ssh.service"), "[Unit]\nDescription=not ours\n")
    write(os.path.join(root, "late.service"), "[Unit]\n" * 5 + "# Ansible managed\n")
    os.makedirs(os.path.join(root, "multi-user.target.wants"))
    os.symlink(os.path.join(root, "tunneldigger@.service"),
               os.path.join(root, "multi-user.target.wants", "tunneldigger@td.service"))
    os.symlink(os.path.join(root, "tunneldigger@.service"), os.path.join(root, "alias.service"))
    owned = verify_units.owned_units([root, root])  # a root seen twice (/lib, /usr/lib) counts once
    assert set(owned) == {"tunneldigger@.service", "fastd@.service", "freifunk-fastd-peers@.service"}
    assert sorted(owned["fastd@.service"]) == sorted([
        os.path.join(root, "fastd@.service.d", "hardening.conf"), os.path.join(root, "fastd@.service")])


def test_templates_are_verified_through_their_instances_or_a_placeholder():
    known = {"fastd@ffgw.service", "fastd@ffgw-l2tp.service", "fastd@.service", "tunneldigger@td.timer", "ssh.service"}
    units = {"fastd@.service": [], "tunneldigger@.service": [], "nftables-table.service": []}
    assert verify_units.to_verify(units, known) == [
        "fastd@ffgw-l2tp.service", "fastd@ffgw.service", "nftables-table.service", "tunneldigger@verify.service"]


def test_only_lines_about_our_units_count():
    units = {"fastd@.service": ["/etc/systemd/system/fastd@.service.d/hardening.conf"],
             "metrics.timer": ["/etc/systemd/system/metrics.timer"]}
    names = ["fastd@ffgw.service", "metrics.timer"]
    output = "\n".join([
        "/etc/systemd/system/fastd@.service.d/hardening.conf:7: Unknown key name 'Foo' in section 'Service', ignoring.",
        "fastd@ffgw.service: Command /usr/bin/fastd is not executable: No such file or directory",
        "/lib/systemd/system/plymouth-start.service:15: Unit uses KillMode=none.",
        "metrics.timer: Refusing to start, unit metrics.service to trigger not loaded.",
    ])
    assert verify_units.about_ours(output, units, names) == [output.splitlines()[i] for i in (0, 1, 3)]


def test_an_instance_named_by_a_drop_in_needs_no_placeholder():
    units = {"tunneldigger@.service": [], "tunneldigger@td1364.service": []}
    assert verify_units.to_verify(units, set()) == ["tunneldigger@td1364.service"]


def test_rendered_scripts_are_marked_shell_files(tmp_path):
    hooks = tmp_path / "td" / "hooks"
    write(str(hooks / "session.up"), "#!/bin/sh\n# session.up hook. Ansible managed\nexec x \"$@\"\n")
    write(str(hooks / "session.down"), "#!/bin/bash\n# Ansible managed\n")
    write(str(hooks / "notes"), "# Ansible managed\nnot a script\n")
    write(str(hooks / "admin.sh"), "#!/bin/sh\necho the admin's own\n")
    write(str(tmp_path / "td" / "broker.py"), "#!/usr/bin/python3\n# Ansible managed\n")
    assert verify_units.rendered_scripts([str(tmp_path), str(tmp_path / "absent")]) == [
        str(hooks / "session.down"), str(hooks / "session.up")]
