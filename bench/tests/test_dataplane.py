"""bench/dataplane/run.py: the CPU per GB and the goal lines of its report."""

import pytest


def test_net_cpu_takes_off_the_idle_rate_but_never_below_zero(dataplane_run):
    run = {"wall": 10.0, "cpu_units": {"fastd@mesh0": 5.0, "fastd-node@n-null": 0.5}}
    idle = {"fastd@mesh0": 0.16, "fastd-node@n-null": 0.08}
    assert dataplane_run.net_cpu(run, idle) == pytest.approx(5.0 - 1.6 + 0.0)


def test_per_gb(dataplane_run):
    assert dataplane_run.per_gb(3.0, 1.5e9) == pytest.approx(2.0)
    assert dataplane_run.per_gb(3.0, 0) is None


@pytest.mark.parametrize("measured, target, higher, want", [
    (3.6, 8, True, ["g", "3.6x", ">= 8x", "MISS (-55% against the goal)"]),
    (9.0, 8, True, ["g", "9.0x", ">= 8x", "PASS (+12% against the goal)"]),
    (16.8, 2, False, ["g", "16.8x", "<= 2x", "MISS (740% over)"]),
    (1.5, 2, False, ["g", "1.5x", "<= 2x", "PASS (+25% headroom)"]),
    (None, 2, False, ["g", "n/a", "n/a", "not measured"]),
])
def test_goal_says_pass_or_miss_and_by_how_much(dataplane_run, measured, target, higher, want):
    assert dataplane_run.goal("g", measured, target, higher_is_better=higher) == want


def test_fmt(dataplane_run):
    assert dataplane_run.fmt(1090.84) == "1,090.8"
    assert dataplane_run.fmt(None) == "n/a"
