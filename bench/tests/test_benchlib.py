"""bench/lib/benchlib.py: what every part's table and exit status rest on."""

import json
import sys

import pytest

import benchlib


def test_median_leaves_out_missing_values():
    assert benchlib.median([3.0, None, 1.0, 2.0]) == 2.0


def test_median_of_nothing_is_an_error_not_zero():
    with pytest.raises(benchlib.BenchError, match="no values"):
        benchlib.median([None, None])


@pytest.mark.parametrize("a, b, want", [
    (1, 2, "0.50x"),        # two decimals below 1
    (3.21, 1, "3.2x"),      # one below 10
    (16.8, 1, "17x"),       # whole numbers from 10
    (28.6, 7.9, "3.6x"),
    (1, 0, "n/a"),          # nothing to divide by
    (None, 2, "n/a"),
    (2, None, "n/a"),
])
def test_ratio(a, b, want):
    assert benchlib.ratio(a, b) == want


def test_ratio_with_fixed_digits():
    assert benchlib.ratio(10, 3, digits=2) == "3.33x"


def test_md_table_right_aligns_only_all_number_columns():
    table = benchlib.md_table(
        ["mode", "Mbit/s", "ratio", "note"],
        [["null", "1,091.2", "3.6x", "x"], ["plain", 480, "n/a", "5 s"], ["td", None, "17x", ""]])
    lines = table.splitlines()
    assert lines[0] == "| mode | Mbit/s | ratio | note |"
    assert lines[1] == "|---|---:|---:|---|"  # "5 s" is a number, "x" is not
    assert lines[4] == "| td |  | 17x |  |"


def test_md_table_column_of_only_placeholders_is_left_aligned():
    assert benchlib.md_table(["a"], [["n/a"], ["-"]]).splitlines()[1] == "|---|"


def test_run_returns_output_and_raises_on_failure_with_its_tail():
    assert benchlib.run([sys.executable, "-c", "print('ok')"], timeout=30).stdout == "ok\n"
    with pytest.raises(benchlib.BenchError, match=r"exit 3: .*\n.*why"):
        benchlib.run([sys.executable, "-c", "import sys; print('why'); sys.exit(3)"], timeout=30)
    assert benchlib.run([sys.executable, "-c", "raise SystemExit(3)"], timeout=30, check=False).returncode == 3


def test_run_is_bounded_in_time():
    with pytest.raises(benchlib.BenchError, match="timed out after 0.5 s"):
        benchlib.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)


def test_wait_until_returns_the_wait_and_raises_when_never_true():
    calls = iter([False, False, True])
    assert benchlib.wait_until(lambda: next(calls), timeout=5, interval=0.01) >= 0
    with pytest.raises(benchlib.BenchError, match="the nodes not reached within 0.05 s"):
        benchlib.wait_until(lambda: False, timeout=0.05, interval=0.01, what="the nodes")


def test_finish_writes_the_failures_with_the_numbers_and_fails(tmp_path, capsys):
    out = tmp_path / "sub" / "part.json"
    assert benchlib.finish(out, {"rows": [1]}, ["N=100: only 3 of 100 connected"]) == 1
    assert json.loads(out.read_text()) == {"rows": [1], "failures": ["N=100: only 3 of 100 connected"]}
    assert "FAILED:\n- N=100: only 3 of 100 connected" in capsys.readouterr().out
    assert benchlib.finish(None, {}, []) == 0
