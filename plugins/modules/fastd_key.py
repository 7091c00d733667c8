#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fastd_key
short_description: Ensure a fastd instance has a secret key
version_added: 0.1.0
description:
  - Makes sure the file O(path) holds a fastd secret key as a C(secret "...";) line,
    for C(include) from C(fastd.conf).
  - Keeps a valid existing key. Generates a new key with C(fastd --generate-key) when the
    file is missing. Replaces the key when O(secret) is given and differs.
  - Returns the public key (from C(fastd --show-key)); never returns or logs the secret.
    The diff shows public keys only.
author:
  - freifunk.gateway maintainers (@freifunk-gateway)
requirements:
  - fastd 22 or later on the target
extends_documentation_fragment:
  - freifunk.gateway.attributes
attributes:
  check_mode:
    support: full
    details:
      - When a key would be generated, RV(public_key) is V(null) in check mode.
  diff_mode:
    support: full
    details:
      - The diff shows the public key before and after, never the secret.
options:
  path:
    description:
      - File holding the secret key, for example C(/etc/fastd/mesh0/secret.conf).
      - Its directory must exist.
    type: path
    required: true
  secret:
    description:
      - The secret key to use (64 hexadecimal digits), typically from a vaulted variable.
      - Omit it to keep the current key or to generate one on the target.
    type: str
  mode:
    description:
      - Permissions of O(path), as an octal string such as V('0600').
      - A new key file is written as 0600 and then given this mode, so the secret is never readable by others while it is written.
    type: raw
    default: '0600'
  owner:
    description: Owner of O(path). Unchanged when omitted.
    type: str
  group:
    description: Group of O(path). Unchanged when omitted.
    type: str
notes:
  - An existing file without a valid C(secret "...";) line is only replaced when O(secret) is
    given; otherwise the module fails, because a new key would lock out every node that
    knows the old public key.
seealso:
  - name: fastd configuration
    description: The C(secret) option and the C(--generate-key) and C(--show-key) commands.
    link: https://fastd.readthedocs.io/en/stable/manual/config.html
  - module: freifunk.gateway.fastd_peers
"""

EXAMPLES = r"""
- name: Ensure the instance has a key (generated on the gateway if missing)
  freifunk.gateway.fastd_key:
    path: /etc/fastd/mesh0/secret.conf
  register: __fastd_key

- name: Show the public key for the site.conf of the nodes
  ansible.builtin.debug:
    msg: "{{ __fastd_key.public_key }}"

- name: Use a key from the vault
  freifunk.gateway.fastd_key:
    path: /etc/fastd/mesh0/secret.conf
    secret: "{{ vault_fastd_secret }}"
    owner: root
    group: root
"""

RETURN = r"""
public_key:
  description:
    - The public key of the secret in O(path) (after the change).
    - V(null) in check mode when a key would be generated.
  returned: always
  type: str
  sample: 84ddcfa9c8887a361f4ee619d79a642c50acd0d04a2b3109ab65a85e34f24f0f
path:
  description: The key file.
  returned: always
  type: str
  sample: /etc/fastd/mesh0/secret.conf
generated:
  description: Whether a new key was (or in check mode would be) generated.
  returned: always
  type: bool
  sample: false
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import validate_key
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_render import parse_secret, render_secret


def show_key(module, fastd, secret):
    """The public key of ``secret``, computed by fastd from a config on stdin."""
    rc, out, err = module.run_command(
        [fastd, "--show-key", "--machine-readable", "--config", "-"], data=render_secret(secret))
    public = out.strip()
    if rc != 0 or validate_key(public):
        module.fail_json(msg="fastd does not accept the secret key: %s" % (err.strip() or "rc=%d" % rc))
    return public


def generate_key(module, fastd):
    rc, out, err = module.run_command([fastd, "--generate-key", "--machine-readable"])
    secret = out.strip()
    if rc != 0 or validate_key(secret, what="secret"):
        module.fail_json(msg="fastd --generate-key failed: %s" % (err.strip() or "rc=%d" % rc))
    return secret


def write_new(module, path, text, exclusive):
    """Write ``text`` to ``path`` through a 0600 temporary file in the same
    directory. ``exclusive``: only if ``path`` does not exist yet (a hard link
    is atomic create-if-absent), returning False when another run was first;
    otherwise replace ``path`` atomically."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if not exclusive:
            module.atomic_move(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def read_secret(module, path):
    if not os.path.isfile(path) or os.path.islink(path):
        module.fail_json(msg="%s exists but is not a regular file" % path)
    with open(path) as handle:
        return parse_secret(handle.read())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            secret=dict(type="str", no_log=True),
            mode=dict(type="raw", default="0600"),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    given = module.params["secret"]
    if given is not None:
        errors = validate_key(given, "secret", what="secret")
        if errors:
            module.fail_json(msg=errors[0])
        given = given.lower()
    # In check mode on a fresh host, fastd and the directory may not exist
    # yet: the module then predicts instead of failing.
    fastd = module.get_bin_path("fastd", required=not module.check_mode)
    directory_ok = os.path.isdir(os.path.dirname(path) or ".")

    current = None
    if os.path.lexists(path):
        current = read_secret(module, path)
        if current is None and given is None:
            module.fail_json(msg="%s holds no valid `secret \"...\";` line; refusing to replace it "
                                 "with a new key (that would lock out every node configured with "
                                 "the old public key): fix or remove the file, or pass secret"
                             % path)
    elif not directory_ok and not module.check_mode:
        module.fail_json(msg="the directory of %s does not exist" % path)

    def public_of(secret):
        return show_key(module, fastd, secret) if secret and fastd else None

    before = public_of(current)
    secret, public, generated = current, before, False
    if given is not None and given != current:
        secret, public = given, public_of(given)
    elif current is None:
        generated = True
        if module.check_mode:
            secret, public = None, None
        else:
            secret = generate_key(module, fastd)
            public = show_key(module, fastd, secret)

    changed = generated or secret != current
    if changed and not module.check_mode:
        text = render_secret(secret)
        if not write_new(module, path, text, exclusive=current is None):
            # Another run created the key between our look and our write:
            # keep theirs, so every run reports the key that is on disk.
            secret = read_secret(module, path)
            if secret is None:
                module.fail_json(msg="%s appeared during this run without a valid key" % path)
            if given is not None and given != secret:
                write_new(module, path, render_secret(given), exclusive=False)
                secret = given
            else:
                generated, changed = False, False
            public = show_key(module, fastd, secret)
    if os.path.exists(path):
        changed = module.set_mode_if_different(path, module.params["mode"], changed)
        changed = module.set_owner_if_different(path, module.params["owner"], changed)
        changed = module.set_group_if_different(path, module.params["group"], changed)

    result = dict(changed=changed, path=path, public_key=public, generated=generated)
    if module._diff:
        result["diff"] = dict(
            before_header=path, after_header=path,
            before="public key: %s\n" % before if before else "",
            after="public key: %s\n" % (public or ("(generated when applied)" if generated else "(known when applied)")))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
