"""Start the tunneldigger broker with non-blocking timers.

Installed by the freifunk.gateway tunneldigger role and run by its unit
tunneldigger@.service with the broker's own Python, so that it imports the
broker the role installed:

    PYTHON freifunk-tunneldigger-broker.py /etc/tunneldigger/NAME/broker.cfg

It runs the broker's own ``tunneldigger_broker.main`` unchanged, after one
change to how the broker makes its timers: with ``TFD_NONBLOCK``. The
broker's event loop handles each epoll batch of events in a row; when a
handler closes a file (a finished hook's pipes, a timer, a tunnel) and a
later handler in the same batch creates a timer, the timer may get the same
descriptor number, and the batch's stale event for the closed file is then
handed to it. Upstream's timers (v0.4.0) block on read, so the whole broker
waits until that timer fires, seconds or minutes, and answers no node
meanwhile; the more sessions change at once (a restart with hundreds of
nodes), the likelier. A non-blocking timer read fails with EAGAIN instead,
which the broker's timer handler already treats as "not yet".
"""

import runpy
import sys

MARK = "freifunk_gateway_nonblocking"


def nonblocking_timers(timerfd):
    """Make ``timerfd.create`` add ``timerfd.NONBLOCK`` to the flags of every
    timer. True if the module now does (also when it already did); False
    when it has no ``create`` or ``NONBLOCK`` (a broker that changed it)."""
    create = getattr(timerfd, "create", None)
    flag = getattr(timerfd, "NONBLOCK", None)
    if not callable(create) or not isinstance(flag, int):
        return False
    if getattr(create, MARK, False):
        return True

    def create_nonblocking(clock_id, flags=0):
        return create(clock_id, flags | flag)

    setattr(create_nonblocking, MARK, True)
    timerfd.create = create_nonblocking
    return True


def main():
    from tunneldigger_broker import timerfd  # pylint: disable=import-outside-toplevel

    if not nonblocking_timers(timerfd):
        sys.stderr.write("freifunk-tunneldigger-broker: tunneldigger_broker.timerfd has no create() and "
                         "NONBLOCK; the broker's timers stay as it makes them\n")
    sys.argv[0] = "tunneldigger_broker.main"
    runpy.run_module("tunneldigger_broker.main", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
