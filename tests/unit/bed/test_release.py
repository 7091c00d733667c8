"""make release (tests/bed/release.sh) in a clone of the checkout's HEAD: it
refuses a malformed or old version and a tree with changes before it changes
anything, and a release writes the changelog, bumps galaxy.yml, builds a
tarball that ansible-doc reads, and commits and tags locally. The clone's
make test record is written by the test (running make test here would take
an hour); green.sh's own check decides, as it does for a real release."""

import os
import shutil
import subprocess
import tarfile

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
NEEDS = ("git", "ansible-galaxy", "antsibull-changelog", "ansible-doc")
pytestmark = pytest.mark.skipif(any(shutil.which(n) is None for n in NEEDS),
                                reason="needs git and the test venv's tools (make venv)")


def git(clone, *args):
    return subprocess.run(["git", "-C", str(clone), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def clone(tmp_path_factory):
    """A clone of HEAD per test, so that the tests hold in any order and on any worker."""
    path = tmp_path_factory.mktemp("release") / "main"
    subprocess.run(["git", "clone", "-q", REPO, str(path)], check=True)
    git(path, "config", "user.email", "tests@example.org")
    git(path, "config", "user.name", "tests")
    green = path / ".build" / "green"
    green.mkdir(parents=True)
    (green / git(path, "rev-parse", "HEAD")).write_text("written by test_release.py\n")
    return path


def release(clone, version, dest):
    env = dict(os.environ)
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)  # the script sets its own for the installed copy
    return subprocess.run([str(clone / "tests" / "bed" / "release.sh"), version, str(dest)], cwd=str(clone),
                          capture_output=True, text=True, env=env, check=False)


@pytest.mark.parametrize("version, words", [
    ("1.2", "VERSION must be x.y.z"),
    ("0.0.1", "is not newer than galaxy.yml's version"),
])
def test_refuses_a_bad_version_before_any_change(clone, tmp_path, version, words):
    run = release(clone, version, tmp_path)
    assert run.returncode != 0 and words in run.stderr, run.stdout + run.stderr
    assert git(clone, "status", "--porcelain") == "" and not list(tmp_path.iterdir())


def test_refuses_a_tree_with_changes(clone, tmp_path):
    (clone / "stray.txt").write_text("not committed\n")
    try:
        run = release(clone, "9.0.0", tmp_path)
    finally:
        (clone / "stray.txt").unlink()
    assert run.returncode != 0 and "the tree has changes" in run.stderr and "stray.txt" in run.stderr
    assert git(clone, "tag") == ""


def test_a_failure_after_the_changes_puts_the_tree_back(clone, tmp_path):
    blocker = tmp_path / "dest"
    blocker.write_text("a file where DEST's folder would go\n")
    run = release(clone, "9.0.0", blocker)
    assert run.returncode != 0 and "the tree is back as it was" in run.stderr, run.stdout + run.stderr
    assert git(clone, "status", "--porcelain") == "" and git(clone, "tag") == ""
    assert "version: 9.0.0" not in (clone / "galaxy.yml").read_text()


def test_a_release(clone, tmp_path):
    fragments = [n for n in os.listdir(clone / "changelogs" / "fragments") if n.endswith(".yml")]
    assert fragments, "the checkout has no fragments to release"
    run = release(clone, "9.0.0", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert git(clone, "tag") == "v9.0.0" and git(clone, "log", "-1", "--format=%s") == "Release 9.0.0"
    assert git(clone, "status", "--porcelain") == ""
    assert "version: 9.0.0" in (clone / "galaxy.yml").read_text()
    assert r"## v9\.0\.0" in (clone / "CHANGELOG.md").read_text()  # Markdown escapes the dots
    assert not [n for n in os.listdir(clone / "changelogs" / "fragments") if n.endswith(".yml")]
    with tarfile.open(tmp_path / "freifunk-gateway-9.0.0.tar.gz") as tar:
        assert "CHANGELOG.md" in tar.getnames() and "MANIFEST.json" in tar.getnames()
    assert "roles documented" in run.stdout and "internally consistent" in run.stdout
    # the same version again is refused: it is released
    again = release(clone, "9.0.0", tmp_path)
    assert again.returncode != 0 and "not newer" in again.stderr
