"""Tests for plugins/module_utils/tunneldigger_install.py: labels, checksums,
the broker tree's digest, safe extraction of archives, finding the source,
markers and which installs to prune."""

import io
import os
import stat
import tarfile

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger_install as ti


# --- options ------------------------------------------------------------------------

@pytest.mark.parametrize("label, name", [
    ("v0.4.0", "v0.4.0"), ("9a9a427", "9a9a427"), ("feature/x y", "feature_x_y"),
    ("refs/tags/v1", "refs_tags_v1"), ("../..", "_.."), (".hidden", "hidden"), ("-x", "x"),
    ("ä", "_"), ("x" * 100, "x" * 64), ("a_b-c.d", "a_b-c.d"),
])
def test_sanitize_label(label, name):
    assert ti.sanitize_label(label) == name


def test_install_name():
    assert ti.install_name("v0.4.0", "0123456789abcdef" * 4) == "v0.4.0-0123456789ab"


def test_parse_checksum():
    assert ti.parse_checksum("sha256:" + "AB" * 32) == "ab" * 32
    assert ti.parse_checksum(" sha256:" + "0" * 64 + "\n") == "0" * 64


@pytest.mark.parametrize("bad", ["", "ab" * 32, "md5:" + "0" * 32, "sha256:" + "0" * 63, "sha256:" + "g" * 64,
                                 "sha512:" + "0" * 128, None])
def test_parse_checksum_rejects(bad):
    with pytest.raises(ValueError, match="sha256: followed by 64"):
        ti.parse_checksum(bad)


@pytest.mark.parametrize("path, archive", [("a.tar.gz", True), ("a.TGZ", True), ("a.tar", True),
                                           ("a.zip", False), ("a.tar.xz", False), ("tar", False)])
def test_is_archive(path, archive):
    assert ti.is_archive(path) is archive


# --- the broker tree ----------------------------------------------------------------

def make_tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


BROKER = {"setup.py": "VERSION = '1.0'\n", "src/pkg/__init__.py": "", "src/pkg/main.py": "print(1)\n"}


def test_digest_ignores_what_builds_leave(tmp_path):
    clean = ti.tree_digest(str(make_tree(tmp_path / "a", BROKER)))
    used = make_tree(tmp_path / "b", dict(BROKER, **{
        "build/lib/pkg/main.py": "old", "src/pkg/__pycache__/main.cpython-311.pyc": "x",
        "src/pkg/main.pyc": "x", "src/pkg.egg-info/PKG-INFO": "x"}))
    assert ti.tree_digest(str(used)) == clean
    (used / "src" / "pkg" / "main.py").chmod(0o755)  # modes do not count
    assert ti.tree_digest(str(used)) == clean
    assert len(clean) == 64 and int(clean, 16) >= 0


@pytest.mark.parametrize("change", [
    {"src/pkg/main.py": "print(2)\n"},          # content
    {"src/pkg/other.py": ""},                   # a new file, even empty
    {"src/build/x.py": ""},                     # build/ counts below the top
])
def test_digest_sees_changes(tmp_path, change):
    clean = ti.tree_digest(str(make_tree(tmp_path / "a", BROKER)))
    assert ti.tree_digest(str(make_tree(tmp_path / "b", dict(BROKER, **change)))) != clean


def test_digest_sees_renames(tmp_path):
    moved = dict(BROKER)
    moved["src/pkg/main2.py"] = moved.pop("src/pkg/main.py")
    assert ti.tree_digest(str(make_tree(tmp_path / "a", BROKER))) != \
        ti.tree_digest(str(make_tree(tmp_path / "b", moved)))


def test_digest_is_framed(tmp_path):
    """Moving bytes between a name and a content changes the digest."""
    one = make_tree(tmp_path / "a", {"ab": "c"})
    two = make_tree(tmp_path / "b", {"a": "bc"})
    assert ti.tree_digest(str(one)) != ti.tree_digest(str(two))


