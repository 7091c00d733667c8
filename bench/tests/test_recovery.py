"""The shares of a recovery after a restart: bench/recovery/run.py (containers)
and bench/dataplane/guest_swarm.py (the guest) must time them alike."""

import math

import pytest

# [seconds, connected, in the bridge / bat0], as both samplers record them.
SAMPLES = [[0.2, 0, 0], [1.0, 5, 2], [2.0, 7, 6], [3.0, 12, 11], [4.0, 13, 12], [5.0, 13, 13]]


def test_first_at_is_the_first_sample_that_reaches_the_count(recovery_run):
    assert recovery_run.first_at(SAMPLES, 1, 7) == 2.0
    assert recovery_run.first_at(SAMPLES, 2, 13) == 5.0
    assert recovery_run.first_at(SAMPLES, 1, 14) is None
    assert recovery_run.first_at([], 1, 1) is None


def replay(guest_swarm, samples, want):
    marks = guest_swarm.new_marks()
    for elapsed, connected, in_mesh in samples:
        if guest_swarm.mark(marks, {"connected": connected, "in_mesh": in_mesh}, want, elapsed):
            return marks, elapsed
    return marks, None


def test_guest_marks_each_share_once_rounding_up(guest_swarm):
    marks, done = replay(guest_swarm, SAMPLES, 13)
    # 50 % of 13 is 6.5: 7 are needed, so bat0's 6 at 2.0 s are not yet half.
    assert marks == {"connected": {"50": 2.0, "90": 3.0, "100": 4.0},
                     "in_mesh": {"50": 3.0, "90": 4.0, "100": 5.0}}
    assert done == 5.0


def test_guest_marks_stay_open_when_not_everyone_returns(guest_swarm):
    marks, done = replay(guest_swarm, SAMPLES[:5], 13)
    assert done is None
    assert marks["in_mesh"]["100"] is None
    assert marks["connected"]["100"] == 4.0


def test_a_later_drop_does_not_move_a_reached_mark(guest_swarm):
    marks, _done = replay(guest_swarm, [[1.0, 10, 0], [2.0, 3, 0], [3.0, 10, 0]], 10)
    assert marks["connected"] == {"50": 1.0, "90": 1.0, "100": 1.0}


@pytest.mark.parametrize("want", [1, 3, 13, 100, 103, 300, 313])
def test_guest_and_container_runs_agree_on_every_share(recovery_run, guest_swarm, want):
    samples = [[float(i), i, i] for i in range(want + 1)]
    marks, _done = replay(guest_swarm, samples, want)
    for share in recovery_run.SHARES:
        key = str(int(share * 100))
        expected = recovery_run.first_at(samples, 1, math.ceil(share * want))
        assert marks["connected"][key] == expected


TUNNELS = """Tunnel 100, encap UDP
  From 10.200.0.1 to 10.200.0.2
  Peer tunnel 1085
  UDP source / dest ports: 20000/46169
  UDP checksum: enabled
Tunnel 101, encap UDP
  From 10.200.0.1 to 10.200.0.2
  Peer tunnel 1085
  UDP source / dest ports: 20000/51234
  UDP checksum: enabled
Tunnel 102, encap UDP
  From 10.200.0.1 to 10.200.0.2
  Peer tunnel 1001
  UDP source / dest ports: 20000/50814
  UDP checksum: enabled
Tunnel 7, encap UDP
  From fd00:ffff:9::1 to fd00:ffff:9::10
  Peer tunnel 9
  UDP source / dest ports: 10000/10001
  UDP checksum: disabled
"""
SESSIONS = """Session 100 in tunnel 100
  Peer session 1085, tunnel 1085
  interface name: l2tp100-100
  offset 0, peer offset 0

Session 101 in tunnel 101
  Peer session 1086, tunnel 1085
  interface name: l2tp101-101
  offset 0, peer offset 0

Session 102 in tunnel 102
  Peer session 1001, tunnel 1001
  interface name: l2tp102-102
  offset 0, peer offset 0

Session 1 in tunnel 7
  Peer session 1, tunnel 9
  interface name: mesh0-0dffe5c12
  offset 0, peer offset 0
"""


def test_l2tp_tunnels_of_the_broker_port_only(guest_swarm):
    # Tunnels 100 and 101 are one client (tunnel id 1085), whose second
    # request came from a new UDP port.
    assert guest_swarm.l2tp_tunnels(TUNNELS, 20000) == {
        100: ("10.200.0.2", 1085), 101: ("10.200.0.2", 1085), 102: ("10.200.0.2", 1001)}
    assert guest_swarm.l2tp_tunnels(TUNNELS, 10000) == {7: ("fd00:ffff:9::10", 9)}
    assert guest_swarm.l2tp_tunnels("", 20000) == {}


def test_l2tp_sessions_by_interface(guest_swarm):
    assert guest_swarm.l2tp_sessions(SESSIONS) == {
        "l2tp100-100": 100, "l2tp101-101": 101, "l2tp102-102": 102, "mesh0-0dffe5c12": 7}


def test_td_served_counts_clients_not_their_duplicate_tunnels(guest_swarm):
    tunnels = guest_swarm.l2tp_tunnels(TUNNELS, 20000)
    sessions = guest_swarm.l2tp_sessions(SESSIONS)
    # Both of the first client's tunnels are in bat0; it is one client back.
    lower = {"l2tp100-100": 50, "l2tp101-101": 51}
    assert guest_swarm.td_served(tunnels, sessions, lower, {}) == {"connected": 2, "in_mesh": 1, "tunnels": 3}
    # An interface that was there before the restart (same ifindex) does not count.
    assert guest_swarm.td_served(tunnels, sessions, {"l2tp102-102": 52}, {"l2tp102-102": 52})["in_mesh"] == 0
    assert guest_swarm.td_served(tunnels, sessions, {"l2tp102-102": 60}, {"l2tp102-102": 52})["in_mesh"] == 1
    # An interface in bat0 whose tunnel is gone is no client.
    assert guest_swarm.td_served({}, sessions, lower, {}) == {"connected": 0, "in_mesh": 0, "tunnels": 0}


def test_peak_tunnels(dataplane_run):
    runs = [{"samples": [[0.5, 1, 1, 3], [1.0, 2, 2, 7]]}, {"samples": [[0.5, 2, 2, 5]]}]
    assert dataplane_run.peak_tunnels(runs) == "7"
    assert dataplane_run.peak_tunnels([{"samples": [[0.5, 1, 1, None], [1.0, 1, 1]]}]) == "n/a"
