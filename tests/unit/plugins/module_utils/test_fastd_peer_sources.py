"""Validation and defaults of fastd_instances[].peer_sources."""

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import validate_instances
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_sources import (
    normalize_peer_sources,
    parse_interval,
    redact_url,
    source_lines,
    sync_config,
    validate_peer_sources,
)

KEY = "a2188e5ca27664d74552b9693cf4dd330de4c8e80b410f84e060f5419f821711"
GIT = {"type": "git", "name": "community", "url": "https://git.example.org/peers.git"}
DIRECTORY = {"type": "directory", "name": "local", "path": "/srv/fastd-peers"}


def test_good_sources_pass():
    sources = [dict(GIT, version="main", subdir="peers", interval="10min"), DIRECTORY,
               {"type": "git", "name": "b", "url": "git@git.example.org:c/peers.git",
                "version": "0123456789abcdef0123456789abcdef01234567"},
               {"type": "git", "name": "c", "url": "/srv/peers.git"},
               {"type": "git", "name": "d", "url": "file:///srv/peers.git", "version": "v2025.1"}]
    assert validate_peer_sources(sources, "p") == []


@pytest.mark.parametrize("source, expected", [
    ({"type": "svn", "name": "x"}, "p[0].type must be one of git, directory, got string 'svn'"),
    (dict(GIT, bogus=1), "p[0]: unknown keys bogus; valid keys: type, name, url, version, subdir, interval"),
    (dict(DIRECTORY, url="x"), "p[0]: unknown keys url; valid keys: type, name, path"),
    ({"type": "git", "url": GIT["url"]}, "p[0].name is required"),
    (dict(GIT, name="Bad Name"), "p[0].name must be 1-32 characters a-z"),
    ({"type": "git", "name": "x"}, "p[0].url is required"),
    (dict(GIT, url="--upload-pack=touch /tmp/x"), "p[0].url must not start with '-'"),
    (dict(GIT, url="ext::sh -c touch% /tmp/x"), "p[0].url must not contain spaces"),
    (dict(GIT, url="ext::ssh"), "other transports such as ext:: are refused"),
    (dict(GIT, url="https://h/p\n"), "p[0].url must not contain control characters; found newline"),
    (dict(GIT, url="file://relative"), "a file URL needs an absolute path"),
    (dict(GIT, version="main..x"), "p[0].version must be a branch or tag name"),
    (dict(GIT, version="-b"), "p[0].version must be a branch or tag name"),
    (dict(GIT, subdir="../etc"), "p[0].subdir must be a folder of the repository"),
    (dict(GIT, subdir="/peers"), "p[0].subdir must be a folder of the repository"),
    (dict(GIT, interval="30s"), "p[0].interval: string '30s' is 30 seconds; pull at most once a minute"),
    (dict(GIT, interval="5 fortnights"), "p[0].interval: '5 fortnights' has the unknown unit 'fortnights'"),
    (dict(GIT, interval=True), "p[0].interval: expected a time span such as '5min', got boolean true"),
    ({"type": "directory", "name": "x"}, "p[0].path is required"),
    (dict(DIRECTORY, path="srv/peers"), "p[0].path must be an absolute path"),
    (dict(DIRECTORY, path="/srv/../etc"), "p[0].path must be a plain absolute path"),
    (dict(DIRECTORY, path="/srv/peers/"), "p[0].path must be a plain absolute path"),
    (dict(DIRECTORY, path="/etc/fastd/mesh0/peers"), "p[0].path: string '/etc/fastd/mesh0/peers' is managed by the role"),
    (dict(DIRECTORY, path="/var/lib/freifunk-fastd/x"), "is managed by the role"),
])
def test_each_mistake_names_the_path(source, expected):
    errors = validate_peer_sources([source], "p")
    assert len(errors) == 1, errors
    assert expected in errors[0]


