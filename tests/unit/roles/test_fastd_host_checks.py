"""The fastd role skips its host checks (tasks/host.yml) when the host passed
them for the same settings earlier in the run (tasks/main.yml compares
__fastd_host_checks). That is right only while __fastd_host_checks covers
every variable the checks read: a setting the checks use but the comparison
leaves out could change between two plays and go unchecked. This test
follows every variable of the checks (and of the l2tp role's host check
they include) back through the roles' vars/main.yml to the settings they
come from, and the same for __fastd_host_checks, and compares the two."""

import os

import jinja2
import jinja2.nodes
import yaml

REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
ROLES = os.path.join(REPO, "roles")
# Keys whose value is a bare Jinja expression.
EXPRESSION_KEYS = {"when", "that", "failed_when", "changed_when", "until"}

ENV = jinja2.Environment()
# Ansible's own names, not settings.
MAGIC = {"item", "omit", "ansible_check_mode", "ansible_facts", "inventory_hostname"}


def load(*parts):
    with open(os.path.join(ROLES, *parts)) as handle:
        return yaml.safe_load(handle)


def names_in(text, expression=False):
    if not isinstance(text, str):
        return set()
    source = "{{ %s }}" % text if expression else text
    # Read from the syntax tree: compiling would need the collection's filters.
    names = {(n.name, n.ctx) for n in ENV.parse(source).find_all(jinja2.nodes.Name)}
    return {name for name, ctx in names if ctx == "load"} - {name for name, ctx in names if ctx == "store"}


def task_names(tasks):
    """(variables read, variables the tasks define themselves) of a task list."""
    read, local = set(), set()

    def walk(value, key=None):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        else:
            read.update(names_in(value, expression=key in EXPRESSION_KEYS))

    for task in tasks:
        local.update([task["register"]] if "register" in task else [])
        local.update(task.get("vars", {}))
        local.update(task.get("ansible.builtin.set_fact", {}))
        walk(task)
    return read, local


def settings(names, definitions):
    """The names, with every role variable replaced by what its definition reads, to the end."""
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in found or name in MAGIC:
            continue
        found.add(name)
        if name in definitions:
            todo.extend(names_in(definitions[name]))
    return {n for n in found if n not in definitions}


def definitions():
    merged = {}
    for role in ("fastd", "l2tp"):
        merged.update(load(role, "vars", "main.yml"))
    return merged


def host_check_settings():
    defs = definitions()
    fastd_read, fastd_local = task_names(load("fastd", "tasks", "host.yml"))
    l2tp_read, l2tp_local = task_names(load("l2tp", "tasks", "host.yml"))
    include = next(t for t in load("fastd", "tasks", "host.yml") if "ansible.builtin.include_role" in t)
    # l2tp_purpose is passed in by the include (its vars), so it is what the include reads.
    l2tp_read -= set(include["vars"])
    local = (fastd_local | l2tp_local) - set(include["vars"]) - {"__fastd_host_passed"}
    return settings((fastd_read | l2tp_read) - local, defs)


def test_the_skip_compares_every_setting_the_host_checks_read():
    compared = settings(names_in(definitions()["__fastd_host_checks"]), definitions())
    read = host_check_settings()
    assert read, "found no variables in tasks/host.yml"
    assert read - compared == set(), (
        "tasks/host.yml reads settings __fastd_host_checks (roles/fastd/vars/main.yml) leaves out; "
        "add them there, or the host check is skipped when only they changed: %s" % sorted(read - compared))


def test_the_skip_compares_the_settings_it_is_meant_to():
    # What the checks are about: if this list shrinks, the test above lost its teeth.
    assert {"fastd_instances", "fastd_preflight", "batman_adv_meshes"} <= host_check_settings()


def test_main_runs_the_checks_unless_passed_for_the_same_settings():
    main = load("fastd", "tasks", "main.yml")
    host = next(t for t in main if t.get("ansible.builtin.import_tasks") == "host.yml")
    assert host["when"] == "__fastd_host_passed | default(none) != __fastd_host_checks"
    last = load("fastd", "tasks", "host.yml")[-1]
    assert last["ansible.builtin.set_fact"] == {"__fastd_host_passed": "{{ __fastd_host_checks }}"}
