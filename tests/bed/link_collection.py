"""Make the working tree importable as ansible_collections.freifunk.gateway.

Creates .build/collections/ansible_collections/freifunk/gateway as a symlink to
the repository root, so that pytest, ansible-playbook and molecule use the
collection straight from the checkout. Prints the collections path.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")


def link():
    parent = os.path.join(COLLECTIONS, "ansible_collections", "freifunk")
    target = os.path.join(parent, "gateway")
    os.makedirs(parent, exist_ok=True)
    if not os.path.islink(target):
        os.symlink(os.path.relpath(ROOT, parent), target)
    return COLLECTIONS


if __name__ == "__main__":
    sys.stdout.write(link() + "\n")