def test_every_mistake_at_once_and_names_unique():
    errors = validate_peer_sources([GIT, dict(GIT, url="-x"), dict(DIRECTORY, name="community"),
                                    dict(DIRECTORY, name="other"), "x"], "p")
    assert errors == [
        "p[1].name: 'community' is already used by p[0]",
        "p[1].url must not start with '-' (git would read it as an option); got string '-x'",
        "p[2].name: 'community' is already used by p[0]",
        "p[3].path: '/srv/fastd-peers' is already listed by p[2]",
        "p[4] must be a dict with type and name, got string 'x'",
    ]


def test_not_a_list():
    assert validate_peer_sources({"type": "git"}, "p") == [
        "p must be a list of peer sources ({type: git, name, url, ...} or {type: directory, name, path}), got dict"]


def test_instances_check_their_sources():
    errors = validate_instances([{"name": "m", "port": 10000, "interface": "m-%k",
                                  "peer_sources": [dict(GIT, url="")]}])
    assert errors == ["fastd_instances[0].peer_sources[0].url must be a git repository URL "
                      "(https://host/path, ssh://[user@]host/path, git://host/path, user@host:path, "
                      "file:///path or an absolute path on the gateway), got string ''"]


def test_credentials_in_a_url_are_never_shown():
    url = "https://user:s3cret@git.example.org/peers.git"
    assert redact_url(url) == "https://***@git.example.org/peers.git"
    errors = validate_peer_sources([dict(GIT, url=url + " x")], "p")
    assert errors and "s3cret" not in errors[0]


def test_a_password_in_a_url_is_refused_without_showing_it():
    errors = validate_peer_sources([dict(GIT, url="https://user:s3cret@git.example.org/peers.git")], "p")
    assert len(errors) == 1
    assert errors[0].startswith("p[0].url has a password or token in it (string "
                                "'https://***@git.example.org/peers.git')")
    assert "s3cret" not in errors[0]
    assert validate_peer_sources([dict(GIT, url="ssh://git@git.example.org/peers.git")], "p") == []


@pytest.mark.parametrize("text, seconds", [
    ("5min", 300), ("1h 30min", 5400), ("300", 300), (120, 120), ("2m", 120), ("1d", 86400), ("1w", 604800)])
def test_parse_interval(text, seconds):
    assert parse_interval(text) == seconds


def test_normalized_sources_and_sync_config():
    inst = {"name": "mesh0", "interface": "m-%k", "mode": "multitap",
            "peers": [{"name": "gw2", "key": KEY.upper()}],
            "peer_groups": [{"name": "g", "peers": [{"name": "n", "key": KEY[::-1]}]}],
            "peer_sources": [GIT, DIRECTORY]}
    git, directory = normalize_peer_sources(inst["peer_sources"], "mesh0")
    assert git["version"] == "HEAD" and git["subdir"] == "" and git["interval_seconds"] == 300
    assert git["peers_dir"] == "/var/lib/freifunk-fastd/mesh0/community/peers"
    assert git["repository"] == "/var/lib/freifunk-fastd/mesh0/community/repository.git"
    assert directory["peers_dir"] == "/srv/fastd-peers"
    assert directory["state_file"] == "/var/lib/freifunk-fastd/mesh0/local/state.json"
    config = sync_config(inst)
    assert config["unit"] == "fastd@mesh0.service"
    assert config["inventory"] == [{"name": "gw2", "key": KEY}, {"name": "n", "key": KEY[::-1]}]
    assert [s["name"] for s in config["sources"]] == ["community", "local"]


def test_source_lines():
    states = [{"name": "c", "type": "git", "url": "https://h/p.git", "peers": 2, "commit": "0" * 40,
               "error": "git fetch failed: gone", "skipped": [{"file": "x", "reason": "it has no key"}]},
              {"name": "d", "type": "directory", "path": "/srv/p", "peers": 1, "problems": []}]
    assert source_lines(states) == [
        "  source c (git https://h/p.git): 2 peers, commit 000000000000, ERROR: git fetch failed: gone",
        "    skipped x: it has no key",
        "  source d (directory /srv/p): 1 peers",
    ]
    assert source_lines(states, only_problems=True) == source_lines(states)[:2]
