"""Tests for plugins/module_utils/files.py: file modes and atomic writes of the modules."""

import os
import stat

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import files as f


@pytest.mark.parametrize("value, expected", [("0644", 0o644), ("600", 0o600), (0o640, 0o640),
                                             ("2755", 0o2755)])
def test_parse_mode(value, expected):
    assert f.parse_mode(value) == expected


@pytest.mark.parametrize("value", ["rw-r--r--", "0888", "u+x", True, None, 0o10000,
                                   "0644\n", "644\n", "0644 ", "\t644"])
def test_parse_mode_rejects(value):
    with pytest.raises(ValueError):
        f.parse_mode(value)


def test_parse_mode_message_uses_yaml_type_names():
    with pytest.raises(ValueError, match=r"got boolean true$"):
        f.parse_mode(True)


def test_atomic_write(tmp_path):
    target = tmp_path / "secret.conf"
    target.write_text("old")
    target.chmod(0o644)
    f.atomic_write(str(target), b"new", 0o600, fsync=True)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["secret.conf"]


def test_atomic_symlink_creates_and_replaces(tmp_path):
    link = tmp_path / "current"
    f.atomic_symlink("versions/a", str(link))
    assert os.readlink(str(link)) == "versions/a"
    f.atomic_symlink(str(tmp_path / "versions" / "b"), str(link))
    assert os.readlink(str(link)) == str(tmp_path / "versions" / "b")
    assert os.listdir(str(tmp_path)) == ["current"]


def test_atomic_symlink_replaces_a_link_to_a_directory_not_the_directory(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "keep").write_text("")
    link = tmp_path / "current"
    link.symlink_to("a")
    f.atomic_symlink("b", str(link))
    assert os.readlink(str(link)) == "b" and (tmp_path / "a" / "keep").exists()


def test_atomic_symlink_keeps_a_directory(tmp_path):
    (tmp_path / "current").mkdir()
    with pytest.raises(OSError):
        f.atomic_symlink("b", str(tmp_path / "current"))
    assert (tmp_path / "current").is_dir() and sorted(os.listdir(str(tmp_path))) == ["current"]
