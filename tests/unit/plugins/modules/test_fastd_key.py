"""fastd_key against the real fastd binary."""

import os
import re
import shutil
import stat
import subprocess
import sys

import pytest

from ansible_collections.freifunk.gateway.plugins.modules import fastd_key

FASTD = shutil.which("fastd")
pytestmark = pytest.mark.skipif(FASTD is None, reason="needs the fastd binary")
SECRET_FILE = re.compile(r'^secret "([0-9a-f]{64})";\n$')


def generate():
    return subprocess.run([FASTD, "--generate-key", "--machine-readable"], check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip()


def public_of(secret):
    """The public key, computed by fastd independently of the module."""
    return subprocess.run([FASTD, "--show-key", "--machine-readable", "--config", "-"],
                          input='secret "%s";\n' % secret, check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip()


def secret_in(path):
    match = SECRET_FILE.match(path.read_text())
    assert match, path.read_text()
    return match.group(1)


def mode_of(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def key_file(tmp_path):
    return tmp_path / "secret.conf"


def test_generates_then_keeps_the_key(run_module, key_file):
    result, out = run_module(fastd_key, {"path": str(key_file)}, diff=True)
    assert result["changed"] and result["generated"]
    secret = secret_in(key_file)
    assert mode_of(key_file) == 0o600
    assert result["public_key"] == public_of(secret) != secret
    assert secret not in out
    assert result["diff"]["after"] == "public key: %s\n" % result["public_key"]

    again, out = run_module(fastd_key, {"path": str(key_file)}, diff=True)
    assert not again["changed"] and not again["generated"]
    assert again["public_key"] == result["public_key"]
    assert secret_in(key_file) == secret and secret not in out
    assert os.listdir(key_file.parent) == ["secret.conf"]


def test_given_secret_replaces_and_stays(run_module, key_file):
    old, new = generate(), generate()
    key_file.write_text('secret "%s";\n' % old)
    key_file.chmod(0o600)
    result, out = run_module(fastd_key, {"path": str(key_file), "secret": new}, diff=True)
    assert result["changed"] and not result["generated"]
    assert secret_in(key_file) == new
    assert result["public_key"] == public_of(new)
    assert result["diff"]["before"] == "public key: %s\n" % public_of(old)
    assert new not in out and old not in out

    again, _out = run_module(fastd_key, {"path": str(key_file), "secret": new.upper()})
    assert not again["changed"]
    assert secret_in(key_file) == new


@pytest.mark.parametrize("bad, message", [
    ("abc", "64 hexadecimal"),
    ("f" * 64, "fastd does not accept the secret key"),  # hex, but not a valid key for fastd
])
def test_bad_secret_fails_and_leaves_the_file(run_module, key_file, bad, message):
    original = 'secret "%s";\n' % generate()
    key_file.write_text(original)
    result, _out = run_module(fastd_key, {"path": str(key_file), "secret": bad})
    assert result["failed"] and message in result["msg"]
    assert key_file.read_text() == original


def test_refuses_to_overwrite_a_file_without_a_secret(run_module, key_file):
    key_file.write_text("# managed elsewhere\n")
    result, _out = run_module(fastd_key, {"path": str(key_file)})
    assert result["failed"] and "refusing to replace" in result["msg"]
    assert key_file.read_text() == "# managed elsewhere\n"


def test_missing_directory(run_module, tmp_path):
    result, _out = run_module(fastd_key, {"path": str(tmp_path / "nope" / "secret.conf")})
    assert result["failed"] and "does not exist" in result["msg"]


def test_check_mode_generates_nothing(run_module, key_file):
    result, _out = run_module(fastd_key, {"path": str(key_file)}, check_mode=True, diff=True)
    assert result["changed"] and result["generated"] and result["public_key"] is None
    assert "generated when applied" in result["diff"]["after"]
    assert not key_file.exists()


def test_check_mode_with_new_secret_reports_its_public_key(run_module, key_file):
    old, new = generate(), generate()
    key_file.write_text('secret "%s";\n' % old)
    key_file.chmod(0o640)
    result, _out = run_module(fastd_key, {"path": str(key_file), "secret": new}, check_mode=True)
    assert result["changed"] and result["public_key"] == public_of(new)
    assert secret_in(key_file) == old and mode_of(key_file) == 0o640


def test_fixes_mode(run_module, key_file):
    key_file.write_text('secret "%s";\n' % generate())
    key_file.chmod(0o644)
    result, _out = run_module(fastd_key, {"path": str(key_file)})
    assert result["changed"] and not result["generated"]
    assert mode_of(key_file) == 0o600
    result, _out = run_module(fastd_key, {"path": str(key_file), "mode": "0640"})
    assert result["changed"] and mode_of(key_file) == 0o640


def test_runs_as_a_standalone_module(tmp_path):
    """As Ansible runs it: the module file as a script, arguments on stdin."""
    collections = os.path.abspath(os.path.join(os.path.dirname(fastd_key.__file__),
                                               "..", "..", "..", "..", ".."))
    proc = subprocess.run(
        [sys.executable, fastd_key.__file__], check=False, stdout=subprocess.PIPE, text=True,
        input='{"ANSIBLE_MODULE_ARGS": {"path": "%s"}}' % (tmp_path / "k.conf"),
        env=dict(os.environ, PYTHONPATH=collections))
    assert '"changed": true' in proc.stdout and proc.returncode == 0, proc.stdout
    assert secret_in(tmp_path / "k.conf") not in proc.stdout


def test_a_key_written_meanwhile_by_another_run_wins(run_module, key_file, monkeypatch):
    """Two runs at once: the other run writes its key between this run's look
    and its write. This run must keep the key on disk and report it."""
    theirs = generate()
    real_generate = fastd_key.generate_key

    def generate_while_another_run_writes(module, fastd):
        ours = real_generate(module, fastd)
        key_file.write_text('secret "%s";\n' % theirs)
        return ours

    monkeypatch.setattr(fastd_key, "generate_key", generate_while_another_run_writes)
    result, out = run_module(fastd_key, {"path": str(key_file)})
    assert secret_in(key_file) == theirs
    assert result["public_key"] == public_of(theirs)
    assert not result["generated"]
    assert theirs not in out
    assert os.listdir(key_file.parent) == ["secret.conf"]


def test_check_mode_predicts_without_the_folder(run_module, tmp_path):
    result, _out = run_module(fastd_key, {"path": str(tmp_path / "new" / "secret.conf")}, check_mode=True)
    assert result["changed"] and result["generated"] and result["public_key"] is None
    assert not (tmp_path / "new").exists()
