"""kernel_modules on this host, with whatever its kernel has, and its load
path against a fake root tree (module_utils/kernel.py pointed at it, modprobe
recorded), since a test host has nothing it could load."""

import functools
import os
import types

import pytest
from ansible.module_utils import basic

from ansible_collections.freifunk.gateway.plugins.module_utils import kernel
from ansible_collections.freifunk.gateway.plugins.modules import kernel_modules

RELEASE = os.uname().release
L2TP = list(kernel.L2TP_MODULES)
SYS_MODULE = "/sys/module"


def host_may_have_l2tp():
    """Evidence read without kernel.py: a kernel can only have L2TP if a
    module is loaded (or built in with a /sys/module entry) or there is a
    /lib/modules tree to load it from or to list it as built in."""
    return (any(os.path.isdir(os.path.join(SYS_MODULE, n)) for n in L2TP)
            or os.path.isdir("/lib/modules/" + RELEASE))


def a_loaded_module_with_underscore():
    names = sorted(n for n in os.listdir(SYS_MODULE) if "_" in n) if os.path.isdir(SYS_MODULE) else []
    return names[0] if names else None


without_l2tp = pytest.mark.skipif(host_may_have_l2tp(), reason="this host may have L2TP")


# --- the real host -------------------------------------------------------------

@without_l2tp
def test_required_modules_missing_fail_naming_them_and_the_fix(run_module):
    result, _out = run_module(kernel_modules, {"names": L2TP, "load": True, "required": True,
                                               "purpose": "fastd L2TP offload (offload_l2tp)"})
    assert result["failed"] and not result["changed"]
    assert result["missing"] == L2TP and result["supported"] is False
    assert result["modules"] == dict.fromkeys(L2TP, "absent")
    assert result["loaded"] == [] and result["release"] == RELEASE
    assert ("the running kernel %s lacks l2tp_core, l2tp_netlink, l2tp_eth, needed for fastd "
            "L2TP offload (offload_l2tp)" % RELEASE) in result["msg"]
    assert "linux-image-amd64" in result["msg"]


@without_l2tp
@pytest.mark.parametrize("check_mode", [False, True])
def test_missing_modules_not_required_are_reported(run_module, check_mode):
    result, _out = run_module(kernel_modules, {"names": L2TP, "load": True}, check_mode=check_mode)
    assert not result.get("failed") and not result["changed"]
    assert result["supported"] is False and result["missing"] == L2TP
    assert result["modules"] == dict.fromkeys(L2TP, "absent") and result["loaded"] == []


@pytest.mark.skipif(a_loaded_module_with_underscore() is None, reason="nothing in /sys/module")
def test_a_loaded_module_under_either_spelling(run_module):
    name = a_loaded_module_with_underscore()
    dashed = name.replace("_", "-")
    result, _out = run_module(kernel_modules, {"names": [name, dashed], "load": True,
                                               "required": True})
    assert not result.get("failed") and not result["changed"]
    assert result["modules"] == {name: "loaded", dashed: "loaded"}
    assert result["supported"] is True and result["missing"] == [] and result["loaded"] == []


@pytest.mark.skipif(not os.path.exists("/dev/net/tun"), reason="this host has no /dev/net/tun")
def test_tun_is_found(run_module):
    result, _out = run_module(kernel_modules, {"names": ["tun"]})
    assert result["modules"]["tun"] in ("loaded", "builtin", "loadable")


def test_names_are_required(run_module):
    result, _out = run_module(kernel_modules, {})
    assert result["failed"] and "names" in result["msg"]


# --- loading, against a fake root ----------------------------------------------

