#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tunneldigger_install
short_description: Install the tunneldigger broker into a virtualenv per version
version_added: 0.1.0
description:
  - Installs the tunneldigger broker from a source already on the host (O(src)) into its own
    Python virtualenv C(PREFIX/versions/LABEL-DIGEST), and points the symbolic link
    C(PREFIX/current) at it. The brokers run C(PREFIX/current/bin/python) (the tunneldigger role's launcher starts C(tunneldigger_broker.main)).
  - DIGEST is the first 12 hexadecimal digits of a sha256 over the source's C(broker/) tree (relative
    paths and contents of its files, in sorted order; byte code, C(__pycache__), C(*.egg-info) and a
    top-level C(build/) left out). The same source gives the same folder, whether it comes as an
    archive or as a checkout.
  - A folder that holds a complete install of that source (its marker file
    C(.freifunk-gateway-installed) names the digest and O(python), and the broker imports with the
    folder's python) is used as it is. Otherwise the module builds it, at its final path (a virtualenv
    cannot be moved), from a copy of C(broker/) in a temporary folder next to it, with
    C(python -m venv) and C(pip install --no-index --find-links WHEELS), so pip never contacts a package index.
    The marker is written last; a failed build leaves no folder behind and reports the end of pip's output.
  - C(PREFIX/current) is replaced in one rename. Brokers that are running keep the modules they
    loaded; they use the new version when restarted. The version that was current before stays
    installed for a rollback.
  - Installs besides the current one beyond O(keep) are removed, oldest first (by when they were
    installed or last made current).
author:
  - freifunk.gateway maintainers (@freifunk-gateway)
requirements:
  - Python 3.8 or later with the venv module on the target (Debian C(python3-venv))
  - The setuptools and wheel wheels in O(wheels) (Debian C(python3-setuptools-whl), C(python3-wheel-whl))
extends_documentation_fragment:
  - freifunk.gateway.attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode computes the digest (an archive is verified and unpacked in a temporary folder that
        is removed) and reports what would be built, switched and removed, changing nothing.
      - When a build would be needed, RV(version) comes from C(VERSION = '...') in C(broker/setup.py).
      - When O(src) does not exist yet (a step that would stage it did not run in check mode), the
        module reports C(changed) with RV(path), RV(digest) and RV(version) V(null) and a warning.
  diff_mode:
    support: full
    details:
      - The diff shows what C(PREFIX/current) points to and the version installed there, before and after.
options:
  src:
    description:
      - The broker's source on the host. Either a directory that holds C(broker/setup.py) itself or in
        exactly one of its folders (for example a git checkout or an unpacked archive), or a source
        archive ending in C(.tar.gz), C(.tgz) or C(.tar) whose content is laid out the same way (for
        example a GitHub tag archive).
      - Archives are checked before anything is unpacked. Absolute paths, C(..), links pointing
        outside, files written through links, device files and fifos are refused.
    type: path
    required: true
  checksum:
    description:
      - The archive's sha256, as V(sha256:HEX). Required when O(src) is an archive, and compared
        before it is unpacked; not allowed for a directory.
    type: str
  label:
    description:
      - The version asked for, as the admin wrote it (a tag such as V(v0.4.0) or a commit). It names
        the install's folder; characters other than letters, digits, C(.), C(_) and C(-) become C(_).
    type: str
    required: true
  prefix:
    description: Where the installs (C(versions/)) and the link C(current) are.
    type: path
    default: /opt/tunneldigger
  python:
    description: The Python interpreter the virtualenvs are made with.
    type: path
    default: /usr/bin/python3
  wheels:
    description:
      - A folder of wheels pip takes the build requirements (setuptools, wheel) from, instead of a
        package index.
    type: path
    default: /usr/share/python-wheels
  keep:
    description:
      - How many installs to keep besides the current one; older ones are removed.
      - The one that was current before is always kept, also with V(0).
      - Only folders with the module's marker are ever removed.
    type: int
    default: 2
