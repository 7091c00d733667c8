"""Every collection the roles and playbooks use at run time is declared in
galaxy.yml (dependencies), so that installing the collection brings it.
Modules, filters, tests and lookups are found by their fully qualified names
in task keys, after a pipe or "is", and in lookup()/query() calls; ansible-core's
own (ansible.builtin, ansible.legacy) and the collection's need no entry.
The tests run with only tests/requirements.yml's collections beside it, so an
undeclared use also fails there; this check names it at once."""

import os
import re

import pytest
import yaml

REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
OWN = {"ansible.builtin", "ansible.legacy", "freifunk.gateway"}
FQCN = r"([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*"
USES = [
    re.compile(r"^\s*(?:-\s+)?" + FQCN + r"\s*:", re.M),   # a task's action key
    re.compile(r"\|\s*" + FQCN + r"\b"),                     # a filter
    re.compile(r"\bis\s+(?:not\s+)?" + FQCN + r"\b"),       # a test
    re.compile(r"\b(?:lookup|query|q)\(\s*['\"]" + FQCN),   # a lookup
]


def content_files():
    for top in ("roles", "playbooks"):
        for folder, _dirs, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                if name.endswith((".yml", ".yaml", ".j2")):
                    yield os.path.join(folder, name)


def used_collections(text):
    return {f"{m.group(1)}.{m.group(2)}" for pattern in USES for m in pattern.finditer(text)}


def declared():
    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        return set((yaml.safe_load(handle).get("dependencies") or {}).keys())


@pytest.mark.parametrize("text, used", [
    ("- name: x\n  community.general.ufw:\n    rule: allow\n", {"community.general"}),
    ("  ansible.builtin.copy:\n", {"ansible.builtin"}),
    ("msg: \"{{ x | ansible.utils.ipaddr }}\"", {"ansible.utils"}),
    ("when: x is community.general.a_module", {"community.general"}),
    ("x: \"{{ lookup('community.general.dig', 'a') }}\"", {"community.general"}),
    ("# see os.path.join and fastd.readthedocs.io\n", set()),
])
def test_finds_uses(text, used):
    assert used_collections(text) == used


def test_roles_and_playbooks_use_only_declared_collections():
    undeclared = {}
    allowed = OWN | declared()
    seen = set()
    for path in content_files():
        with open(path) as handle:
            used = used_collections(handle.read())
        seen |= used
        for name in used - allowed:
            undeclared.setdefault(name, []).append(os.path.relpath(path, REPO))
    assert {"ansible.builtin", "freifunk.gateway"} <= seen, "the scan found none of the uses it should"
    assert not undeclared, f"used but not in galaxy.yml dependencies: {undeclared}"