@pytest.fixture
def fake_kernel(tmp_path, monkeypatch):
    """The running release with l2tp_core built in and l2tp_netlink, l2tp_eth,
    batman-adv loadable; modprobe is recorded, and unless its module is in
    ``failing`` it "loads" it by creating sys/module/NAME."""
    moddir = tmp_path / "lib" / "modules" / RELEASE
    moddir.mkdir(parents=True)
    (tmp_path / "sys" / "module").mkdir(parents=True)
    (moddir / "modules.builtin").write_text("kernel/net/l2tp/l2tp_core.ko\n")
    (moddir / "modules.dep").write_text(
        "kernel/net/l2tp/l2tp_netlink.ko.xz: kernel/net/l2tp/l2tp_core.ko.xz\n"
        "kernel/net/l2tp/l2tp_eth.ko.xz: kernel/net/l2tp/l2tp_netlink.ko.xz\n"
        "kernel/net/batman-adv/batman-adv.ko.xz:\n")
    monkeypatch.setattr(kernel, "modules_state",
                        functools.partial(kernel.modules_state, root=str(tmp_path)))
    fake = types.SimpleNamespace(calls=[], failing=set())

    def run_command(_self, args, **_kwargs):
        fake.calls.append(list(args))
        name = args[-1]
        if name in fake.failing:
            return 1, "", "modprobe: FATAL: Module %s not found in directory /lib/modules/%s\n" % (
                name, RELEASE)
        (tmp_path / "sys" / "module" / name.replace("-", "_")).mkdir()
        return 0, "", ""

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda _self, arg, required=False, opt_dirs=None: "/sbin/" + arg)
    return fake


def test_check_mode_loads_nothing(run_module, fake_kernel):
    result, _out = run_module(kernel_modules, {"names": L2TP, "load": True, "required": True},
                              check_mode=True)
    assert result["changed"] and result["loaded"] == ["l2tp_netlink", "l2tp_eth"]
    assert result["modules"] == {"l2tp_core": "builtin", "l2tp_netlink": "loadable",
                                 "l2tp_eth": "loadable"}
    assert fake_kernel.calls == []


def test_loads_what_is_loadable_then_changes_nothing(run_module, fake_kernel):
    result, _out = run_module(kernel_modules, {"names": L2TP, "load": True, "required": True})
    assert result["changed"] and result["loaded"] == ["l2tp_netlink", "l2tp_eth"]
    assert fake_kernel.calls == [["/sbin/modprobe", "l2tp_netlink"], ["/sbin/modprobe", "l2tp_eth"]]
    assert result["modules"] == {"l2tp_core": "builtin", "l2tp_netlink": "loaded",
                                 "l2tp_eth": "loaded"}
    assert result["supported"] is True and result["missing"] == []

    again, _out = run_module(kernel_modules, {"names": L2TP, "load": True, "required": True})
    assert not again["changed"] and again["loaded"] == []
    assert again["modules"] == result["modules"]
    assert len(fake_kernel.calls) == 2


def test_without_load_only_reports(run_module, fake_kernel):
    result, _out = run_module(kernel_modules, {"names": L2TP})
    assert not result["changed"] and result["loaded"] == [] and result["supported"] is True
    assert result["modules"]["l2tp_eth"] == "loadable"
    assert fake_kernel.calls == []


def test_loads_under_the_name_given(run_module, fake_kernel):
    result, _out = run_module(kernel_modules, {"names": ["batman-adv"], "load": True})
    assert fake_kernel.calls == [["/sbin/modprobe", "batman-adv"]]
    assert result["modules"] == {"batman-adv": "loaded"} and result["loaded"] == ["batman-adv"]


def test_required_fails_before_loading_anything(run_module, fake_kernel):
    names = ["l2tp_eth", "l2tp_ip6"]
    result, _out = run_module(kernel_modules, {"names": names, "load": True, "required": True,
                                               "purpose": "L2TP over IPv6"})
    assert result["failed"] and not result["changed"]
    assert result["missing"] == ["l2tp_ip6"]
    assert "lacks l2tp_ip6, needed for L2TP over IPv6" in result["msg"]
    assert fake_kernel.calls == []


def test_modprobe_failure_names_the_module_and_the_error(run_module, fake_kernel):
    fake_kernel.failing.add("l2tp_eth")
    result, _out = run_module(kernel_modules, {"names": L2TP, "load": True})
    assert result["failed"]
    assert result["msg"] == ("modprobe l2tp_eth failed: modprobe: FATAL: Module l2tp_eth not "
                             "found in directory /lib/modules/%s" % RELEASE)
    assert fake_kernel.calls[-1] == ["/sbin/modprobe", "l2tp_eth"]
    # what was loaded before the failure is reported; the failed module is not
    assert "l2tp_eth" not in result["loaded"]
    assert result["modules"]["l2tp_eth"] != "loaded"
