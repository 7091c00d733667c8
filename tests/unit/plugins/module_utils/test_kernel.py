"""Tests for plugins/module_utils/kernel.py against fake root trees: a
sys/module directory means loaded, a modules.builtin line built in, a
modules.dep line loadable."""

import os

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import kernel as k

RELEASE = "6.1.0-99-amd64"


def fake_root(tmp_path, loaded=(), builtin=(), dep=(), release=RELEASE):
    """A root tree with /sys/module/NAME for each of ``loaded`` and the lines
    ``builtin`` and ``dep`` in /lib/modules/RELEASE/modules.{builtin,dep}
    (files left out when None)."""
    (tmp_path / "sys" / "module").mkdir(parents=True, exist_ok=True)
    for name in loaded:
        (tmp_path / "sys" / "module" / name).mkdir()
    moddir = tmp_path / "lib" / "modules" / release
    moddir.mkdir(parents=True, exist_ok=True)
    for filename, lines in (("modules.builtin", builtin), ("modules.dep", dep)):
        if lines is not None:
            (moddir / filename).write_text("".join(line + "\n" for line in lines))
    return str(tmp_path)


def state(root, name):
    return k.module_state(name, RELEASE, root)


# A Debian-like kernel: L2TP core and tun built in, the rest as modules, bridge loaded.
DEBIAN = dict(
    loaded=["bridge"],
    builtin=["kernel/net/l2tp/l2tp_core.ko", "kernel/drivers/net/tun.ko"],
    dep=["kernel/net/l2tp/l2tp_eth.ko.xz: kernel/net/l2tp/l2tp_core.ko.xz",
         "kernel/net/l2tp/l2tp_netlink.ko.xz: kernel/net/l2tp/l2tp_core.ko.xz",
         "kernel/net/batman-adv/batman-adv.ko.xz: kernel/lib/libcrc32c.ko.xz",
         "kernel/net/bridge/bridge.ko.xz: kernel/net/802/stp.ko.xz kernel/net/llc/llc.ko.xz",
         "kernel/lib/libcrc32c.ko.xz:"],
)


@pytest.mark.parametrize("name, expected", [
    ("bridge", "loaded"),  # loaded wins over its modules.dep line
    ("l2tp_core", "builtin"),
    ("tun", "builtin"),
    ("l2tp_eth", "loadable"),
    ("l2tp_netlink", "loadable"),
    ("libcrc32c", "loadable"),  # a line without dependencies
    ("batman_adv", "loadable"),
    ("batman-adv", "loadable"),
    ("l2tp_ip6", "absent"),
    ("8021q", "absent"),
])
def test_states(tmp_path, name, expected):
    assert state(fake_root(tmp_path, **DEBIAN), name) == expected


@pytest.mark.parametrize("line", [
    "kernel/net/l2tp/l2tp_eth.ko:",
    "kernel/net/l2tp/l2tp_eth.ko.xz:",
    "kernel/net/l2tp/l2tp_eth.ko.gz:",
    "kernel/net/l2tp/l2tp_eth.ko.zst: kernel/net/l2tp/l2tp_core.ko.zst",
    "updates/dkms/l2tp_eth.ko:",
    "l2tp_eth.ko:",
])
def test_loadable_in_every_layout_and_compression(tmp_path, line):
    assert state(fake_root(tmp_path, dep=[line]), "l2tp_eth") == "loadable"


def test_last_line_without_newline(tmp_path):
    root = fake_root(tmp_path, builtin=None, dep=None)
    moddir = os.path.join(root, "lib", "modules", RELEASE)
    with open(os.path.join(moddir, "modules.builtin"), "w") as handle:
        handle.write("kernel/drivers/net/dummy.ko\nkernel/drivers/net/tun.ko")
    assert state(root, "tun") == "builtin"


@pytest.mark.parametrize("loaded, query", [
    ("batman_adv", "batman-adv"),
    ("batman_adv", "batman_adv"),
    ("l2tp_core", "l2tp-core"),
])
def test_dash_and_underscore_are_the_same_in_sys_module(tmp_path, loaded, query):
    assert state(fake_root(tmp_path, loaded=[loaded]), query) == "loaded"


def test_dash_and_underscore_are_the_same_in_modules_builtin(tmp_path):
    root = fake_root(tmp_path, builtin=["kernel/net/batman-adv/batman-adv.ko"])
    assert (state(root, "batman_adv"), state(root, "batman-adv")) == ("builtin", "builtin")


@pytest.mark.parametrize("name", ["l2tp", "l2tp_cor", "core", "eth", "tu", "tunnel", "batman",
                                  "adv", "net", "kernel", "ko", "xz"])
