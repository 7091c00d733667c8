"""tunneldigger_install: real virtualenvs built from the real upstream archives.

The archives come from the folder in TUNNELDIGGER_SOURCE_DIR, else from
../shared/vendor/tunneldigger next to the checkout; without them the tests
that build are skipped. Builds take seconds each, so the two base installs
are made once per module and every test that changes an install works on a
copy of one (a venv's own python still works after a copy, which is all the
module asks of it).
"""

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time

import pytest
from ansible.module_utils import basic

from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger_install as ti
from ansible_collections.freifunk.gateway.plugins.modules import tunneldigger_install

OLD, NEW = "tunneldigger-v0.4.0.tar.gz", "tunneldigger-9a9a427.tar.gz"
WHEELS = "/usr/share/python-wheels"
PYTHON = "/usr/bin/python3"


def sha256(path):
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture(scope="module")
def archives(tunneldigger_sources):
    """{'old': path, 'new': path} of the two upstream archives, or skip."""
    folder = tunneldigger_sources
    paths = dict(old=os.path.join(folder, OLD), new=os.path.join(folder, NEW))
    missing = [path for path in paths.values() if not os.path.isfile(path)]
    if missing:
        pytest.fail("%s (the tunneldigger sources) lacks %s" % (folder, ", ".join(missing)))
    return paths


@pytest.fixture(scope="module")
def can_build():
    """Skip unless the host can build a broker venv offline (Debian packages)."""
    have = os.listdir(WHEELS) if os.path.isdir(WHEELS) else []
    ok = os.path.exists(PYTHON) and any(n.startswith("setuptools-") for n in have) \
        and any(n.startswith("wheel-") for n in have)
    if not ok:
        pytest.skip("needs %s with venv and the wheels of Debian's python3-setuptools-whl and "
                    "python3-wheel-whl in %s (tests/bed/deps.sh installs them)" % (PYTHON, WHEELS))


def invoke(args, check_mode=False):
    """Run the module outside a test's fixtures (for module-scoped installs)."""
    saved = basic._ANSIBLE_ARGS, getattr(basic, "_ANSIBLE_PROFILE", None)
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check_mode)}).encode()
    basic._ANSIBLE_PROFILE = "legacy"
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            tunneldigger_install.main()
    finally:
        basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = saved
    return json.loads(out.getvalue())


def archive_args(path, prefix, label, **extra):
    return dict(dict(src=path, checksum=sha256(path), label=label, prefix=str(prefix)), **extra)


def clone(prefix, dest):
    """A copy of the install tree ``prefix`` at ``dest``, current re-pointed."""
    shutil.copytree(str(prefix), str(dest), symlinks=True)
    link = os.path.join(str(dest), "current")
    if os.path.islink(link):
        os.unlink(link)
        os.symlink(os.path.join(str(dest), "versions", os.path.basename(os.readlink(os.path.join(str(prefix), "current")))),
                   link)
    return dest


def snapshot(root):
    """Every path under ``root`` with its inode and mtime."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            found[os.path.relpath(path, str(root))] = (info.st_ino, info.st_mtime_ns)
    return found


def broker_version(python):
    """What the install says about itself, asked independently of the module."""
    probe = "import tunneldigger_broker.broker, importlib.metadata as m; print(m.version('tunneldigger-broker'))"
    return subprocess.run([python, "-I", "-c", probe], check=True, stdout=subprocess.PIPE,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def first(archives, can_build, tmp_path_factory):
    """v0.4.0 installed from its archive into a fresh prefix."""
    prefix = tmp_path_factory.mktemp("first") / "opt"
    result = invoke(archive_args(archives["old"], prefix, "v0.4.0"))
    assert not result.get("failed"), result
    return prefix, result


@pytest.fixture(scope="module")
def upgraded(archives, first, tmp_path_factory):
    """A copy of ``first`` upgraded to 9a9a427 from its archive."""
    prefix = clone(first[0], tmp_path_factory.mktemp("upgraded") / "opt")
    result = invoke(archive_args(archives["new"], prefix, "9a9a427"))
    assert not result.get("failed"), result
    return prefix, result


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """tempfile's folder for this test, to find what the module leaves there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def fake_install(prefix, name, mtime, digest="0" * 64):
    """A folder that looks like a complete install to the pruning (no venv)."""
    folder = os.path.join(str(prefix), "versions", name)
    os.makedirs(folder)
    marker = os.path.join(folder, ti.MARKER)
    with open(marker, "w") as handle:
        handle.write(ti.marker_text(digest, "0.3.0", name, PYTHON, "3.11.2", "/nowhere"))
    os.utime(marker, (mtime, mtime))
    return folder


