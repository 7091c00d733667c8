# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does the running kernel have a module: loaded, built in, loadable, absent."""

from __future__ import annotations

import gzip
import os
import re

L2TP_MODULES = ("l2tp_core", "l2tp_netlink", "l2tp_eth")
STATES = ("loaded", "builtin", "loadable", "absent")
# What a module name can be (the .ko file name without its suffix); anything
# else ("", ".", "..", "net/l2tp") names no module, and must not be looked up
# as a path under /sys/module.
_NAME = re.compile(r"[A-Za-z0-9_-]+")
# The Kconfig symbol behind a module, for kernels that have the module built
# in but neither a /sys/module entry nor /lib/modules to say so (containers,
# some VPS kernels): then the kernel's own config tells.
KCONFIG = {
    "l2tp_core": "CONFIG_L2TP",
    "l2tp_netlink": "CONFIG_L2TP",
    "l2tp_eth": "CONFIG_L2TP_ETH",
    "l2tp_ip": "CONFIG_L2TP_IP",
    "l2tp_ip6": "CONFIG_L2TP_IP",
    "batman_adv": "CONFIG_BATMAN_ADV",
    "tun": "CONFIG_TUN",
    "bridge": "CONFIG_BRIDGE",
}


def _canonical(name):
    return name.replace("-", "_")


def _listed(path, name):
    """Is module ``name`` listed in modules.builtin / modules.dep at ``path``?"""
    if not os.path.exists(path):
        return False
    pattern = re.compile(r"(?:^|/)%s\.ko(?:\.[a-z]+)?:?(?:\s|$)" % re.escape(_canonical(name)))
    with open(path) as f:
        for line in f:
            if pattern.search(_canonical(line.split(" ", 1)[0]) + " "):
                return True
    return False


def _builtin_by_config(name, release, root):
    """True if the kernel's config says the module's symbol is built in (=y)."""
    symbol = KCONFIG.get(_canonical(name))
    if not symbol:
        return False
    wanted = symbol + "=y"
    for path, opener in ((os.path.join(root, "proc/config.gz"), gzip.open),
                         (os.path.join(root, "boot", "config-" + release), open)):
        if os.path.exists(path):
            with opener(path, "rt") as f:
                return any(line.strip() == wanted for line in f)
    return False


def module_state(name, release=None, root="/"):
    """One of STATES for kernel module ``name`` on kernel ``release``."""
    release = release or os.uname().release
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return "absent"
    if os.path.isdir(os.path.join(root, "sys/module", _canonical(name))):
        return "loaded"
    moddir = os.path.join(root, "lib/modules", release)
    if _listed(os.path.join(moddir, "modules.builtin"), name) or _builtin_by_config(name, release, root):
        return "builtin"
    if _listed(os.path.join(moddir, "modules.dep"), name):
        return "loadable"
    return "absent"


def modules_state(names, release=None, root="/"):
    return {name: module_state(name, release, root) for name in names}


def missing_message(missing, release, purpose):
    """What to tell an admin whose kernel lacks ``missing`` modules."""
    return ("the running kernel %s lacks %s, needed for %s: they are not loaded, its config "
            "does not build them in, and /lib/modules/%s has no such modules to load. Boot the "
            "distribution's full kernel (Debian: linux-image-amd64 or the one for your "
            "architecture); in a container or on a VPS whose kernel you cannot change, this "
            "feature cannot work, so leave it off there."
            % (release, ", ".join(missing), purpose, release))
