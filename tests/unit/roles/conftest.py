"""Helpers for the tests of programs the roles install on the gateway with
the collection's module_utils they import."""

import ast
import os

import pytest
import yaml

REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
PREFIX = "ansible_collections.freifunk.gateway.plugins.module_utils."


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


@pytest.fixture
def role_vars():
    """role name -> that role's vars/main.yml as data."""
    def read(role):
        with open(os.path.join(REPO, "roles", role, "vars", "main.yml")) as handle:
            return yaml.safe_load(handle)
    return read


@pytest.fixture
def imported_files():
    """module_utils file name -> it and every module_utils file it imports, sorted."""
    def closure(start):
        wanted, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo.extend(_imports(name))
        return sorted(wanted)
    return closure
