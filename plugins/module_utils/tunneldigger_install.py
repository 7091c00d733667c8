# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Installing the tunneldigger broker from a staged source (module
tunneldigger_install): the source's identity (a digest of its ``broker/``
tree), safe extraction of a source archive, finding ``broker/setup.py``, the
marker of a complete install and which installed versions to prune.

Nothing here runs a program; the module builds the virtualenvs.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import tarfile

try:
    from packaging.version import InvalidVersion, Version
except ImportError:  # pragma: no cover - packaging is optional on the target
    Version = None
    InvalidVersion = ValueError

# Written last into a complete install: without it a folder is a leftover.
MARKER = ".freifunk-gateway-installed"
MARKER_FORMAT = 1
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
LABEL_MAX = 64
DIGEST_CHARS = 12
_LABEL_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_CHECKSUM = re.compile(r"sha256:([0-9a-fA-F]{64})")
_SETUP_VERSION = re.compile(r"""^VERSION\s*=\s*(['"])([^'"\n]+)\1""", re.M)
_INSTALL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*-[0-9a-f]{%d}" % DIGEST_CHARS)

# Run by the venv's python: fails unless the broker imports; prints what
# importlib.metadata says about the installed distribution.
PROBE = r"""
import json, sys
import tunneldigger_broker.broker
from importlib import metadata
version = None
try:
    version = metadata.version("tunneldigger-broker")
except metadata.PackageNotFoundError:
    for dist in metadata.distributions():
        if "tunneldigger_broker" in (dist.read_text("top_level.txt") or "").split():
            version = dist.version
            break
print(json.dumps({"version": version, "python_version": "%d.%d.%d" % sys.version_info[:3]}))
"""


# --- options ----------------------------------------------------------------------

def sanitize_label(label):
    """``label`` as the start of a folder name: runs of characters other than
    letters, digits, '.', '_' and '-' become '_', no leading '.' or '-', at
    most LABEL_MAX characters; '_' when nothing is left."""
    name = _LABEL_BAD.sub("_", label).lstrip(".-")[:LABEL_MAX]
    return name or "_"


def parse_checksum(text):
    """The lowercase hex digest of ``sha256:HEX``; raise ValueError."""
    match = _CHECKSUM.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError("checksum must be sha256: followed by 64 hexadecimal digits, got %r" % (text,))
    return match.group(1).lower()


def is_archive(path):
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def install_name(label, digest):
    """The folder of an install under PREFIX/versions."""
    return "%s-%s" % (sanitize_label(label), digest[:DIGEST_CHARS])


# --- the broker/ tree ---------------------------------------------------------------

def ignored(parts, is_dir):
    """Whether the entry at relative path ``parts`` (a tuple) of broker/ is
    left out of the digest and the build copy: what builds and runs leave
    behind (byte code, egg-info, the top-level build/ folder)."""
    name = parts[-1]
    if name == "__pycache__" or name.endswith(".egg-info"):
        return True
    if is_dir:
        return len(parts) == 1 and name == "build"
    return name.endswith(".pyc")


def _points_outside(rel, target):
    """Whether the symbolic link at relative path ``rel`` (posix) with
    ``target`` leaves the tree it is in (judged by its text)."""
    if target.startswith("/"):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    return resolved == ".." or resolved.startswith("../")


