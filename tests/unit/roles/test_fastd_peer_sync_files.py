"""The role installs on the gateway every collection file that
freifunk-fastd-peers imports (roles/fastd/vars/main.yml), and the program
looks for them where the role puts them."""

import ast
import os

import yaml

REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
PREFIX = "ansible_collections.freifunk.gateway.plugins.module_utils."


def _vars():
    with open(os.path.join(REPO, "roles", "fastd", "vars", "main.yml")) as handle:
        return yaml.safe_load(handle)


def _imports(name):
    with open(os.path.join(MODULE_UTILS, name)) as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PREFIX):
            found.add(node.module[len(PREFIX):] + ".py")
        elif isinstance(node, ast.ImportFrom) and node.module == PREFIX.rstrip("."):
            found.update(alias.name + ".py" for alias in node.names)
    return found


def test_every_imported_file_is_installed():
    wanted, todo = set(), ["fastd_peer_sync.py"]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(_imports(name))
    assert sorted(wanted) == sorted(_vars()["__fastd_peer_sync_modules"])


def test_the_program_reads_them_where_the_role_puts_them():
    with open(os.path.join(REPO, "roles", "fastd", "files", "freifunk-fastd-peers")) as handle:
        text = handle.read()
    assert 'sys.path.insert(0, "%s")' % _vars()["__fastd_peer_sync_lib"] in text
    assert PREFIX + "fastd_peer_sync import main" in text
