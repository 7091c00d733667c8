"""fastd_host_state: the package step against this machine's real dpkg and
fastd, the marker and backup steps on real files, and the units step against
a systemctl stand-in (this test host's systemd is not PID 1; the Molecule
scenarios run the step against real units)."""

import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.freifunk.gateway.plugins.modules import fastd_host_state

HAVE_FASTD = shutil.which("fastd") is not None and shutil.which("dpkg-query") is not None


def instances(tmp_path, *names):
    items = []
    for name in names:
        config_dir = tmp_path / "etc" / name
        config_dir.mkdir(parents=True, exist_ok=True)
        items.append({"name": name, "unit": "fastd@%s.service" % name, "config_dir": str(config_dir),
                      "pending_file": str(tmp_path / ("%s.pending" % name)), "port": 10000})
    return items


@pytest.mark.skipif(not HAVE_FASTD, reason="needs dpkg-query and fastd on this machine")
def test_package_reads_dpkg_and_the_fastd_binary(run_module):
    result, _out = run_module(fastd_host_state, {"step": "package", "package": "fastd"})
    dpkg = subprocess.run(["dpkg-query", "--show", "--showformat=${db:Status-Status} ${Version}", "fastd"],
                          capture_output=True, text=True, check=False).stdout.split()
    reported = subprocess.run(["fastd", "--version"], capture_output=True, text=True, check=True).stdout
    assert not result["changed"]
    assert result["package_state"] == dpkg[0]
    assert result["package_version"] == (dpkg[1] if dpkg[0] == "installed" else "")
    assert reported.split()[-1] == "v" + result["version"]


def test_package_not_known_to_dpkg_is_not_installed(run_module):
    result, _out = run_module(fastd_host_state, {"step": "package", "package": "freifunk-gateway-no-such-package"})
    assert result["package_state"] == "not-installed" and result["package_version"] == ""


def test_package_without_fastd_binary_has_no_version(run_module, monkeypatch):
    monkeypatch.setattr(fastd_host_state.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None: None if name == "fastd" else shutil.which(name))
    result, _out = run_module(fastd_host_state, {"step": "package"})
    assert result["version"] == ""


@pytest.mark.parametrize("check_mode", [False, True])
def test_begin_reports_left_markers_and_makes_the_missing_ones(run_module, tmp_path, monkeypatch, check_mode):
    fake_systemctl(tmp_path, monkeypatch, {})
    items = instances(tmp_path, "a", "b", "c")
    open(items[1]["pending_file"], "w").close()
    result, _out = run_module(fastd_host_state, {"step": "begin", "instances": items}, check_mode=check_mode)
    assert result["pending"] == ["b"] and not result["changed"]
    made = [os.path.exists(i["pending_file"]) for i in items]
    assert made == ([True, True, True] if not check_mode else [False, True, False])
    if not check_mode:
        assert stat.S_IMODE(os.stat(items[0]["pending_file"]).st_mode) == 0o600