notes:
  - A folder whose name an install needs but that has no marker (left by an interrupted run) is removed
    and built anew. A complete install whose marker names another O(python), or whose broker no longer
    imports (for example after a Python upgrade), is rebuilt in place; when that fails it is put back.
  - The module takes no lock; the role freifunk.gateway.tunneldigger runs it holding its brokers' locks.
seealso:
  - name: tunneldigger
    description: The broker's source, installed with pip from the repository's C(broker/) folder.
    link: https://github.com/wlanslovenija/tunneldigger
"""

EXAMPLES = r"""
- name: Install the broker from a checkout made by ansible.builtin.git
  freifunk.gateway.tunneldigger_install:
    src: /opt/tunneldigger/src/git
    label: v0.4.0
  register: __tunneldigger_install

- name: Install the broker from an archive
  freifunk.gateway.tunneldigger_install:
    src: /opt/tunneldigger/src/tunneldigger-v0.4.0.tar.gz
    checksum: sha256:71a8ff69764fd9a632147805e09b4b7ed8b1cd402ed0ecb7968aa1609f878b33
    label: v0.4.0
    keep: 1
"""

RETURN = r"""
version:
  description:
    - The broker's version as importlib.metadata reports it for the install (normalized, for example
      V(0.4.1.dev1) for C(0.4.1-dev1) in C(setup.py)).
    - In check mode, when a build would be needed, taken from C(broker/setup.py) (normalized when the
      packaging library is there).
  returned: always
  type: str
  sample: 0.4.0
path:
  description: The install's folder, which C(PREFIX/current) points to after the run.
  returned: always
  type: str
  sample: /opt/tunneldigger/versions/v0.4.0-3f2a9c0d1b7e
python:
  description: The install's python, RV(path)C(/bin/python).
  returned: always
  type: str
  sample: /opt/tunneldigger/versions/v0.4.0-3f2a9c0d1b7e/bin/python
digest:
  description: The sha256 (hexadecimal) of the source's C(broker/) tree.
  returned: always
  type: str
  sample: 3f2a9c0d1b7e54a6c02d3e8f1a9b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b
built:
  description: Whether a virtualenv was (or in check mode would be) built.
  returned: always
  type: bool
  sample: true
previous:
  description:
    - What C(PREFIX/current) pointed to before, when this run moved it (or would, in check mode);
      V(null) when it was not moved or did not exist.
  returned: always
  type: str
  sample: /opt/tunneldigger/versions/v0.3.0-0a1b2c3d4e5f
removed:
  description: The install folders that were (or would be) removed because of O(keep).
  returned: always
  type: list
  elements: str
  sample: [/opt/tunneldigger/versions/v0.2.0-9f8e7d6c5b4a]
"""

import glob
import json
import os
import shutil
import tarfile
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.freifunk.gateway.plugins.module_utils import tunneldigger_install as ti
from ansible_collections.freifunk.gateway.plugins.module_utils.files import atomic_symlink, atomic_write

# Programs run with a clean Python environment and no pip configuration.
ENVIRON = {"PYTHONPATH": "", "PYTHONHOME": "", "PIP_CONFIG_FILE": os.devnull}


class InstallError(Exception):
    """A failed step; ``output`` is the end of what the program printed."""

    def __init__(self, msg, output=None):
        super().__init__(msg)
        self.output = output


def run(module, args, what, cwd=None):
    rc, out, err = module.run_command(args, cwd=cwd, environ_update=ENVIRON)
    if rc != 0:
        output = ti.tail("\n".join(part for part in (out, err) if part.strip()))
        raise InstallError("%s failed (rc=%d), %s" % (
            what, rc, "the end of its output:\n" + ti.tail(output, lines=15) if output else "without output"), output)
    return out


def probe(module, folder):
    """What the install ``folder``'s python says about its broker (a dict
    with version and python_version), or None when the broker does not import."""
    python = os.path.join(folder, "bin", "python")
    if not os.path.exists(python):
        return None
    rc, out, _err = module.run_command([python, "-I", "-B", "-c", ti.PROBE], environ_update=ENVIRON)
    if rc != 0:
        return None
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def remove(path):
    """Remove the folder (or anything) ``path``: renamed to a hidden name
    first, so no half-removed folder is ever left under its own name."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        directory, base = os.path.split(path)
        aside = tempfile.mkdtemp(prefix=".remove-%s-" % base, dir=directory)
        moved = os.path.join(aside, base)
        os.rename(path, moved)
        shutil.rmtree(aside)
    else:
        os.unlink(path)