# --- installing ---------------------------------------------------------------------

def test_install_from_archive(first, archives):
    prefix, result = first
    versions = prefix / "versions"
    assert result["changed"] and result["built"]
    assert result["version"] == "0.4.0"
    assert len(result["digest"]) == 64
    assert result["path"] == str(versions / ("v0.4.0-" + result["digest"][:12]))
    assert result["python"] == result["path"] + "/bin/python"
    assert result["previous"] is None and result["removed"] == []
    assert os.readlink(str(prefix / "current")) == result["path"]
    assert sorted(os.listdir(str(prefix))) == ["current", "versions"]
    assert os.listdir(str(versions)) == [os.path.basename(result["path"])]  # no build or temp folders left
    assert broker_version(str(prefix / "current" / "bin" / "python")) == "0.4.0"
    marker = ti.read_marker(result["path"])
    assert marker["digest"] == result["digest"] and marker["version"] == "0.4.0"
    assert marker["python"] == PYTHON


def test_same_source_again_changes_nothing(first, archives, run_module, tmp_path, private_tmp):
    prefix = clone(first[0], tmp_path / "opt")
    before = snapshot(prefix)
    result, _out = run_module(tunneldigger_install, archive_args(archives["old"], prefix, "v0.4.0"), diff=True)
    assert not result["changed"] and not result["built"]
    assert result["previous"] is None and result["removed"] == []
    assert result["version"] == "0.4.0" and result["digest"] == first[1]["digest"]
    assert result["path"] == str(prefix / "versions" / os.path.basename(first[1]["path"]))
    assert result["diff"]["before"] == result["diff"]["after"]
    assert snapshot(prefix) == before  # no file made, replaced or touched: nothing rebuilt
    assert os.listdir(str(private_tmp)) == []  # the unpacked archive is gone


def test_bad_checksum_fails_before_anything(archives, run_module, tmp_path, private_tmp):
    prefix = tmp_path / "opt"
    wrong = "sha256:" + "ab" * 32
    result, _out = run_module(tunneldigger_install, dict(src=archives["old"], checksum=wrong, label="v0.4.0",
                                                         prefix=str(prefix)))
    assert result["failed"]
    assert "expected %s" % wrong in result["msg"] and "got %s" % sha256(archives["old"]) in result["msg"]
    assert not prefix.exists() and os.listdir(str(private_tmp)) == []


@pytest.mark.parametrize("args, message", [
    (dict(), "checksum is required"),
    (dict(checksum="md5:abc"), "sha256: followed by 64"),
    (dict(checksum="sha256:" + "0" * 64, label=""), "label must not be empty"),
])
def test_archive_argument_errors(archives, run_module, tmp_path, args, message):
    full = dict(dict(src=archives["old"], label="v0.4.0", prefix=str(tmp_path / "opt")), **args)
    result, _out = run_module(tunneldigger_install, full)
    assert result["failed"] and message in result["msg"]
    assert not (tmp_path / "opt").exists()


