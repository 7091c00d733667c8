"""freifunk-fastd-peers against real git repositories in tmp_path (no network):
fetch, force-push, unreachable, and every kind of bad peer file."""

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import fastd_peer_sync as sync_mod
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_sources import sync_config
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_sync import parse_peer_file, source_states

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

KEY_A = "a2188e5ca27664d74552b9693cf4dd330de4c8e80b410f84e060f5419f821711"
KEY_B = "2e979b6ad35ead48442b974d65fac7880c9188d348aaa10273a2fd9d70e1d88f"
KEY_C = "28f39a77742e47f535539ae5361f6062844e6c2a85e81da4fe0c91e51ea70ac9"
NOT_ON_CURVE = "0" * 63 + "2"  # 64 hex digits that fastd refuses (see test_fastd.py)
GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")


def run(*args, cwd=None):
    return subprocess.run(args, cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True).stdout


class Repo:
    """A bare repository (the source) and a clone to push from."""

    def __init__(self, tmp_path):
        self.bare = str(tmp_path / "peers.git")
        self.work = str(tmp_path / "work")
        run("git", "init", "-q", "--bare", "-b", "main", self.bare)
        run("git", "init", "-q", "-b", "main", self.work)

    def push(self, files, force=False, message="change"):
        folder = os.path.join(self.work, "peers")
        os.makedirs(folder, exist_ok=True)
        for name, text in files.items():
            path = os.path.join(folder, name)
            if text is None:
                os.unlink(path)
            else:
                with open(path, "w") as handle:
                    handle.write(text)
        run("git", "add", "-A", ".", cwd=self.work)
        if force:
            run("git", "commit", "-q", "--amend", "-m", message, cwd=self.work)
        else:
            run("git", "commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        run("git", "push", "-q", "--force", self.bare, "HEAD:main", cwd=self.work)
        return run("git", "rev-parse", "HEAD", cwd=self.work).strip()


def peer(key, extra=""):
    return '# a node\nkey "%s";\n%s' % (key, extra)


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path)


@pytest.fixture
def setup(tmp_path, repo):
    """config(sources=..., inventory=...) -> a sync config whose state lives in tmp_path."""
    def config(sources=None, peers=(), interface="m-%k", mode="multitap"):
        inst = {"name": "mesh0", "interface": interface, "mode": mode,
                "peers": [{"name": n, "key": k} for n, k in peers], "peer_groups": [],
                "peer_sources": sources if sources is not None else [
                    {"type": "git", "name": "community", "url": repo.bare, "version": "main", "subdir": "peers"}]}
        cfg = sync_config(inst)
        state = str(tmp_path / "state")
        cfg["state_dir"] = state
        for source in cfg["sources"]:
            for key in ("peers_dir", "repository", "state_file"):
                if key in source and source[key].startswith("/var/lib/freifunk-fastd/mesh0"):
                    source[key] = source[key].replace("/var/lib/freifunk-fastd/mesh0", state)
        return cfg
    return config


class Reloads(list):
    def __call__(self, unit):
        self.append(unit)
        return True


def staged(cfg, index=0):
    folder = cfg["sources"][index]["peers_dir"]
    return {n: open(os.path.join(folder, n)).read() for n in sorted(os.listdir(folder))}


def test_new_keys_are_staged_and_fastd_reloaded_only_on_change(repo, setup):
    first = repo.push({"node-a": peer(KEY_A, 'remote "n.example.org" port 10000;\nfloat yes;\n')})
    cfg, reloads = setup(), Reloads()
    result = sync_mod.sync(cfg, now=1000.0, reload=reloads)
    assert result["changed"] and result["reloaded"] and reloads == ["fastd@mesh0.service"]
    assert staged(cfg) == {"node-a": 'key "%s";\nremote "n.example.org" port 10000;\nfloat yes;\n' % KEY_A}
    state = result["sources"][0]
    assert state["commit"] == first and state["error"] is None and state["peers"] == 1
    assert state["fetched_at"] == 1000.0

    result = sync_mod.sync(cfg, now=1001.0, reload=reloads)
    assert not result["changed"] and reloads == ["fastd@mesh0.service"]

    second = repo.push({"node-b": peer(KEY_B)})
    result = sync_mod.sync(cfg, now=1002.0, reload=reloads)
    assert result["changed"] and len(reloads) == 2
    assert sorted(staged(cfg)) == ["node-a", "node-b"]
    assert result["sources"][0]["commit"] == second