def build(module, broker, target, digest, label, src):
    """Build the install ``target`` from the broker tree ``broker``; return
    what probe() says about it. Raise InstallError; leave no folder at
    ``target`` then (a complete install that was there is put back)."""
    python, wheels = module.params["python"], module.params["wheels"]
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise InstallError("python %s does not exist or is not executable" % python)
    if not glob.glob(os.path.join(glob.escape(wheels), "setuptools-*.whl")):
        raise InstallError("%s holds no setuptools wheel for pip to build the broker with: install the "
                           "Debian packages python3-setuptools-whl and python3-wheel-whl" % wheels)
    versions = os.path.dirname(target)
    os.makedirs(versions, mode=0o755, exist_ok=True)
    aside = None
    if ti.read_marker(target) is not None:
        # A complete install that no longer fits: kept aside until the new one is done.
        aside = tempfile.mkdtemp(prefix=".replaced-%s-" % os.path.basename(target), dir=versions)
        aside = os.path.join(aside, os.path.basename(target))
        os.rename(target, aside)
    else:
        remove(target)  # left by an interrupted run
    work = tempfile.mkdtemp(prefix=".build-%s-" % os.path.basename(target), dir=versions)
    created = done = False
    try:
        copy = os.path.join(work, "broker")
        ti.copy_tree(broker, copy)
        if ti.tree_digest(copy) != digest:
            raise InstallError("the source changed while it was read: try again")
        os.mkdir(target, 0o755)
        created = True
        run(module, [python, "-I", "-m", "venv", target], "python -m venv")
        venv_python = os.path.join(target, "bin", "python")
        run(module, [venv_python, "-I", "-m", "pip", "--isolated", "install", "--disable-pip-version-check",
                     "--no-input", "--no-cache-dir", "--no-index", "--find-links", wheels, "--use-pep517", copy],
            "pip install of the broker", cwd=work)
        found = probe(module, target)
        if found is None:
            run(module, [venv_python, "-I", "-B", "-c", ti.PROBE], "importing the installed broker")
            raise InstallError("the installed broker does not report its version")
        atomic_write(os.path.join(target, ti.MARKER),
                     ti.marker_text(digest, found["version"], label, python, found["python_version"], src).encode(),
                     0o644, fsync=True)
        done = True
        return found
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not done:
            if created:
                shutil.rmtree(target, ignore_errors=True)
            if aside:
                os.rename(aside, target)
        if aside:
            shutil.rmtree(os.path.dirname(aside), ignore_errors=True)


def read_current(module, link):
    """The absolute path ``link`` points to, or None when there is no link."""
    if not os.path.lexists(link):
        return None
    if not os.path.islink(link):
        module.fail_json(msg="%s exists and is not a symbolic link: refusing to replace it" % link)
    return os.path.normpath(os.path.join(os.path.dirname(link), os.readlink(link)))