def test_begin_again_finds_every_marker_of_an_unfinished_run(run_module, tmp_path, monkeypatch):
    fake_systemctl(tmp_path, monkeypatch, {})
    items = instances(tmp_path, "a", "b")
    run_module(fastd_host_state, {"step": "begin", "instances": items})
    result, _out = run_module(fastd_host_state, {"step": "begin", "instances": items})
    assert result["pending"] == ["a", "b"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_finish_removes_backups_and_markers_only(run_module, tmp_path, check_mode):
    items = instances(tmp_path, "a", "b")
    for item in items:
        open(item["pending_file"], "w").close()
    keep = ["fastd.conf", "fastd.conf.bak", "secret.key"]
    backups = ["fastd.conf.1234.2026-11-26@10:00:00~"]
    for name in keep + backups:
        open(os.path.join(items[0]["config_dir"], name), "w").close()
    result, _out = run_module(fastd_host_state, {"step": "finish", "instances": items}, check_mode=check_mode)
    assert not result["changed"]
    left = sorted(os.listdir(items[0]["config_dir"]))
    if check_mode:
        assert result["removed"] == [] and left == sorted(keep + backups)
        assert all(os.path.exists(i["pending_file"]) for i in items)
    else:
        assert result["removed"] == [os.path.join(items[0]["config_dir"], backups[0]),
                                     items[0]["pending_file"], items[1]["pending_file"]]
        assert left == sorted(keep)
        assert not any(os.path.exists(i["pending_file"]) for i in items)


def test_finish_takes_a_config_dir_with_glob_characters_literally(run_module, tmp_path):
    items = instances(tmp_path, "odd[1]", "odd1")
    open(os.path.join(items[1]["config_dir"], "fastd.conf.1~"), "w").close()
    result, _out = run_module(fastd_host_state, {"step": "finish", "instances": items[:1]})
    assert result["removed"] == []
    assert os.listdir(items[1]["config_dir"]) == ["fastd.conf.1~"]


def fake_systemctl(tmp_path, monkeypatch, states):
    """A systemctl that prints STATES[verb][unit], as systemctl does (and
    nothing on stdout for a unit it does not know), and logs its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    lines = ["#!/bin/sh", 'echo "$*" >> %s' % log, 'case "$1 $3" in']
    for verb, units in states.items():
        for unit, state in units.items():
            lines.append('"%s %s") echo %s; exit %d ;;' % (verb, unit, state, 0 if state in ("active", "enabled") else 3))
    lines += ["esac", "echo 'Failed to get unit file state' >&2", "exit 1"]
    script = bin_dir / "systemctl"
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    return log


def test_units_reports_states_running_and_settled(run_module, tmp_path, monkeypatch):
    items = instances(tmp_path, "up", "notenabled", "failed", "unknown")
    log = fake_systemctl(tmp_path, monkeypatch, {
        "is-active": {"fastd@up.service": "active", "fastd@notenabled.service": "active",
                      "fastd@failed.service": "failed"},
        "is-enabled": {"fastd@up.service": "enabled", "fastd@notenabled.service": "disabled",
                       "fastd@failed.service": "enabled"},
    })
    result, _out = run_module(fastd_host_state, {"step": "units", "instances": items}, check_mode=True)
    assert result["units"] == {
        "up": {"active": "active", "enabled": "enabled"},
        "notenabled": {"active": "active", "enabled": "disabled"},
        "failed": {"active": "failed", "enabled": "enabled"},
        "unknown": {"active": "unknown", "enabled": "unknown"},
    }
    assert result["running"] == ["up", "notenabled"] and result["settled"] == ["up"]
    assert log.read_text().splitlines()[:2] == ["is-active -- fastd@up.service", "is-enabled -- fastd@up.service"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_begin_reads_the_units_before_the_run_as_the_units_step_does(run_module, tmp_path, monkeypatch, check_mode):
    items = instances(tmp_path, "up", "down")
    fake_systemctl(tmp_path, monkeypatch, {"is-active": {"fastd@up.service": "active"},
                                           "is-enabled": {"fastd@up.service": "enabled"}})
    begun, _out = run_module(fastd_host_state, {"step": "begin", "instances": items}, check_mode=check_mode)
    read, _out = run_module(fastd_host_state, {"step": "units", "instances": items})
    assert {k: begun[k] for k in ("units", "running", "settled")} == {k: read[k] for k in ("units", "running", "settled")}
    assert begun["running"] == ["up"] and begun["units"]["down"] == {"active": "unknown", "enabled": "unknown"}


def test_begin_reads_the_group_folders_and_the_folders_no_instance_names(run_module, tmp_path, monkeypatch):
    fake_systemctl(tmp_path, monkeypatch, {})
    items = instances(tmp_path, "mesh0", "mesh1")
    root = tmp_path / "etc"
    for folder in ("mesh0/groups/backbone", "mesh0/groups/old", "mesh0/peers", "handmade", "old", "secrets.d",
                   "mesh1/groups"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "mesh0" / "groups" / "file").write_text("")
    (root / "mesh0" / "groups" / "link").symlink_to(root / "mesh0" / "peers")
    (root / "linked").symlink_to(root / "handmade")
    (root / "fastd.nft").write_text("")
    units = tmp_path / "system"
    units.mkdir()
    for unit in ("freifunk-fastd-peers@mesh1.timer", "freifunk-fastd-peers@.timer", "freifunk-fastd-peers@mesh1.service",
                 "freifunk-fastd-peers@a.b.timer", "other@mesh1.timer", "freifunk-fastd-peers-x@m.timer"):
        (units / unit).write_text("")
    result, _out = run_module(fastd_host_state, {"step": "begin", "instances": items, "config_root": str(root),
                                                 "names": ["mesh0", "mesh1", "old"],
                                                 "timer_template": str(units / "freifunk-fastd-peers@.timer")})
    assert result["group_folders"] == [str(root / "mesh0" / "groups" / "backbone"), str(root / "mesh0" / "groups" / "old")]
    assert result["unnamed_folders"] == [str(root / "handmade")]
    assert result["timers"] == ["a.b", "mesh1"]


def test_begin_on_a_host_without_the_folders_finds_none(run_module, tmp_path, monkeypatch):
    fake_systemctl(tmp_path, monkeypatch, {})
    items = [dict(i, config_dir=str(tmp_path / "none" / i["name"])) for i in instances(tmp_path, "a")]
    result, _out = run_module(fastd_host_state, {"step": "begin", "instances": items,
                                                 "config_root": str(tmp_path / "none")}, check_mode=True)
    assert result["group_folders"] == [] and result["unnamed_folders"] == [] and result["timers"] == []


@pytest.mark.parametrize("step, key", [("begin", "pending_file"), ("begin", "unit"), ("begin", "config_dir"),
                                       ("units", "unit"), ("finish", "config_dir")])
def test_an_instance_lacking_what_the_step_needs_fails_naming_it(run_module, tmp_path, step, key):
    items = instances(tmp_path, "a", "b")
    del items[1][key]
    result, _out = run_module(fastd_host_state, {"step": step, "instances": items})
    assert result["failed"] and result["msg"] == "instances[1] lacks %s, which step=%s needs" % (key, step)
    assert not os.path.exists(items[0]["pending_file"])