def test_bad_files_are_skipped_and_reported(repo, setup, capsys):
    repo.push({
        "good": peer(KEY_A),
        "not-on-curve": peer(NOT_ON_CURVE),
        "short-key": peer("abc"),
        "bad-remote": peer(KEY_B, 'remote "bad host" port 1;\n'),
        "directive": peer(KEY_B, 'on up "rm -rf /";\n'),
        "include": 'include "/etc/shadow";\n',
        "two-keys": peer(KEY_B, 'key "%s";\n' % KEY_B),
        "no-key": "# nothing\n",
        "same-key": peer(KEY_A),
        "gw2": peer(KEY_B),
        "inventory-key": peer(KEY_C),
        "bad~": peer(KEY_B),
        "binary": "\x00\x01",
        ".hidden": "not even read",
    })
    cfg = setup(peers=[("gw2", KEY_C)])
    result = sync_mod.sync(cfg, reload=Reloads())
    assert staged(cfg) == {"good": 'key "%s";\n' % KEY_A}
    reasons = {item["file"]: item["reason"] for item in result["sources"][0]["skipped"]}
    assert sorted(reasons) == ["bad-remote", "bad~", "binary", "directive", "gw2", "include", "inventory-key",
                               "no-key", "not-on-curve", "same-key", "short-key", "two-keys"]
    assert "is not a fastd public key" in reasons["not-on-curve"]
    assert "must be a fastd public key: 64 hexadecimal digits" in reasons["short-key"]
    assert "is not a fastd remote" in reasons["bad-remote"]
    assert reasons["directive"] == "it has the statement 'on'; peer files may only have key, remote and float"
    assert reasons["include"].startswith("it has the statement 'include'")
    assert reasons["two-keys"] == "it has more than one key"
    assert reasons["no-key"] == "it has no key"
    assert reasons["same-key"] == "its key is already used by git source community (good)"
    assert reasons["gw2"] == "the name gw2 is already used by the inventory (fastd_instances)"
    assert reasons["inventory-key"] == "its key is already used by the inventory (fastd_instances)"
    assert reasons["bad~"].startswith("the file name is not a peer name")
    assert reasons["binary"] == "it contains a control character (NUL)"
    assert "skipped gw2: the name gw2 is already used" in capsys.readouterr().err


def test_a_force_push_replaces_the_peers(repo, setup):
    repo.push({"node-a": peer(KEY_A)})
    cfg = setup()
    sync_mod.sync(cfg, reload=Reloads())
    rewritten = repo.push({"node-a": None, "node-b": peer(KEY_B)}, force=True)
    result = sync_mod.sync(cfg, reload=Reloads())
    assert result["sources"][0]["commit"] == rewritten and result["sources"][0]["error"] is None
    assert list(staged(cfg)) == ["node-b"]


def test_an_unreachable_repository_keeps_the_last_good_peers(repo, setup, tmp_path):
    good = repo.push({"node-a": peer(KEY_A)})
    cfg, reloads = setup(), Reloads()
    sync_mod.sync(cfg, now=1.0, reload=reloads)
    os.rename(repo.bare, str(tmp_path / "moved.git"))
    result = sync_mod.sync(cfg, now=2.0, reload=reloads)
    state = result["sources"][0]
    assert "git fetch failed" in state["error"]
    assert state["commit"] == good and state["fetched_at"] == 1.0 and state["checked_at"] == 2.0
    assert list(staged(cfg)) == ["node-a"] and not result["changed"] and len(reloads) == 1
    with open(cfg["sources"][0]["state_file"]) as handle:
        assert json.load(handle)["error"] == state["error"]


def test_the_first_fetch_failing_stages_an_empty_folder(setup, tmp_path):
    cfg = setup(sources=[{"type": "git", "name": "c", "url": str(tmp_path / "nothing.git")}])
    result = sync_mod.sync(cfg, reload=Reloads())
    assert result["sources"][0]["error"] and staged(cfg) == {}


def test_a_commit_id_as_version_and_a_missing_folder(repo, setup):
    commit = repo.push({"node-a": peer(KEY_A)})
    repo.push({"node-b": peer(KEY_B)})
    cfg = setup(sources=[{"type": "git", "name": "c", "url": repo.bare, "version": commit, "subdir": "peers"}])
    result = sync_mod.sync(cfg, reload=Reloads())
    assert result["sources"][0]["commit"] == commit and list(staged(cfg)) == ["node-a"]
    cfg = setup(sources=[{"type": "git", "name": "c", "url": repo.bare, "version": "main", "subdir": "nodes"}])
    result = sync_mod.sync(cfg, reload=Reloads())
    assert "git ls-tree failed" in result["sources"][0]["error"] and staged(cfg) == {}


