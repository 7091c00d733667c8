"""The collection claims the ansible-core lines make matrix tests, nothing
more: tests/matrix.yml names them, meta/runtime.yml's requires_ansible
admits exactly those (from the first line's .0 to below the line after the
last), and the README's version table names each line with its Python."""

import os
import re

import yaml

REPO = os.path.join(os.path.dirname(__file__), "..", "..")


def load(*parts):
    with open(os.path.join(REPO, *parts)) as handle:
        return yaml.safe_load(handle)


def matrix_lines():
    return [(tuple(int(p) for p in str(e["ansible_core"]).split(".")[:2]), str(e["python"]))
            for e in load("tests", "matrix.yml")]


def test_the_matrix_has_no_gap():
    lines = sorted({line for line, _python in matrix_lines()})
    assert lines, "tests/matrix.yml names no line"
    assert lines == [(2, minor) for minor in range(lines[0][1], lines[-1][1] + 1)]


def test_runtime_claims_exactly_the_tested_lines():
    lines = sorted({line for line, _python in matrix_lines()})
    first, last = lines[0], lines[-1]
    want = ">=%d.%d.0,<%d.%d.0" % (first + (last[0], last[1] + 1))
    assert load("meta", "runtime.yml")["requires_ansible"] == want


def test_readme_table_names_each_line_and_its_python():
    with open(os.path.join(REPO, "README.md")) as handle:
        row = next(line for line in handle if line.startswith("| ansible-core |"))
    named = re.findall(r"(2\.\d+) \(Python (3\.\d+)\)", row)
    assert sorted(named) == sorted(("%d.%d" % line, python) for line, python in matrix_lines()), row