def tree_entries(root):
    """The files and symbolic links of the tree ``root``, as sorted
    ``(relative posix path, kind)`` with kind 'file' or 'link', ignored()
    entries left out. Raise ValueError for other file types and for links
    that point outside the tree."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        base = () if rel_dir == os.curdir else tuple(rel_dir.split(os.sep))
        descend = []
        for name in sorted(dirnames) + sorted(filenames):
            parts = base + (name,)
            rel = "/".join(parts)
            info = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISLNK(info.st_mode):
                if ignored(parts, False):
                    continue
                target = os.readlink(os.path.join(dirpath, name))
                if _points_outside(rel, target):
                    raise ValueError("%s is a symbolic link pointing outside the broker tree (to %s)" % (rel, target))
                entries.append((rel, "link"))
            elif stat.S_ISDIR(info.st_mode):
                if not ignored(parts, True):
                    descend.append(name)
            elif stat.S_ISREG(info.st_mode):
                if not ignored(parts, False):
                    entries.append((rel, "file"))
            else:
                raise ValueError("%s is neither a file, a folder nor a symbolic link" % rel)
        dirnames[:] = descend
    entries.sort()
    return entries


def tree_digest(root):
    """sha256 (hex) of the tree ``root``: its files' relative paths and
    contents and its links' relative paths and targets, in sorted order,
    without ignored() entries. Modes and times do not count."""
    digest = hashlib.sha256(b"freifunk.gateway tunneldigger broker tree 1\0")
    for rel, kind in tree_entries(root):
        path = os.path.join(root, *rel.split("/"))
        if kind == "link":
            digest.update(b"L\0" + rel.encode("utf-8", "surrogateescape") + b"\0"
                          + os.fsencode(os.readlink(path)) + b"\0")
        else:
            digest.update(b"F\0" + rel.encode("utf-8", "surrogateescape") + b"\0"
                          + file_sha256(path).encode("ascii") + b"\0")
    return digest.hexdigest()


def copy_tree(root, dest):
    """Copy the tree ``root`` to the new folder ``dest`` as tree_digest() sees
    it (ignored() entries left out, links copied as links)."""
    def ignore(dirpath, names):
        rel_dir = os.path.relpath(dirpath, root)
        base = () if rel_dir == os.curdir else tuple(rel_dir.split(os.sep))
        return {name for name in names
                if ignored(base + (name,), os.path.isdir(os.path.join(dirpath, name))
                           and not os.path.islink(os.path.join(dirpath, name)))}
    shutil.copytree(root, dest, symlinks=True, ignore=ignore)


def find_source_root(top):
    """The folder holding ``broker/setup.py``: ``top`` itself or exactly one
    of its folders. Raise ValueError otherwise."""
    if os.path.isfile(os.path.join(top, "broker", "setup.py")):
        return top
    found = [name for name in sorted(os.listdir(top))
             if os.path.isdir(os.path.join(top, name))
             and os.path.isfile(os.path.join(top, name, "broker", "setup.py"))]
    if not found:
        raise ValueError("found no broker/setup.py, neither at the top nor in a folder of it: "
                         "is this a tunneldigger source?")
    if len(found) > 1:
        raise ValueError("found broker/setup.py in more than one folder (%s): which one is meant?"
                         % ", ".join(found))
    return os.path.join(top, found[0])


def normalize_version(text):
    """``text`` the way packaging (and so pip and importlib.metadata) spells
    it, when packaging is there and accepts it; else unchanged."""
    if Version is None:
        return text
    try:
        return str(Version(text))
    except InvalidVersion:
        return text


def setup_version(setup_py):
    """The version from ``VERSION = '...'`` in setup.py (normalized), or None."""
    try:
        with open(setup_py, encoding="utf-8", errors="replace") as handle:
            match = _SETUP_VERSION.search(handle.read())
    except OSError:
        return None
    return normalize_version(match.group(2).strip()) if match else None


# --- archives -----------------------------------------------------------------------

def _member_parts(name, what="member"):
    """The components of an archive member name; raise ValueError for
    absolute names and names with '..'."""
    if name.startswith("/") or re.match(r"[A-Za-z]:[\\/]", name):
        raise ValueError("refusing %s %s: an absolute path" % (what, name))
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError("refusing %s %s: it leads out of the folder with '..'" % (what, name))
    return tuple(parts)


def check_members(members):
    """Raise ValueError unless extracting the tarfile ``members`` only writes
    regular files, folders and links inside the target folder: no absolute
    paths, no '..', no links pointing outside, nothing written through a
    link, no device files, fifos or other special files, no name twice."""
    seen = {}
    links = set()
    for member in members:
        parts = _member_parts(member.name)
        if not parts:
            if member.isdir():
                continue
            raise ValueError("refusing member %r: not a folder, but it names the top" % member.name)
        if parts in seen:
            raise ValueError("refusing member %s: it is in the archive twice" % member.name)
        if member.issym():
            if _points_outside("/".join(parts), member.linkname):
                raise ValueError("refusing member %s: a symbolic link pointing outside the folder (to %s)"
                                 % (member.name, member.linkname))
            links.add(parts)
        elif member.islnk():
            target = _member_parts(member.linkname, "hard link target")
            if seen.get(target) != "file":
                raise ValueError("refusing member %s: a hard link to %s, which is not a file before it "
                                 "in the archive" % (member.name, member.linkname))
            links.add(parts)
        elif not (member.isreg() or member.isdir()):
            raise ValueError("refusing member %s: a device file, fifo or other special file" % member.name)
        seen[parts] = "file" if member.isreg() else "other"
    for parts in seen:
        for end in range(1, len(parts)):
            if parts[:end] in links:
                raise ValueError("refusing member %s: it would be written through the link %s"
                                 % ("/".join(parts), "/".join(parts[:end])))


def safe_extract(archive, dest):
    """Extract the tar archive ``archive`` (plain or compressed) into the
    existing folder ``dest`` after check_members(); with tarfile's 'data'
    filter where this Python has it, else with the same limits by hand (no
    owners from the archive, no setuid/setgid/sticky or group/other write
    bits). Raise ValueError, tarfile.TarError or OSError."""
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        check_members(members)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")  # pylint: disable=unexpected-keyword-arg
            return
        for member in members:
            member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
            if member.isdir():
                member.mode = (member.mode & 0o755) | 0o700
            elif member.isreg() or member.islnk():
                member.mode = (member.mode & 0o755) | 0o600
        tar.extractall(dest, members=members)


# --- installs -----------------------------------------------------------------------

def marker_text(digest, version, label, python, python_version, src):
    return json.dumps(dict(format=MARKER_FORMAT, digest=digest, version=version, label=label,
                           python=python, python_version=python_version, src=src),
                      indent=2, sort_keys=True) + "\n"


def read_marker(folder):
    """The marker of the install ``folder`` as a dict, or None (no marker,
    unreadable or not ours: the folder is then not a complete install)."""
    path = os.path.join(folder, MARKER)
    if os.path.islink(folder) or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("digest"), str):
        return None
    return data


def installed(versions_dir):
    """The complete installs under ``versions_dir`` (folders named like
    install_name() that hold a marker), most recently installed or
    activated first (by the marker's mtime, which activation renews)."""
    try:
        names = os.listdir(versions_dir)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        folder = os.path.join(versions_dir, name)
        if not _INSTALL_NAME.fullmatch(name) or read_marker(folder) is None:
            continue
        found.append((os.stat(os.path.join(folder, MARKER)).st_mtime_ns, name))
    found.sort(key=lambda item: (-item[0], item[1]))
    return [name for _mtime, name in found]


def prune_plan(names, current, replaced, keep):
    """Which of the installs ``names`` (newest first, see installed()) to
    remove: all but ``current`` and the ``keep`` newest others, where
    ``replaced`` (the install that was current before, or None) counts as the
    newest; the newest other is always kept, so keep=0 still leaves one
    version to roll back to."""
    others = [name for name in names if name != current]
    if replaced in others:
        others.remove(replaced)
        others.insert(0, replaced)
    return others[max(keep, 1):]


def tail(text, lines=30, chars=4000):
    """The last ``lines`` lines (at most ``chars`` characters) of ``text``."""
    text = "\n".join(text.rstrip().splitlines()[-lines:])
    return text[-chars:]