def test_credentials_stay_out_of_errors(setup):
    url = "https://user:s3cret@127.0.0.1:1/peers.git"
    cfg = setup(sources=[{"type": "git", "name": "c", "url": url}])
    result = sync_mod.sync(cfg, reload=Reloads())
    text = json.dumps(result)
    assert "s3cret" not in text and "***@" in text


def test_directory_sources_are_read_first_and_never_written(repo, setup, tmp_path):
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "node-a").write_text(peer(KEY_A))
    (folder / "broken").write_text("key;")
    before = sorted(os.listdir(folder))
    repo.push({"node-a": peer(KEY_B), "node-c": peer(KEY_A), "node-b": peer(KEY_B)})
    cfg = setup(sources=[
        {"type": "git", "name": "c", "url": repo.bare, "version": "main", "subdir": "peers"},
        {"type": "directory", "name": "local", "path": str(folder)}])
    result = sync_mod.sync(cfg, reload=Reloads())
    git_state, dir_state = result["sources"]
    assert list(staged(cfg)) == ["node-b"]
    assert {i["file"]: i["reason"] for i in git_state["skipped"]} == {
        "node-a": "the name node-a is already used by directory source local",
        "node-c": "its key is already used by directory source local"}
    assert dir_state["peers"] == 1 and [p["file"] for p in dir_state["problems"]] == ["broken"]
    assert sorted(os.listdir(folder)) == before
    assert [s["name"] for s in source_states("mesh0", config_dir=str(tmp_path / "etc"))] == []


def test_interface_names_may_not_collide(repo, setup):
    repo.push({"a-long-node-name": peer(KEY_A), "ok": peer(KEY_B)})
    result = sync_mod.sync(setup(interface="mesh0-%n"), reload=Reloads())
    assert result["sources"][0]["skipped"] == [{
        "file": "a-long-node-name",
        "reason": "the name is too long for the interface pattern 'mesh0-%n' (at most 9 characters)"}]


def test_gone_sources_are_removed(repo, setup, tmp_path):
    repo.push({"node-a": peer(KEY_A)})
    cfg = setup()
    sync_mod.sync(cfg, reload=Reloads())
    assert os.path.isdir(os.path.join(cfg["state_dir"], "community"))
    cfg["sources"] = []
    sync_mod.sync(cfg, reload=Reloads())
    assert os.listdir(cfg["state_dir"]) == []


def test_main_and_source_states(repo, setup, tmp_path, capsys, monkeypatch):
    repo.push({"node-a": peer(KEY_A)})
    cfg = setup()
    etc = tmp_path / "etc" / "mesh0"
    etc.mkdir(parents=True)
    (etc / "peer-sources.json").write_text(json.dumps(cfg))
    monkeypatch.setattr(sync_mod, "systemctl_reload", Reloads())  # no systemd here
    assert sync_mod.main(["--json", "--config", str(etc / "peer-sources.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] and out["reloaded"] and out["sources"][0]["peers"] == 1
    assert sync_mod.systemctl_reload == ["fastd@mesh0.service"]
    states = source_states("mesh0", config_dir=str(tmp_path / "etc"))
    assert states[0]["name"] == "community" and states[0]["peers"] == 1
    shutil.rmtree(repo.bare)
    assert sync_mod.main(["--config", str(etc / "peer-sources.json")]) == 2


@pytest.mark.parametrize("text, expected", [
    ('key "%s";' % KEY_A, {"key": KEY_A, "remotes": [], "float": False}),
    ('/* c */ key "%s"; // x\nremote 192.0.2.1:10000 ;\nremote "h" port 1; float no;' % KEY_A.upper(),
     {"key": KEY_A, "remotes": ["192.0.2.1:10000", '"h" port 1'], "float": False}),
])
def test_parse_peer_file(text, expected):
    assert parse_peer_file(text) == expected


@pytest.mark.parametrize("text, reason", [
    ('key "%s"' % KEY_A, "the last statement has no ';'"),
    ('key "%s;' % KEY_A, "a string is not closed"),
    ('/* key "%s";' % KEY_A, "a /* comment is not closed"),
    ('key %s;' % KEY_A, "key must be a quoted string"),
    ('key "%s"; float maybe;' % KEY_A, "float must be yes or no"),
])
def test_parse_peer_file_refuses(text, reason):
    with pytest.raises(ValueError, match=reason.replace("*", r"\*")):
        parse_peer_file(text)
