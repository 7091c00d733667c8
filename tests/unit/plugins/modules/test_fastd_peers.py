"""fastd_peers on a real directory."""

import json
import os
import stat
import subprocess
import sys

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import is_public_key
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_render import render_peer
from ansible_collections.freifunk.gateway.plugins.modules import fastd_peers


def public_keys(count, start=0):
    """``count`` keys fastd accepts: about half of all 64-digit numbers are no
    point of its curve (is_public_key, checked against fastd in test_fastd.py)."""
    keys, number = [], start
    while len(keys) < count:
        key = "%064x" % number
        number += 1
        if is_public_key(key):
            keys.append(key)
    return keys


KEYS = public_keys(4, 0xA000)
MANY_KEYS = public_keys(10001)


def peer(i, **extra):
    return dict(name="node%d" % i, key=KEYS[i], **extra)


def files(path):
    return {name: (path / name).read_text() for name in sorted(os.listdir(path))}


def mode_of(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def peers_dir(tmp_path):
    return tmp_path / "peers"


def run(run_module, path, peers, **kwargs):
    opts = {k: kwargs.pop(k) for k in ("check_mode", "diff") if k in kwargs}
    return run_module(fastd_peers, dict(path=str(path), peers=peers, **kwargs), **opts)[0]


def test_creates_directory_and_files_then_is_stable(run_module, peers_dir):
    peers = [peer(0, remotes=["192.0.2.1:10000"], float=True), peer(1)]
    result = run(run_module, peers_dir, peers)
    assert result["changed"] and result["added"] == ["node0", "node1"]
    assert (result["updated"], result["removed"], result["count"]) == ([], [], 2)
    assert mode_of(peers_dir) == 0o755
    assert files(peers_dir) == {"node0": render_peer(peers[0]), "node1": render_peer(peers[1])}
    assert all(mode_of(peers_dir / n) == 0o644 for n in ("node0", "node1"))

    again = run(run_module, peers_dir, peers)
    assert not again["changed"] and again["added"] == again["updated"] == again["removed"] == []


def test_updates_removes_and_leaves_foreign_files(run_module, peers_dir):
    run(run_module, peers_dir, [peer(0), peer(1), peer(2)])
    for name in (".keep", "README.txt~"):
        (peers_dir / name).write_text("x")
    (peers_dir / "subdir").mkdir()
    changed = dict(peer(1), key=KEYS[3])
    result = run(run_module, peers_dir, [peer(0), changed], diff=True)
    assert result["changed"]
    assert (result["added"], result["updated"], result["removed"]) == ([], ["node1"], ["node2"])
    assert sorted(os.listdir(peers_dir)) == [".keep", "README.txt~", "node0", "node1", "subdir"]
    assert KEYS[3] in (peers_dir / "node1").read_text()
    diff = {d["after_header"]: d for d in result["diff"]}
    assert KEYS[1] in diff[str(peers_dir / "node1")]["before"]
    assert KEYS[3] in diff[str(peers_dir / "node1")]["after"]
    assert diff[str(peers_dir / "node2")]["after"] == ""


def test_not_exclusive_keeps_other_peers(run_module, peers_dir):
    run(run_module, peers_dir, [peer(0), peer(1)])
    result = run(run_module, peers_dir, [peer(2)], exclusive=False)
    assert result["added"] == ["node2"] and result["removed"] == []
    assert sorted(os.listdir(peers_dir)) == ["node0", "node1", "node2"]


def test_check_mode_writes_nothing(run_module, peers_dir):
    result = run(run_module, peers_dir, [peer(0)], check_mode=True, diff=True)
    assert result["changed"] and result["added"] == ["node0"]
    assert not peers_dir.exists()
    run(run_module, peers_dir, [peer(0), peer(1)])
    before = files(peers_dir)
    result = run(run_module, peers_dir, [dict(peer(0), float=True), peer(2)], check_mode=True)
    assert (result["added"], result["updated"], result["removed"]) == (["node2"], ["node0"], ["node1"])
    assert files(peers_dir) == before


def test_fixes_file_mode(run_module, peers_dir):
    run(run_module, peers_dir, [peer(0)])
    (peers_dir / "node0").chmod(0o600)
    result = run(run_module, peers_dir, [peer(0)], mode="0640")
    assert result["changed"] and result["updated"] == ["node0"]
    assert mode_of(peers_dir / "node0") == 0o640


@pytest.mark.parametrize("peers, fragment", [
    ([peer(0), dict(peer(1), name="node0")], "peers[1].name: 'node0' is already used by peers[0]"),
    ([peer(0), dict(peer(1), key=KEYS[0])], "peers[1].key: the same key as peers[0]"),
    ([peer(0), dict(peer(1), key="xyz")], "peers[1].key must be a fastd public key"),
    ([peer(0), dict(peer(1), remotes=["gw01"])], "peers[1].remotes[0]"),
])
def test_invalid_list_writes_nothing(run_module, peers_dir, peers, fragment):
    result = run(run_module, peers_dir, peers)
    assert result["failed"]
    assert any(fragment in e for e in result["errors"]), result["errors"]
    assert not peers_dir.exists()


def test_refuses_a_directory_where_a_peer_file_goes(run_module, peers_dir):
    (peers_dir / "node0").mkdir(parents=True)
    result = run(run_module, peers_dir, [peer(0), peer(1)])
    assert result["failed"] and "not a regular file" in result["msg"]
    assert os.listdir(peers_dir) == ["node0"]


def test_large_diff_is_summarized(run_module, peers_dir):
    many = [{"name": "n%03d" % i, "key": MANY_KEYS[i]} for i in range(150)]
    result = run(run_module, peers_dir, many, check_mode=True, diff=True)
    assert "added (150): n000, n001" in result["diff"]["prepared"]


def many_peers(count):
    return [{"name": "node%05d" % i, "key": MANY_KEYS[i],
             "remotes": ['"gw%02d.example.org" port 10000' % (i % 4)]} for i in range(count)]


def test_ten_thousand_peers(run_module, peers_dir):
    peers = many_peers(10000)
    result = run(run_module, peers_dir, peers)
    assert len(result["added"]) == 10000 and len(os.listdir(peers_dir)) == 10000

    # a no-change run writes nothing (its speed is measured in bench/, not here)
    mtimes = {e.name: e.stat().st_mtime_ns for e in os.scandir(peers_dir)}
    result = run(run_module, peers_dir, peers)
    assert not result["changed"] and result["count"] == 10000
    assert {e.name: e.stat().st_mtime_ns for e in os.scandir(peers_dir)} == mtimes
    # the result does not echo 10,000 peers back: where ansible-core passes
    # the invocation on (before 2.21, or with inject_invocation), it shows the count
    assert len(json.dumps(result)) < 10000
    assert result.get("invocation", {"module_args": {"peers": "(10000 peers)"}})["module_args"]["peers"] == "(10000 peers)"

    peers[1234]["key"] = MANY_KEYS[10000]
    del peers[42]
    result = run(run_module, peers_dir, peers)
    assert (result["updated"], result["removed"]) == (["node01234"], ["node00042"])
    assert len(os.listdir(peers_dir)) == 9999


def test_ten_thousand_peers_as_ansible_runs_it(tmp_path):
    """The module file as a script with its arguments on stdin, like Ansible."""
    collections = os.path.abspath(os.path.join(os.path.dirname(fastd_peers.__file__),
                                               "..", "..", "..", "..", ".."))
    args = json.dumps({"ANSIBLE_MODULE_ARGS": {"path": str(tmp_path / "p"),
                                               "peers": many_peers(10000)}})
    env = dict(os.environ, PYTHONPATH=collections)
    for expect_changed in (True, False):
        proc = subprocess.run([sys.executable, fastd_peers.__file__], input=args, text=True,
                              stdout=subprocess.PIPE, env=env, check=False)
        result = json.loads(proc.stdout)
        assert result["changed"] is expect_changed and result["count"] == 10000, proc.stdout[:500]


def test_files_from_the_action_plugin(run_module, peers_dir):
    """The action plugin's form: rendered files as one JSON string, peers empty."""
    texts = {"node0": render_peer(peer(0)), "node1": render_peer(peer(1))}
    result = run(run_module, peers_dir, [], _files=json.dumps(texts), _list_digest="d" * 64)
    assert result["changed"] and result["added"] == ["node0", "node1"] and result["count"] == 2
    assert {n: (peers_dir / n).read_text() for n in texts} == texts
    assert "_files" not in result.get("invocation", {}).get("module_args", {})
    assert "node0" not in json.dumps(result.get("invocation", {}))
    assert json.loads((peers_dir / ".fastd_peers.json").read_text())["list"] == "d" * 64
    assert run(run_module, peers_dir, [], _quick=True, _list_digest="d" * 64)["in_sync"] is True
    assert run(run_module, peers_dir, [], _quick=True, _list_digest="e" * 64)["in_sync"] is False


@pytest.mark.parametrize("text, fragment", [("{", "_files is not JSON"), ('{"../x": ""}', "must be a peer name")])
def test_bad_files_option_writes_nothing(run_module, peers_dir, text, fragment):
    result = run(run_module, peers_dir, [], _files=text)
    assert result["failed"] and fragment in result["msg"] and not peers_dir.exists()
