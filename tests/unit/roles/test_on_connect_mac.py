"""The on-connect script's --mac option (mesh.mac), run for real on a TAP
interface and a bridge inside a fresh user and network namespace (no root
needed, nothing of this machine's network is touched)."""

import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "roles", "on_connect", "files", "freifunk-on-connect")
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def in_netns(commands):
    """Run shell ``commands`` in a new user+network namespace with a bridge
    br0 and the TAP interfaces tap0 and tap1; return stdout (checked)."""
    unshare = ["unshare", "--user", "--map-root-user", "--net"]
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip")
    if subprocess.run(unshare + ["true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("user namespaces are not available here")
    setup = ("set -e; ip link add br0 type bridge; ip link set br0 up; "
             "ip tuntap add mode tap tap0; ip tuntap add mode tap tap1; ")
    proc = subprocess.run(unshare + ["sh", "-c", setup + commands], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def link(name):
    """A command printing the MAC address and the master of interface ``name``."""
    return "ip -o link show dev %s | sed -n 's/.* master \\([^ ]*\\) .*link.ether \\([^ ]*\\) .*/\\2 \\1/p'" % name


def test_derive_sets_a_stable_local_unicast_address_per_interface_before_attaching():
    out = in_netns(
        "s=%s; sh $s attach tap0 --backend bridge --bridge br0 --mac derive; "
        "sh $s attach tap1 --backend bridge --bridge br0 --mac derive; "
        "sh $s derived-mac tap0; sh $s derived-mac tap1; %s; %s; "
        # again: idempotent, the same address
        "sh $s attach tap0 --backend bridge --bridge br0 --mac derive; %s"
        % (SCRIPT, link("tap0"), link("tap1"), link("tap0"))).split("\n")
    derived0, derived1, have0, have1, again0 = out[:5]
    assert MAC.fullmatch(derived0) and MAC.fullmatch(derived1)
    assert derived0 != derived1
    assert have0 == derived0 + " br0" and have1 == derived1 + " br0" and again0 == have0
    first = int(derived0[:2], 16)
    assert first & 2 and not first & 1  # locally administered, unicast


def test_a_fixed_address_is_set_in_lower_case():
    out = in_netns("sh %s attach tap0 --backend bridge --bridge br0 --mac 02:AB:00:5E:10:01; %s"
                   % (SCRIPT, link("tap0")))
    assert out.strip() == "02:ab:00:5e:10:01 br0"


def test_the_derived_address_is_the_same_for_the_same_name_and_differs_by_name():
    def derived(name):
        return subprocess.run(["sh", SCRIPT, "derived-mac", name], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert derived("mesh-node-a") == derived("mesh-node-a") != derived("mesh-node-b")


@pytest.mark.parametrize("args, message", [
    (["attach", "tap0", "--backend", "bridge", "--bridge", "br0", "--mac", "01:00:5e:00:00:01"],
     "--mac must be 'derive' or a unicast MAC address"),
    (["attach", "tap0", "--backend", "bridge", "--bridge", "br0", "--mac", "00:00:00:00:00:00"],
     "--mac must be 'derive' or a unicast MAC address"),
    (["attach", "tap0", "--backend", "bridge", "--bridge", "br0", "--mac", "02:00:5e:10:00:01\n"],
     "--mac must be 'derive'"),
    (["attach", "tap0", "--backend", "bridge", "--bridge", "br0", "--mac", "random"], "got 'random'"),
    (["detach", "tap0", "--backend", "bridge", "--bridge", "br0", "--mac", "derive"], "--mac is for attach only"),
    (["tunneldigger", "session.down", "--instance", "td", "--mac", "derive", "--", "1", "1", "l2tp1-1", "1364",
      "10.0.0.2", "4000", "20000", "0200005e0001", "20000"], "--mac is for session.up only"),
    (["derived-mac", "a b"], "the interface must be"),
])
def test_bad_arguments_are_usage_errors(args, message):
    proc = subprocess.run(["sh", SCRIPT] + args, capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