def test_links_inside_count_links_outside_are_refused(tmp_path):
    root = make_tree(tmp_path / "a", BROKER)
    plain = ti.tree_digest(str(root))
    (root / "src" / "alias.py").symlink_to("pkg/main.py")
    assert ti.tree_digest(str(root)) != plain
    assert ("src/alias.py", "link") in ti.tree_entries(str(root))
    (root / "src" / "escape").symlink_to("../../elsewhere")
    with pytest.raises(ValueError, match="src/escape is a symbolic link pointing outside"):
        ti.tree_digest(str(root))


def test_special_files_are_refused(tmp_path):
    root = make_tree(tmp_path / "a", BROKER)
    os.mkfifo(str(root / "fifo"))
    with pytest.raises(ValueError, match="fifo is neither a file"):
        ti.tree_entries(str(root))


def test_copy_tree_copies_what_the_digest_sees(tmp_path):
    root = make_tree(tmp_path / "a", dict(BROKER, **{"build/x": "", "src/pkg/__pycache__/y.pyc": "",
                                                     "src/x.egg-info/z": ""}))
    (root / "src" / "alias.py").symlink_to("pkg/main.py")
    ti.copy_tree(str(root), str(tmp_path / "copy"))
    assert ti.tree_digest(str(tmp_path / "copy")) == ti.tree_digest(str(root))
    assert not (tmp_path / "copy" / "build").exists()
    assert not (tmp_path / "copy" / "src" / "x.egg-info").exists()
    assert os.readlink(str(tmp_path / "copy" / "src" / "alias.py")) == "pkg/main.py"


def test_find_source_root(tmp_path):
    direct = make_tree(tmp_path / "direct", {"broker/setup.py": ""})
    assert ti.find_source_root(str(direct)) == str(direct)
    nested = make_tree(tmp_path / "nested", {"tunneldigger-0.4.0/broker/setup.py": "", "other/x": "", "f": ""})
    assert ti.find_source_root(str(nested)) == str(nested / "tunneldigger-0.4.0")
    with pytest.raises(ValueError, match="found no broker/setup.py"):
        ti.find_source_root(str(make_tree(tmp_path / "none", {"client/x": "", "a/b/broker/setup.py": ""})))
    with pytest.raises(ValueError, match=r"more than one folder \(a, b\)"):
        ti.find_source_root(str(make_tree(tmp_path / "two", {"a/broker/setup.py": "", "b/broker/setup.py": ""})))


@pytest.mark.parametrize("text, version", [
    ("VERSION = '0.4.0'\n", "0.4.0"),
    ('x = 1\nVERSION="0.4.1-dev1"\nsetup(version=VERSION)\n', "0.4.1.dev1"),
    ("VERSION = '1.0 beta nonsense'\n", "1.0 beta nonsense"),  # not PEP 440: as written
    ("version = '1.0'\n", None),
    ("setup(version='1.0')\n", None),
])
def test_setup_version(tmp_path, text, version):
    if ti.Version is None and version == "0.4.1.dev1":
        version = "0.4.1-dev1"
    (tmp_path / "setup.py").write_text(text)
    assert ti.setup_version(str(tmp_path / "setup.py")) == version


def test_setup_version_of_a_missing_file(tmp_path):
    assert ti.setup_version(str(tmp_path / "setup.py")) is None


# --- archives -----------------------------------------------------------------------

