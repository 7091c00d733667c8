"""The tunneldigger role's broker launcher (files/freifunk-tunneldigger-broker.py),
against the real upstream broker code from the source archive.

The archive comes from the folder in TUNNELDIGGER_SOURCE_DIR, else from
../shared/vendor/tunneldigger next to the checkout; without it the tests that
need the broker are skipped and say why.
"""

import importlib.util
import os
import subprocess
import sys
import tarfile
import types

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LAUNCHER = os.path.join(REPO, "roles", "tunneldigger", "files", "freifunk-tunneldigger-broker.py")
ARCHIVE = "tunneldigger-v0.4.0.tar.gz"

# Three readable pipes a, b, c in one epoll batch. a's handler closes b's file
# and creates a 2-second timer, which gets b's descriptor number; the loop then
# hands b's stale event to the timer. Prints the order in which things ran.
STALE_EVENT = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from tunneldigger_broker import eventloop, network, timerfd
if sys.argv[2] == "launcher":
    import importlib.util
    spec = importlib.util.spec_from_file_location("launcher", sys.argv[3])
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    assert launcher.nonblocking_timers(timerfd)
loop = eventloop.EventLoop()
order = []

class Pipe(network.Pollable):
    def __init__(self, name):  # a pipe instead of the broker's UDP socket
        self.name, self.timers, self.event_loop = name, set(), loop
        self.r, self.w = os.pipe()
        loop.register(self, self.r, 1)

    def read(self, fd):
        os.read(fd, 1)
        order.append(self.name)
        if self.name == "a":
            loop.unregister(pipes["b"].r)
            os.close(pipes["b"].r)
            self.create_timer(lambda: order.append("timer"), timeout=2)
        if self.name == "c":
            print(" ".join(order), flush=True)
            os._exit(0)

pipes = {name: Pipe(name) for name in "abc"}
for pipe in pipes.values():
    os.write(pipe.w, b"x")
loop.start()
"""


@pytest.fixture(scope="module")
def broker_src(tmp_path_factory, tunneldigger_sources):
    """The upstream broker's src folder, unpacked from the archive, or skip."""
    archive = os.path.join(tunneldigger_sources, ARCHIVE)
    if not os.path.isfile(archive):
        pytest.fail("%s (the tunneldigger sources) has no %s" % (tunneldigger_sources, ARCHIVE))
    dest = tmp_path_factory.mktemp("tunneldigger")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/broker/src/" in m.name and m.isreg()]
        for member in members:
            member.name = member.name.split("/broker/src/", 1)[1]
            tar.extract(member, dest)  # noqa: S202 -- the pinned upstream archive, names checked above
    return str(dest)


def run_stale_event(broker_src, how):
    proc = subprocess.run([sys.executable, "-c", STALE_EVENT, broker_src, how, LAUNCHER],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_upstream_timers_block_the_loop_on_a_stale_event(broker_src):
    # The defect the launcher is for: c waits until the timer has fired. Should
    # this ever print "a c", upstream has fixed it and the launcher can go.
    assert run_stale_event(broker_src, "upstream") == ["a", "timer", "c"]


def test_with_the_launcher_the_loop_goes_on_at_once(broker_src):
    assert run_stale_event(broker_src, "launcher") == ["a", "c"]


def test_the_launcher_runs_the_brokers_own_main(broker_src):
    # No configuration file: the broker's main.py refuses with its own words
    # (as root: the missing argument; otherwise: root is needed).
    env = dict(os.environ, PYTHONPATH=broker_src)
    proc = subprocess.run([sys.executable, LAUNCHER], capture_output=True, text=True, timeout=60, check=False,
                          env=env)
    assert proc.returncode == 1, proc
    assert proc.stdout.strip() in ("ERROR: First argument must be a configuration file path!",
                                   "ERROR: The tunneldigger broker must be run as root."), proc
    assert "timers stay" not in proc.stderr


def load_launcher():
    spec = importlib.util.spec_from_file_location("freifunk_tunneldigger_broker", LAUNCHER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nonblocking_timers_adds_the_flag_once():
    launcher = load_launcher()
    calls = []
    fake = types.SimpleNamespace(NONBLOCK=0o4000, create=lambda clock, flags=0: calls.append((clock, flags)) or 7)
    assert launcher.nonblocking_timers(fake) is True
    assert launcher.nonblocking_timers(fake) is True  # a second call wraps nothing more
    assert fake.create(1) == 7 and fake.create(1, 0o2000000) == 7
    assert calls == [(1, 0o4000), (1, 0o2004000)]


def test_a_timerfd_module_without_create_or_nonblock_is_left_alone():
    launcher = load_launcher()
    assert launcher.nonblocking_timers(types.SimpleNamespace(create=lambda clock, flags=0: 3)) is False
    assert launcher.nonblocking_timers(types.SimpleNamespace(NONBLOCK=0o4000)) is False