def describe(path, version):
    return "current: %s\nversion: %s\n" % (path or "(none)", version or "(none)")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            checksum=dict(type="str"),
            label=dict(type="str", required=True),
            prefix=dict(type="path", default="/opt/tunneldigger"),
            python=dict(type="path", default="/usr/bin/python3"),
            wheels=dict(type="path", default="/usr/share/python-wheels"),
            keep=dict(type="int", default=2),
        ),
        supports_check_mode=True,
    )
    p = module.params
    src, prefix, check = p["src"], os.path.abspath(p["prefix"]), module.check_mode
    if not p["label"].strip():
        module.fail_json(msg="label must not be empty")
    if p["keep"] < 0:
        module.fail_json(msg="keep must be 0 or more, got %d" % p["keep"])
    versions = os.path.join(prefix, "versions")
    link = os.path.join(prefix, "current")
    before = read_current(module, link)
    before_version = (ti.read_marker(before) or {}).get("version") if before else None

    if not os.path.exists(src):
        if check:
            note = ("src %s does not exist (yet): in check mode, reporting that the broker would be installed "
                    "without knowing which version" % src)
            module.warn(note)
            module.exit_json(changed=True, msg=note, version=None, path=None, python=None, digest=None, built=True,
                             previous=None, removed=[])
        module.fail_json(msg="src %s does not exist" % src)
    archive = os.path.isfile(src)
    if archive:
        if not ti.is_archive(src):
            module.fail_json(msg="src %s is a file but not a .tar.gz, .tgz or .tar archive" % src)
        if not p["checksum"]:
            module.fail_json(msg="checksum is required when src is an archive (%s)" % src)
        try:
            expected = ti.parse_checksum(p["checksum"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        try:
            actual = ti.file_sha256(src)
        except OSError as exc:
            module.fail_json(msg="cannot read src %s: %s" % (src, exc))
        if actual != expected:
            module.fail_json(msg="checksum mismatch for %s: expected sha256:%s, got sha256:%s"
                             % (src, expected, actual), expected=expected, actual=actual)
    elif not os.path.isdir(src):
        module.fail_json(msg="src %s is neither a directory nor a file" % src)
    elif p["checksum"]:
        module.fail_json(msg="checksum is for archives, but src %s is a directory" % src)

    unpacked = tempfile.mkdtemp(prefix="tunneldigger-src-") if archive else None
    try:
        try:
            if archive:
                ti.safe_extract(src, unpacked)
            broker = os.path.join(ti.find_source_root(unpacked or src), "broker")
            digest = ti.tree_digest(broker)
        except (ValueError, OSError, EOFError, tarfile.TarError) as exc:
            module.fail_json(msg="cannot use src %s: %s" % (src, exc))
        target = os.path.join(versions, ti.install_name(p["label"], digest))
        marker = ti.read_marker(target)
        found = None
        if marker is not None and marker.get("digest") == digest and marker.get("python") == p["python"]:
            found = probe(module, target)
        built = found is None
        if built and check:
            found = dict(version=ti.setup_version(os.path.join(broker, "setup.py")))
        elif built:
            try:
                found = build(module, broker, target, digest, p["label"], src)
            except InstallError as exc:
                module.fail_json(msg="installing the broker from %s into %s: %s" % (src, target, exc),
                                 output=exc.output)
            except OSError as exc:
                module.fail_json(msg="installing the broker from %s into %s: %s" % (src, target, exc))
    finally:
        if unpacked:
            shutil.rmtree(unpacked, ignore_errors=True)

    moved = before != target
    if moved and not check:
        try:
            atomic_symlink(target, link)
            now = time.time()
            os.utime(os.path.join(target, ti.MARKER), (now, now))  # made current: newest for prune_plan
        except OSError as exc:
            module.fail_json(msg="cannot point %s at %s: %s" % (link, target, exc))
    names = ti.installed(versions)
    replaced = os.path.basename(before) if moved and before and os.path.dirname(before) == versions else None
    removed = [os.path.join(versions, name)
               for name in ti.prune_plan(names, os.path.basename(target), replaced, p["keep"])]
    if not check:
        for path in removed:
            try:
                remove(path)
            except OSError as exc:
                module.fail_json(msg="cannot remove the old install %s: %s" % (path, exc))

    result = dict(changed=built or moved or bool(removed), version=found["version"], path=target,
                  python=os.path.join(target, "bin", "python"), digest=digest, built=built,
                  previous=before if moved else None, removed=removed)
    if module._diff:
        result["diff"] = dict(before_header=link, after_header=link,
                              before=describe(before, before_version), after=describe(target, found["version"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
