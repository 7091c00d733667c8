"""The bench drivers' own logic (medians, ratios, tables, the shares of a
recovery, the goals), tested without a guest or a container: what they
measure runs only in `make bench`. The drivers are scripts, loaded by path."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH / "lib"))


def load(rel):
    """The bench script at bench/REL as a module (its main() does not run)."""
    name = "bench_" + rel.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, BENCH / rel)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def dataplane_run():
    return load("dataplane/run.py")


@pytest.fixture(scope="session")
def recovery_run():
    return load("recovery/run.py")


@pytest.fixture(scope="session")
def guest_swarm():
    return load("dataplane/guest_swarm.py")