def test_no_match_on_part_of_a_name(tmp_path, name):
    """``l2tp`` is no module although l2tp_core.ko, l2tp_eth.ko and the
    directory net/l2tp are there; likewise any other prefix, suffix or path part."""
    root = fake_root(tmp_path, loaded=["l2tp_netlink", "tunnel4"], **{
        key: DEBIAN[key] for key in ("builtin", "dep")})
    assert state(root, name) == "absent"


@pytest.mark.parametrize("name", ["", ".", "..", "../module", "net/l2tp", "l2tp_core.ko", "tun\n",
                                  None])
def test_names_that_are_no_module_are_absent(tmp_path, name):
    """Before the fix, "" looked up sys/module itself and ".." the sys
    directory, both of which exist, and reported "loaded"."""
    root = fake_root(tmp_path, loaded=["tun", "module"], **{
        key: DEBIAN[key] for key in ("builtin", "dep")})
    assert state(root, name) == "absent"


def test_without_lib_modules_only_sys_module_counts(tmp_path):
    """Like a container or a kernel without module support: no /lib/modules."""
    (tmp_path / "sys" / "module" / "bridge").mkdir(parents=True)
    root = str(tmp_path)
    assert (state(root, "bridge"), state(root, "l2tp_core")) == ("loaded", "absent")


def test_empty_or_missing_module_lists(tmp_path):
    root = fake_root(tmp_path, builtin=[], dep=None)
    assert state(root, "tun") == "absent"


def test_only_the_given_release_counts(tmp_path):
    root = fake_root(tmp_path, builtin=["kernel/drivers/net/tun.ko"], release="5.10.0-30-amd64")
    assert state(root, "tun") == "absent"
    assert k.module_state("tun", "5.10.0-30-amd64", root) == "builtin"


def test_release_defaults_to_the_running_kernel(tmp_path):
    root = fake_root(tmp_path, dep=["kernel/net/l2tp/l2tp_eth.ko:"], release=os.uname().release)
    assert k.module_state("l2tp_eth", root=root) == "loadable"


def test_modules_state_keeps_the_names_as_given(tmp_path):
    root = fake_root(tmp_path, **DEBIAN)
    assert k.modules_state(["batman-adv", "l2tp_core", "bridge", "l2tp_ip"], RELEASE, root) == {
        "batman-adv": "loadable", "l2tp_core": "builtin", "bridge": "loaded", "l2tp_ip": "absent"}


def test_states_are_the_documented_ones():
    assert k.STATES == ("loaded", "builtin", "loadable", "absent")
    assert k.L2TP_MODULES == ("l2tp_core", "l2tp_netlink", "l2tp_eth")


def test_missing_message_says_what_is_missing_and_how_to_fix_it():
    msg = k.missing_message(["l2tp_netlink", "l2tp_eth"], RELEASE, "fastd L2TP offload")
    for fragment in ("the running kernel %s lacks l2tp_netlink, l2tp_eth, needed for "
                     "fastd L2TP offload" % RELEASE,
                     "/lib/modules/%s" % RELEASE, "config does not build them in", "linux-image-amd64",
                     "in a container or on a VPS"):
        assert fragment in msg, msg


@pytest.mark.parametrize("config, name, expected", [
    ("CONFIG_L2TP=y\nCONFIG_L2TP_ETH=y\n", "l2tp_eth", "builtin"),
    ("CONFIG_L2TP=y\n# CONFIG_L2TP_ETH is not set\n", "l2tp_eth", "absent"),
    ("CONFIG_L2TP=m\nCONFIG_L2TP_ETH=m\n", "l2tp_eth", "absent"),  # =m but no /lib/modules to load from
    ("CONFIG_BATMAN_ADV=y\n", "batman-adv", "builtin"),
    ("CONFIG_TUN=y\n", "some_unknown_module", "absent"),
])
def test_builtin_told_by_kernel_config(tmp_path, config, name, expected):
    import gzip
    (tmp_path / "proc").mkdir()
    with gzip.open(tmp_path / "proc" / "config.gz", "wt") as f:
        f.write(config)
    assert k.module_state(name, release="6.1.0-test", root=str(tmp_path)) == expected


def test_builtin_told_by_boot_config(tmp_path):
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "config-6.1.0-test").write_text("CONFIG_L2TP=y\n")
    assert k.module_state("l2tp_core", release="6.1.0-test", root=str(tmp_path)) == "builtin"
    assert k.module_state("l2tp_core", release="6.1.0-other", root=str(tmp_path)) == "absent"