def member(name, kind=tarfile.REGTYPE, linkname="", size=0, mode=0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size, info.mode = kind, linkname, size, mode
    return info


@pytest.mark.parametrize("members", [
    [member("td/", tarfile.DIRTYPE), member("td/broker/setup.py")],
    [member("./", tarfile.DIRTYPE), member("./td/broker/setup.py")],
    [member("td/a.py"), member("td/b.py", tarfile.SYMTYPE, "a.py")],
    [member("td/a/b.py"), member("td/c", tarfile.SYMTYPE, "a/../a/b.py")],
    [member("td/a.py"), member("td/b.py", tarfile.LNKTYPE, "td/a.py")],
    [member("td/a", tarfile.DIRTYPE), member("td/link", tarfile.SYMTYPE, ".")],
])
def test_check_members_accepts(members):
    ti.check_members(members)


@pytest.mark.parametrize("members, message", [
    ([member("/etc/passwd")], "refusing member /etc/passwd: an absolute path"),
    ([member("td/../../x")], "refusing member td/../../x: it leads out of the folder"),
    ([member("..")], "refusing member ..: it leads out"),
    ([member("C:/x")], "an absolute path"),
    ([member("td/l", tarfile.SYMTYPE, "/etc")], "a symbolic link pointing outside the folder (to /etc)"),
    ([member("td/l", tarfile.SYMTYPE, "../../x")], "a symbolic link pointing outside"),
    ([member("l", tarfile.SYMTYPE, "..")], "a symbolic link pointing outside"),
    ([member("td/h", tarfile.LNKTYPE, "/etc/shadow")], "refusing hard link target /etc/shadow"),
    ([member("td/h", tarfile.LNKTYPE, "../x")], "refusing hard link target ../x"),
    ([member("td/h", tarfile.LNKTYPE, "td/missing")], "not a file before it"),
    ([member("td/l", tarfile.SYMTYPE, "."), member("td/l/x.py")], "td/l/x.py: it would be written through the link td/l"),
    ([member("td/l/x.py"), member("td/l", tarfile.SYMTYPE, ".")], "written through the link"),
    ([member("td/a.py"), member("td/a.py", tarfile.SYMTYPE, "b")], "in the archive twice"),
    ([member("td/a.py"), member("./td/a.py")], "in the archive twice"),
    ([member("td/dev", tarfile.CHRTYPE)], "td/dev: a device file"),
    ([member("td/dev", tarfile.BLKTYPE)], "a device file"),
    ([member("td/fifo", tarfile.FIFOTYPE)], "fifo"),
    ([member("./", tarfile.REGTYPE)], "names the top"),
])
def test_check_members_refuses(members, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        ti.check_members(members)


def write_tar(path, members, contents=None):
    contents = contents or {}
    with tarfile.open(str(path), "w:gz") as tar:
        for info in members:
            data = contents.get(info.name, b"")
            if info.isreg():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


@pytest.mark.parametrize("data_filter", [True, False], ids=["data filter", "by hand"])
def test_safe_extract(tmp_path, monkeypatch, data_filter):
    if not data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python's tarfile has no data filter")
    setuid = member("td/broker/tool", mode=0o4777)
    setuid.uid, setuid.uname = 4242, "nobody-here"
    archive = write_tar(tmp_path / "td.tar.gz",
                        [member("td/", tarfile.DIRTYPE, mode=0o777), member("td/broker/setup.py"), setuid,
                         member("td/broker/alias", tarfile.SYMTYPE, "setup.py")],
                        {"td/broker/setup.py": b"VERSION = '1'\n", "td/broker/tool": b"#!/bin/sh\n"})
    dest = tmp_path / "out"
    dest.mkdir()
    ti.safe_extract(str(archive), str(dest))
    assert (dest / "td" / "broker" / "setup.py").read_bytes() == b"VERSION = '1'\n"
    assert os.readlink(str(dest / "td" / "broker" / "alias")) == "setup.py"
    tool = os.lstat(str(dest / "td" / "broker" / "tool"))
    assert stat.S_IMODE(tool.st_mode) == 0o755  # no setuid, no group/other write
    assert tool.st_uid == os.getuid()
    assert stat.S_IMODE(os.stat(str(dest / "td")).st_mode) & 0o022 == 0


def test_safe_extract_refuses_before_writing(tmp_path):
    archive = write_tar(tmp_path / "td.tar.gz", [member("td/broker/setup.py"), member("td/../../evil")])
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(ValueError, match="refusing member td/../../evil"):
        ti.safe_extract(str(archive), str(dest))
    assert os.listdir(str(dest)) == []
    assert not (tmp_path / "evil").exists()


def test_safe_extract_of_a_broken_archive(tmp_path):
    (tmp_path / "td.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises((tarfile.TarError, EOFError, OSError)):
        ti.safe_extract(str(tmp_path / "td.tar.gz"), str(tmp_path))


def upstream_archives(folder):
    return [os.path.join(folder, name) for name in ("tunneldigger-v0.4.0.tar.gz", "tunneldigger-9a9a427.tar.gz")]


def test_upstream_archives(tmp_path, tunneldigger_sources):
    """The real archives unpack, hold one broker each, and differ only in setup.py."""
    found = []
    for number, archive in enumerate(upstream_archives(tunneldigger_sources)):
        dest = tmp_path / str(number)
        dest.mkdir()
        ti.safe_extract(archive, str(dest))
        broker = os.path.join(ti.find_source_root(str(dest)), "broker")
        found.append((ti.tree_digest(broker), ti.setup_version(os.path.join(broker, "setup.py")),
                      [rel for rel, _kind in ti.tree_entries(broker)]))
    (old_digest, old_version, old_files), (new_digest, new_version, new_files) = found
    assert old_version == "0.4.0" and new_version in ("0.4.1.dev1", "0.4.1-dev1")
    assert old_digest != new_digest and old_files == new_files
    assert "src/tunneldigger_broker/main.py" in old_files


# --- installs -----------------------------------------------------------------------

def fake(versions, name, mtime, marker=True):
    folder = versions / name
    folder.mkdir(parents=True)
    if marker is True:
        (folder / ti.MARKER).write_text(ti.marker_text("d" * 64, "1.0", name, "/usr/bin/python3", "3.11.2", "/src"))
    elif marker:
        (folder / ti.MARKER).write_text(marker)
    if marker:
        os.utime(str(folder / ti.MARKER), (mtime, mtime))
    return folder


def test_marker_round_trip(tmp_path):
    (tmp_path / ti.MARKER).write_text(ti.marker_text("d" * 64, "0.4.0", "v0.4.0", "/usr/bin/python3", "3.11.2", "/s"))
    marker = ti.read_marker(str(tmp_path))
    assert marker["digest"] == "d" * 64 and marker["version"] == "0.4.0" and marker["format"] == ti.MARKER_FORMAT


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"digest": 1}'])
def test_bad_markers_mean_no_install(tmp_path, text):
    (tmp_path / ti.MARKER).write_text(text)
    assert ti.read_marker(str(tmp_path)) is None
    assert ti.read_marker(str(tmp_path / "missing")) is None


def test_installed_newest_first(tmp_path):
    versions = tmp_path / "versions"
    fake(versions, "v1-" + "a" * 12, 1000)
    fake(versions, "v3-" + "c" * 12, 3000)
    fake(versions, "v2-" + "b" * 12, 2000)
    fake(versions, "nomarker-" + "d" * 12, 4000, marker=False)
    fake(versions, "bad-" + "e" * 12, 5000, marker="nonsense")
    fake(versions, "manual", 6000)  # not named like an install
    fake(versions, ".build-v4-" + "f" * 12, 7000)
    (versions / ("link-" + "0" * 12)).symlink_to("v1-" + "a" * 12)
    assert ti.installed(str(versions)) == ["v3-" + "c" * 12, "v2-" + "b" * 12, "v1-" + "a" * 12]
    assert ti.installed(str(tmp_path / "missing")) == []


@pytest.mark.parametrize("names, current, replaced, keep, removed", [
    (["d", "c", "b", "a"], "d", "c", 2, ["a"]),
    (["d", "c", "b", "a"], "d", "c", 0, ["b", "a"]),       # the replaced one stays with keep=0
    (["d", "c", "b", "a"], "a", "d", 0, ["c", "b"]),       # a rollback: d was current
    (["d", "c", "b", "a"], "a", "b", 1, ["d", "c"]),       # the replaced one first, however old
    (["d", "c", "b", "a"], "d", None, 0, ["b", "a"]),      # a later run: the newest other stays
    (["d", "c", "b", "a"], "d", None, 5, []),
    (["c", "b", "a"], "new", "c", 2, ["a"]),              # check mode: the new one does not exist yet
    ([], "new", None, 2, []),
])
def test_prune_plan(names, current, replaced, keep, removed):
    assert ti.prune_plan(names, current, replaced, keep) == removed


def test_tail():
    text = "\n".join("line %d" % n for n in range(100)) + "\n\n"
    assert ti.tail(text, lines=3) == "line 97\nline 98\nline 99"
    assert ti.tail("x" * 10000, chars=10) == "x" * 10
    assert ti.tail("") == ""
