"""The role metrics installs on the gateway every collection file that
freifunk-gateway-metrics imports (roles/metrics/vars/main.yml), where the
role fastd puts those of its own program, and the program looks for them
there."""

import ast
import os

import yaml

REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
PREFIX = "ansible_collections.freifunk.gateway.plugins.module_utils."


def _vars(role):
    with open(os.path.join(REPO, "roles", role, "vars", "main.yml")) as handle:
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
    wanted, todo = set(), ["gateway_numbers.py"]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(_imports(name))
    assert sorted(wanted) == sorted(_vars("metrics")["__metrics_modules"])


def test_the_same_folder_as_the_fastd_roles_program():
    metrics, fastd = _vars("metrics"), _vars("fastd")
    assert metrics["__metrics_lib"] == fastd["__fastd_peer_sync_lib"]
    assert metrics["__metrics_package"] == fastd["__fastd_peer_sync_package"]


def test_the_program_reads_them_where_the_role_puts_them():
    with open(os.path.join(REPO, "roles", "metrics", "files", "freifunk-gateway-metrics")) as handle:
        text = handle.read()
    assert 'sys.path.insert(0, "%s")' % _vars("metrics")["__metrics_lib"] in text
    assert PREFIX + "gateway_numbers import main" in text


def test_the_defaults_agree_with_the_program():
    from ansible_collections.freifunk.gateway.plugins.module_utils import gateway_numbers
    metrics = _vars("metrics")
    assert metrics["__metrics_config"] == gateway_numbers.CONFIG_FILE
    assert metrics["__metrics_exporter_textfile_default"] == gateway_numbers.EXPORTER_TEXTFILE_DEFAULT
    assert metrics["__metrics_exporter_defaults"] == gateway_numbers.EXPORTER_DEFAULTS_FILE