def test_install_from_directory(first, archives, run_module, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    with tarfile.open(archives["old"]) as tar:
        tar.extractall(str(checkout))
    (top,) = os.listdir(str(checkout))  # broker/ is one folder down, as in an unpacked archive
    broker = checkout / top / "broker"
    # What earlier builds or runs in a checkout leave is not part of the source.
    (broker / "build" / "lib").mkdir(parents=True)
    (broker / "build" / "lib" / "junk.py").write_text("junk\n")
    (broker / "src" / "tunneldigger_broker.egg-info").mkdir()
    (broker / "src" / "tunneldigger_broker" / "__pycache__").mkdir()
    (broker / "src" / "tunneldigger_broker" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    source_before = snapshot(checkout)
    prefix = tmp_path / "opt"
    digest = first[1]["digest"]
    leftover = prefix / "versions" / ("checkout-" + digest[:12])  # as an interrupted run leaves it
    leftover.mkdir(parents=True)
    (leftover / "half").write_text("")

    result, _out = run_module(tunneldigger_install, dict(src=str(checkout), label="checkout", prefix=str(prefix)))
    assert result["changed"] and result["built"], result
    assert result["digest"] == digest  # the same tree as in the archive
    assert result["path"] == str(leftover) and not (leftover / "half").exists()
    assert result["version"] == "0.4.0" == broker_version(result["python"])
    assert snapshot(checkout) == source_before  # pip built in a copy
    assert os.listdir(str(prefix / "versions")) == [leftover.name]

    again, _out = run_module(tunneldigger_install, dict(src=str(checkout), label="checkout", prefix=str(prefix),
                                                        checksum="sha256:" + "0" * 64))
    assert again["failed"] and "checksum is for archives" in again["msg"]


def test_upgrade(upgraded, first):
    prefix, result = upgraded
    old = str(prefix / "versions" / os.path.basename(first[1]["path"]))
    assert result["changed"] and result["built"]
    assert result["version"] == "0.4.1.dev1"  # setup.py says 0.4.1-dev1
    assert result["digest"] != first[1]["digest"]
    assert result["path"] == str(prefix / "versions" / ("9a9a427-" + result["digest"][:12]))
    assert result["previous"] == old and result["removed"] == []
    assert os.readlink(str(prefix / "current")) == result["path"]
    assert broker_version(str(prefix / "current" / "bin" / "python")) == "0.4.1.dev1"
    assert broker_version(old + "/bin/python") == "0.4.0"  # kept for a rollback
    assert sorted(os.listdir(str(prefix / "versions"))) == sorted([os.path.basename(old),
                                                                   os.path.basename(result["path"])])


def test_rollback_moves_the_link_only_and_keeps_the_replaced(upgraded, first, archives, run_module, tmp_path):
    prefix = clone(upgraded[0], tmp_path / "opt")
    new = str(prefix / "versions" / os.path.basename(upgraded[1]["path"]))
    old = str(prefix / "versions" / os.path.basename(first[1]["path"]))
    newer = fake_install(prefix, "v9.9.9-" + "a" * 12, time.time() + 3600)  # newer than both
    old_venv = snapshot(old)
    result, _out = run_module(tunneldigger_install, archive_args(archives["old"], prefix, "v0.4.0", keep=0),
                              diff=True)
    assert result["changed"] and not result["built"]
    assert result["path"] == old and result["previous"] == new
    assert result["removed"] == [newer]  # keep=0 still keeps the one just replaced
    assert os.readlink(str(prefix / "current")) == old
    assert sorted(os.listdir(str(prefix / "versions"))) == sorted(os.path.basename(p) for p in (old, new))
    assert {k: v for k, v in snapshot(old).items() if k != ti.MARKER} == \
        {k: v for k, v in old_venv.items() if k != ti.MARKER}
    assert result["diff"]["before"] == "current: %s\nversion: 0.4.1.dev1\n" % new
    assert result["diff"]["after"] == "current: %s\nversion: 0.4.0\n" % old


def test_pruning_with_keep(upgraded, archives, run_module, tmp_path):
    prefix = clone(upgraded[0], tmp_path / "opt")
    current = str(prefix / "versions" / os.path.basename(upgraded[1]["path"]))
    (old,) = [str(prefix / "versions" / n) for n in os.listdir(str(prefix / "versions"))
              if str(prefix / "versions" / n) != current]
    now = time.time()
    older = fake_install(prefix, "v0.3.0-" + "b" * 12, now - 7200)
    oldest = fake_install(prefix, "v0.2.0-" + "c" * 12, now - 10800)
    os.utime(os.path.join(old, ti.MARKER), (now - 3600, now - 3600))
    stranger = prefix / "versions" / "manual"  # no marker: never the module's to remove
    stranger.mkdir()
    args = archive_args(archives["new"], prefix, "9a9a427", keep=2)

    checked, _out = run_module(tunneldigger_install, args, check_mode=True)
    assert checked["changed"] and not checked["built"] and checked["removed"] == [oldest]
    assert os.path.isdir(oldest)

    result, _out = run_module(tunneldigger_install, args)
    assert result["changed"] and not result["built"] and result["previous"] is None
    assert result["removed"] == [oldest] and not os.path.exists(oldest)

    result, _out = run_module(tunneldigger_install, dict(args, keep=0))
    assert result["removed"] == [older]  # the newest other one stays, even with keep=0
    assert sorted(os.listdir(str(prefix / "versions"))) == sorted(["manual", os.path.basename(old),
                                                                   os.path.basename(current)])
    again, _out = run_module(tunneldigger_install, dict(args, keep=0))
    assert not again["changed"] and again["removed"] == []


def test_check_mode_on_a_fresh_prefix(first, archives, run_module, tmp_path, private_tmp):
    prefix = tmp_path / "opt"
    result, _out = run_module(tunneldigger_install, archive_args(archives["new"], prefix, "9a9a427"),
                              check_mode=True)
    assert result["changed"] and result["built"]
    assert result["version"] == "0.4.1.dev1"  # from setup.py, normalized
    assert result["path"] == str(prefix / "versions" / ("9a9a427-" + result["digest"][:12]))
    assert result["previous"] is None and result["removed"] == []
    assert not prefix.exists()
    assert os.listdir(str(private_tmp)) == []


def test_check_mode_upgrade_touches_nothing(first, archives, run_module, tmp_path):
    prefix = clone(first[0], tmp_path / "opt")
    before = snapshot(prefix)
    result, _out = run_module(tunneldigger_install, archive_args(archives["new"], prefix, "9a9a427"),
                              check_mode=True)
    assert result["changed"] and result["built"]
    assert result["previous"] == str(prefix / "versions" / os.path.basename(first[1]["path"]))
    assert snapshot(prefix) == before


def test_check_mode_without_src_yet(run_module, tmp_path):
    result, _out = run_module(tunneldigger_install, dict(src=str(tmp_path / "later.tar.gz"), label="v0.4.0",
                                                         prefix=str(tmp_path / "opt")), check_mode=True)
    assert result["changed"] and result["path"] is None and result["version"] is None
    # (the same text goes to module.warn; Ansible's warnings are process-global, so not read here)
    assert "does not exist (yet)" in result["msg"]


def test_broken_install_is_rebuilt_in_place(first, archives, run_module, tmp_path):
    prefix = clone(first[0], tmp_path / "opt")
    target = str(prefix / "versions" / os.path.basename(first[1]["path"]))
    (site,) = [os.path.join(target, "lib", v, "site-packages") for v in os.listdir(os.path.join(target, "lib"))]
    shutil.rmtree(os.path.join(site, "tunneldigger_broker"))  # as after a Python upgrade: it no longer imports
    result, _out = run_module(tunneldigger_install, archive_args(archives["old"], prefix, "v0.4.0"))
    assert result["changed"] and result["built"] and result["previous"] is None
    assert result["path"] == target and broker_version(target + "/bin/python") == "0.4.0"
    assert os.listdir(str(prefix / "versions")) == [os.path.basename(target)]


# --- refusing -----------------------------------------------------------------------

def make_tar(path, files, extra=()):
    """A .tar.gz with ``files`` {name: text} and ``extra`` TarInfo members."""
    with tarfile.open(str(path), "w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            data = text.encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return path


def test_tar_escaping_its_folder_is_refused(run_module, tmp_path, private_tmp):
    evil = tarfile.TarInfo("../../evil.txt")
    evil.size = 1
    (tmp_path / "src").mkdir()
    archive = make_tar(tmp_path / "src" / "td.tar.gz", {"td/broker/setup.py": "VERSION = '1.0'\n"}, [evil])
    prefix = tmp_path / "opt"
    result, _out = run_module(tunneldigger_install, dict(src=str(archive), checksum=sha256(str(archive)),
                                                         label="evil", prefix=str(prefix)))
    assert result["failed"]
    assert "refusing member ../../evil.txt" in result["msg"]
    assert not prefix.exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "src" / "evil.txt").exists()
    assert os.listdir(str(private_tmp)) == []


def test_tar_link_pointing_outside_is_refused(run_module, tmp_path):
    link = tarfile.TarInfo("td/broker/src")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    archive = make_tar(tmp_path / "td.tgz", {"td/broker/setup.py": "VERSION = '1.0'\n"}, [link])
    result, _out = run_module(tunneldigger_install, dict(src=str(archive), checksum=sha256(str(archive)),
                                                         label="evil", prefix=str(tmp_path / "opt")))
    assert result["failed"] and "symbolic link pointing outside" in result["msg"]


@pytest.mark.parametrize("layout", [{"README": "x"}, {"broker/setup.cfg": "x"},
                                    {"a/broker/setup.py": "", "b/broker/setup.py": ""}])
def test_src_without_one_broker_setup_py_is_refused(run_module, tmp_path, layout):
    src = tmp_path / "src"
    for name, text in layout.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    result, _out = run_module(tunneldigger_install, dict(src=str(src), label="x", prefix=str(tmp_path / "opt")))
    assert result["failed"] and "broker/setup.py" in result["msg"]
    assert not (tmp_path / "opt").exists()


def test_other_files_are_refused(run_module, tmp_path):
    src = tmp_path / "td.zip"
    src.write_text("")
    result, _out = run_module(tunneldigger_install, dict(src=str(src), label="x", checksum="sha256:" + "0" * 64,
                                                         prefix=str(tmp_path / "opt")))
    assert result["failed"] and "not a .tar.gz, .tgz or .tar archive" in result["msg"]


def test_failed_build_leaves_no_folder_and_shows_pip(can_build, run_module, tmp_path):
    src = tmp_path / "src"
    (src / "broker").mkdir(parents=True)
    (src / "broker" / "setup.py").write_text("raise SystemExit('the setup script refuses to build')\n")
    prefix = tmp_path / "opt"
    result, _out = run_module(tunneldigger_install, dict(src=str(src), label="broken", prefix=str(prefix)))
    assert result["failed"] and "pip install of the broker failed" in result["msg"]
    assert "the setup script refuses to build" in result["output"]
    assert "the setup script refuses to build" in result["msg"]  # what Ansible shows first
    assert os.listdir(str(prefix / "versions")) == []  # neither the venv nor the build copy
    assert not (prefix / "current").exists()


def test_missing_wheels_are_named(run_module, tmp_path):
    src = tmp_path / "src"
    (src / "broker").mkdir(parents=True)
    (src / "broker" / "setup.py").write_text("VERSION = '1.0'\n")
    result, _out = run_module(tunneldigger_install, dict(src=str(src), label="x", prefix=str(tmp_path / "opt"),
                                                         wheels=str(tmp_path / "nowheels")))
    assert result["failed"] and "python3-setuptools-whl" in result["msg"]
    assert not (tmp_path / "opt" / "versions" / ("x-" + ti.tree_digest(str(src / "broker"))[:12])).exists()


def test_current_that_is_not_a_link_is_kept(run_module, tmp_path):
    (tmp_path / "opt" / "current").mkdir(parents=True)
    result, _out = run_module(tunneldigger_install, dict(src=str(tmp_path), label="x", prefix=str(tmp_path / "opt")))
    assert result["failed"] and "is not a symbolic link" in result["msg"]
