"""Put the checkout on sys.path as ansible_collections.freifunk.gateway, and
set up hypothesis for the property tests."""

import errno
import importlib.util
import os
import shutil
import socket
import subprocess
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "link_collection", os.path.join(_HERE, "..", "bed", "link_collection.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
sys.path.insert(0, _mod.link())

try:  # property tests: no example database, every run draws anew; caches under .cache/
    from hypothesis import settings
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(os.path.join(_HERE, "..", "..", ".cache", "hypothesis"))
    settings.register_profile("unit", database=None, print_blob=True)
    settings.load_profile("unit")
except ImportError:  # pragma: no cover - requirements-test.txt installs hypothesis
    pass


# A secret key for configurations that real fastd checks in the unit tests.
TEST_SECRET = "f8a2832608f6a63a1bf5e70e515c37e1cb1d3550048a56aa532c0050fff16760"


@pytest.fixture
def fastd_verify(tmp_path):
    """fastd_verify(body, name="fastd.conf") -> (rc, output) of real
    ``fastd --verify-config`` on a small multitap config ending in ``body``."""
    fastd = shutil.which("fastd")
    if fastd is None:
        pytest.skip("needs the fastd binary (tests/bed/deps.sh installs it)")

    def verify(body, name="fastd.conf"):
        conf = tmp_path / name
        conf.write_text('secret "%s";\nmode multitap;\ninterface "fft-%%k";\nmethod "null";\n%s\n'
                        % (TEST_SECRET, body))
        proc = subprocess.run([fastd, "--verify-config", "--config", str(conf)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        return proc.returncode, proc.stdout
    return verify


@pytest.fixture
def absent_address():
    """A documentation address (TEST-NET) this host does not have; binding
    to it is how the tests find out, and sends nothing."""
    for text in ("203.0.113.1", "198.51.100.1", "192.0.2.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((text, 0))
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    return text
    pytest.skip("this host has every TEST-NET address tried")
    return None


@pytest.fixture(scope="session")
def tunneldigger_sources():
    """The folder of the upstream tunneldigger archives: TUNNELDIGGER_SOURCE_DIR,
    else ../shared/vendor/tunneldigger next to the checkout; skips (and says
    why) when neither names a folder."""
    env = "TUNNELDIGGER_SOURCE_DIR"
    fallback = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "shared", "vendor", "tunneldigger"))
    folder = os.environ.get(env) or fallback
    if not os.path.isdir(folder):
        pytest.skip("needs the tunneldigger source archives: %s (%s) names no folder, nor does the fallback %s"
                    % (env, os.environ.get(env) or "not set", fallback))
    return folder
