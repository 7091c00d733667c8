# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writing files the way the collection's modules do."""

from __future__ import annotations

import os
import re
import tempfile

from ansible_collections.freifunk.gateway.plugins.module_utils.rules import describe


def parse_mode(mode):
    """A file mode given as octal string ('0644') or int; raise ValueError."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        value = mode
    elif isinstance(mode, str) and re.fullmatch(r"0?[0-7]{3,4}", mode):
        value = int(mode, 8)
    else:
        raise ValueError("mode must be an octal string such as '0644', got %s" % describe(mode))
    if not 0 <= value <= 0o7777:
        raise ValueError("mode %o is out of range" % value)
    return value


def atomic_write(path, data, mode, fsync=False):
    """Write ``data`` (bytes) to ``path`` through a hidden temporary file in the
    same directory that has ``mode`` before any byte is written, then rename."""
    directory, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".", dir=directory or ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_symlink(target, path):
    """Make ``path`` a symbolic link to ``target`` in one rename: a symbolic
    link made under a hidden temporary name in the same directory replaces
    what ``path`` was (a link or a file; a directory raises OSError and is
    kept), so readers see the old link or the new one, never none."""
    directory, base = os.path.split(path)
    for _attempt in range(100):
        tmp = os.path.join(directory or ".", ".%s.%s" % (base, os.urandom(6).hex()))
        try:
            os.symlink(target, tmp)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError("no free temporary name for the link %s" % path)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
