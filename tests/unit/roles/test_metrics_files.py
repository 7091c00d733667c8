"""The role metrics installs on the gateway every collection file that
freifunk-gateway-metrics imports (roles/metrics/vars/main.yml), where the
role fastd puts those of its own program, and the program looks for them
there."""

import os

import yaml

REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
PREFIX = "ansible_collections.freifunk.gateway.plugins.module_utils."


def _vars(role):
    with open(os.path.join(REPO, "roles", role, "vars", "main.yml")) as handle:
        return yaml.safe_load(handle)


def test_every_imported_file_is_installed(imported_files, role_vars):
    assert imported_files("gateway_numbers.py") == sorted(role_vars("metrics")["__metrics_modules"])


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
