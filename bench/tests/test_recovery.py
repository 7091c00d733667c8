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
