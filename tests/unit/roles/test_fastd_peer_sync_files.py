"""The role installs on the gateway every collection file that
freifunk-fastd-peers imports (roles/fastd/vars/main.yml), and the program
looks for them where the role puts them."""

import os

import yaml

REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
PREFIX = "ansible_collections.freifunk.gateway.plugins.module_utils."


def _vars():
    with open(os.path.join(REPO, "roles", "fastd", "vars", "main.yml")) as handle:
        return yaml.safe_load(handle)


def test_every_imported_file_is_installed(imported_files, role_vars):
    assert imported_files("fastd_peer_sync.py") == sorted(role_vars("fastd")["__fastd_peer_sync_modules"])


def test_the_program_reads_them_where_the_role_puts_them():
    with open(os.path.join(REPO, "roles", "fastd", "files", "freifunk-fastd-peers")) as handle:
        text = handle.read()
    assert 'sys.path.insert(0, "%s")' % _vars()["__fastd_peer_sync_lib"] in text
    assert PREFIX + "fastd_peer_sync import main" in text
