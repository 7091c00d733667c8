"""The fastd_peers action plugin: the list checked and rendered on the
controller, the files handed to the module as one JSON string.

First plan() on its own, then the plugin with the real module main() on a
real folder under tmp_path, then one real ansible-playbook run on localhost
(first sync, no change, a file changed by hand, check mode, a bad list)."""

import json
import os
import subprocess
import sys
import textwrap
from unittest import mock

import pytest

from ansible_collections.freifunk.gateway.plugins.action import fastd_peers as action
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd import is_public_key
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_peer_payload import STATE_NAME, pack, unpack
from ansible_collections.freifunk.gateway.plugins.module_utils.fastd_render import render_peer, render_peers
from ansible_collections.freifunk.gateway.plugins.modules import fastd_peers as module

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def public_keys(count, start):
    keys, number = [], start
    while len(keys) < count:
        if is_public_key("%064x" % number):
            keys.append("%064x" % number)
        number += 1
    return keys


KEYS = public_keys(4, 0xB000)
MANY = action.QUICK_MIN_PEERS
NOT_A_KEY = next("%064x" % n for n in range(0xC000, 0xD000) if not is_public_key("%064x" % n))


def peer(i, **extra):
    return dict(name="node%d" % i, key=KEYS[i], **extra)


def listing(path):
    """The peer files (the hidden state file left out)."""
    return {name: (path / name).read_text() for name in sorted(os.listdir(path)) if not name.startswith(".")}


# --- plan ------------------------------------------------------------------------

def test_plan_renders_the_files_and_hides_the_list():
    peers = [peer(0, remotes=["192.0.2.1:10000"], float=True), peer(1, comment="gw")]
    errors, module_args, shown = action.plan({"path": "/etc/fastd/m/peers", "peers": peers})
    assert errors == []
    assert module_args["peers"] == [] and module_args["exclusive"] is True and module_args["mode"] == "0644"
    assert unpack(module_args["_files"]) == {p["name"]: render_peer(p).encode() for p in peers}
    assert shown == {"path": "/etc/fastd/m/peers", "peers": "(2 peers)", "exclusive": True, "mode": "0644"}


def test_plan_takes_ansible_booleans():
    for value, want in (("no", False), ("True", True), (0, False)):
        errors, module_args, _shown = action.plan({"path": "/p", "peers": [], "exclusive": value})
        assert errors == [] and module_args["exclusive"] is want


def test_plan_reports_every_mistake_at_once():
    errors, module_args, shown = action.plan({
        "peers": [peer(0), dict(peer(1), key=NOT_A_KEY), dict(peer(2), name="node0")],
        "exclusive": "maybe", "mode": "rw", "owner": "root"})
    assert module_args is None and shown is None
    text = "\n".join(errors)
    for fragment in ("unsupported parameters: owner", "path is required", "exclusive must be true or false",
                     "mode must be an octal string", "peers[1].key: '%s' is not a fastd public key" % NOT_A_KEY,
                     "peers[2].name: 'node0' is already used by peers[0]"):
        assert fragment in text, text


def test_plan_needs_a_list():
    assert action.plan({"path": "/p"})[0] == ["peers is required: a list of peers (each with name and key)"]
    assert "peers must be a list of peers" in action.plan({"path": "/p", "peers": "node0"})[0][0]


def test_render_peers_checks_once_and_renders_as_render_peer():
    peers = [peer(0, remotes=["[2001:db8::1]:10000"], comment="a\nb"), peer(1, float=True)]
    assert render_peers(peers) == ([], {p["name"]: render_peer(p) for p in peers})
    errors, files = render_peers([peer(0), dict(peer(0))], "fastd_instances[0].peers")
    assert files is None and errors == ["fastd_instances[0].peers[1].name: 'node0' is already used by "
                                        "fastd_instances[0].peers[0]",
                                        "fastd_instances[0].peers[1].key: the same key as fastd_instances[0].peers[0]"]


@pytest.mark.parametrize("text, fragment", [
    ("{", "is not JSON"), ("[]", "must map peer names"), ('{".x": ""}', "must be a peer name"),
    ('{"a": 1}', "must be the file text"),
])
def test_unpack_refuses_what_pack_never_makes(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        unpack(text)
    assert unpack(pack({"a": "x\n"})) == {"a": b"x\n"}


# --- the plugin with the real module ------------------------------------------------

@pytest.fixture
def act(run_module, monkeypatch):
    """act(args, check_mode=False, diff=False, times=1) -> (result, calls, task): the
    action plugin with the module's main() run in-process on the real folder;
    ``times`` runs the same plugin again, as ``until:`` retries do."""
    def run(args, check_mode=False, diff=False, times=1, min_peers=1):
        calls = []
        monkeypatch.setattr(action, "QUICK_MIN_PEERS", min_peers)  # small lists take the quick path too
        task = mock.MagicMock(args=dict(args), check_mode=check_mode, diff=diff, async_val=0,
                              action="freifunk.gateway.fastd_peers")
        connection = mock.MagicMock()
        connection._shell.tmpdir = None
        plugin = action.ActionModule(task, connection, mock.MagicMock(), None, None, None)

        def execute(module_name, module_args, task_vars):
            assert module_name == "freifunk.gateway.fastd_peers"
            calls.append(module_args)
            return run_module(module, module_args, check_mode=check_mode, diff=diff)[0]
        plugin._execute_module = execute
        plugin._remove_tmp_path = lambda path: None
        for _time in range(times):
            result = plugin.run(task_vars={})
        return result, calls, task
    return run


def test_sync_no_change_and_hand_edits(act, tmp_path):
    path = tmp_path / "peers"
    peers = [peer(0, remotes=["192.0.2.1:10000"]), peer(1), peer(2)]
    result, calls, task = act({"path": str(path), "peers": peers})
    assert result["changed"] and result["added"] == ["node0", "node1", "node2"] and result["count"] == 3
    assert listing(path) == {p["name"]: render_peer(p) for p in peers}
    assert result["invocation"]["module_args"]["peers"] == "(3 peers)"
    assert task.args["peers"] == "(3 peers)"  # the worker does not send the list back
    # asked first whether the folder is in sync (it is not there), then synced
    assert [c.get("_quick", False) for c in calls] == [True, False] and calls[1]["peers"] == []
    assert calls[0]["_list_digest"] == calls[1]["_list_digest"]
    assert json.loads((path / STATE_NAME).read_text())["list"] == calls[0]["_list_digest"]

    again, calls, _task = act({"path": str(path), "peers": peers}, diff=True)
    assert not again["changed"] and again["added"] == again["updated"] == again["removed"] == []
    assert again["diff"] == [] and again["count"] == 3 and again["invocation"]["module_args"]["peers"] == "(3 peers)"
    assert len(calls) == 1 and calls[0]["_quick"]  # in sync: no check, no render, no full sync

    (path / "node1").write_text('key "%s";\n' % KEYS[3])  # changed by hand
    (path / "node2").chmod(0o600)
    (path / "stray").write_text("x")
    fixed, _calls, _task = act({"path": str(path), "peers": peers}, diff=True)
    assert fixed["changed"] and fixed["updated"] == ["node1", "node2"] and fixed["removed"] == ["stray"]
    assert listing(path) == {p["name"]: render_peer(p) for p in peers}
    diff = {d["after_header"]: d for d in fixed["diff"]}
    assert KEYS[3] in diff[str(path / "node1")]["before"] and KEYS[1] in diff[str(path / "node1")]["after"]


def test_hand_edit_with_the_old_size_and_times_is_noticed(act, tmp_path):
    path = tmp_path / "peers"
    peers = [peer(0), peer(1)]
    act({"path": str(path), "peers": peers})
    before = (path / "node0").stat()
    (path / "node0").write_text(render_peer(peers[0]).replace(KEYS[0], KEYS[3]))  # same size
    os.utime(path / "node0", ns=(before.st_atime_ns, before.st_mtime_ns))
    result, calls, _task = act({"path": str(path), "peers": peers})
    assert result["changed"] and result["updated"] == ["node0"] and len(calls) == 2
    assert listing(path)["node0"] == render_peer(peers[0])


@pytest.mark.parametrize("change", ["new list", "other mode", "state garbage", "state gone", "stray peer file"])
def test_anything_else_runs_the_full_sync(act, tmp_path, change):
    path = tmp_path / "peers"
    peers, args = [peer(0), peer(1)], {}
    act({"path": str(path), "peers": peers})
    if change == "new list":
        peers = [peer(0), peer(2)]
    elif change == "other mode":
        args["mode"] = "0640"
    elif change == "state garbage":
        (path / STATE_NAME).write_text("{")
    elif change == "state gone":
        (path / STATE_NAME).unlink()
    else:
        (path / "node7").write_text("x")
    result, calls, _task = act(dict(args, path=str(path), peers=peers))
    assert len(calls) == 2 and not calls[1].get("_quick")
    assert listing(path) == {p["name"]: render_peer(p) for p in peers}
    again, calls, _task = act(dict(args, path=str(path), peers=peers))
    assert not again["changed"] and len(calls) == 1  # the state is good again


@pytest.mark.parametrize("extra, min_peers, state_kept", [
    ({}, 2, True),  # a list shorter than the threshold: the state is still kept for when it grows
    ({"exclusive": False}, 1, False),  # not exclusive: the folder may hold other files
], ids=["short list", "not exclusive"])
def test_no_in_sync_question_where_it_cannot_answer(act, tmp_path, extra, min_peers, state_kept):
    path = tmp_path / "peers"
    for _run in range(2):
        result, calls, _task = act(dict({"path": str(path), "peers": [peer(0)]}, **extra), min_peers=min_peers)
        assert len(calls) == 1 and not calls[0].get("_quick")
    assert not result["changed"] and (path / STATE_NAME).exists() == state_kept


def test_check_mode_changes_nothing(act, tmp_path):
    path = tmp_path / "peers"
    result, _calls, _task = act({"path": str(path), "peers": [peer(0)]}, check_mode=True)
    assert result["changed"] and result["added"] == ["node0"] and not path.exists()


def test_bad_list_fails_before_the_module_runs(act, tmp_path):
    result, calls, _task = act({"path": str(tmp_path / "p"), "peers": [peer(0), dict(peer(1), remotes=["gw"])]})
    assert result["failed"] and [c["_quick"] for c in calls] == [True]  # only asked, nothing written
    assert not (tmp_path / "p").exists()
    assert result["msg"].startswith("invalid peers: peers[1].remotes[0]: string 'gw' is not a fastd remote")
    assert result["errors"] == [result["msg"][len("invalid peers: "):]]
    result, calls, _task = act({"path": str(tmp_path / "p"), "peers": [peer(0)], "mode": "0999"})
    assert result["failed"] and calls == [] and result["msg"].startswith("invalid arguments: mode must be")
    result, calls, _task = act({"path": str(tmp_path / "p"), "peers": [peer(0)], "owner": "root"})
    assert result["failed"] and calls == [] and "unsupported parameters: owner" in result["msg"]


def test_retry_runs_on_the_same_list(act, tmp_path):
    """until: runs the plugin again with the same task; the list must still be there."""
    result, calls, task = act({"path": str(tmp_path / "p"), "peers": [peer(0)]}, times=2)
    assert task.args["peers"] == "(1 peers)"
    assert [c.get("_quick", False) for c in calls] == [True, False, True]
    assert calls[2]["_list_digest"] == calls[0]["_list_digest"]
    assert not result["changed"] and result["count"] == 1


# --- a real ansible-playbook run ------------------------------------------------------

PLAYBOOK = textwrap.dedent("""\
    - hosts: localhost
      gather_facts: false
      tasks:
        - name: first
          freifunk.gateway.fastd_peers: {path: "{{ dir }}", peers: "{{ peers }}"}
        - name: again
          freifunk.gateway.fastd_peers: {path: "{{ dir }}", peers: "{{ peers }}"}
        - name: edit
          ansible.builtin.copy: {dest: "{{ dir }}/node1", content: "# edited by hand\\n", mode: "0644"}
        - name: repair
          freifunk.gateway.fastd_peers: {path: "{{ dir }}", peers: "{{ peers }}"}
          diff: true
        - name: check
          freifunk.gateway.fastd_peers: {path: "{{ dir }}", peers: "{{ peers[1:] }}"}
          check_mode: true
        - name: bad
          freifunk.gateway.fastd_peers: {path: "{{ dir }}", peers: "{{ peers + [bad] }}"}
          ignore_errors: true
        - name: hidden
          freifunk.gateway.fastd_peers: {path: "{{ dir }}", peers: "{{ peers }}"}
          no_log: true
    """)


def test_real_playbook_run(tmp_path):
    if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "freifunk", "gateway")):
        pytest.skip("run `make link` first: the collection is not linked into .build/collections")
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    peers = [peer(0, remotes=['"gw0.example.org" port 10000']), peer(1), peer(2)]
    peers += [dict(name="n%05d" % i, key=k) for i, k in enumerate(public_keys(MANY, 0xD000))]
    path = tmp_path / "peers"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_HOME=str(tmp_path / ".ansible"), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1",
               ANSIBLE_REMOTE_TMP=str(tmp_path / ".ansible" / "tmp"))
    env.pop("ANSIBLE_CONFIG", None)
    extra = dict(dir=str(path), peers=peers, bad=dict(name="node9", key=NOT_A_KEY),
                 ansible_python_interpreter=sys.executable)
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "site.yml", "-e", "@vars.json"],
                          cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=300, check=False)
    assert proc.stdout.strip(), proc.stderr
    tasks = {t["task"]["name"]: t["hosts"]["localhost"] for t in json.loads(proc.stdout)["plays"][0]["tasks"]}
    assert proc.returncode == 0, tasks

    assert tasks["first"]["changed"] and len(tasks["first"]["added"]) == MANY + 3
    assert tasks["first"]["invocation"]["module_args"]["peers"] == "(%d peers)" % (MANY + 3)
    assert not tasks["again"]["changed"] and tasks["again"]["updated"] == [] and tasks["again"]["count"] == MANY + 3
    assert tasks["repair"]["changed"] and tasks["repair"]["updated"] == ["node1"]
    assert "edited by hand" in tasks["repair"]["diff"][0]["before"]
    assert tasks["check"]["changed"] and tasks["check"]["removed"] == ["node0"]
    assert listing(path) == {p["name"]: render_peer(p) for p in peers}  # check mode left them
    assert tasks["bad"]["failed"] and "peers[%d].key: '%s' is not a fastd public key" % (MANY + 3, NOT_A_KEY) in tasks["bad"]["msg"]
    assert tasks["hidden"]["censored"].startswith("the output has been hidden")
    assert "added" not in tasks["hidden"]
    assert json.loads((path / STATE_NAME).read_text())["count"] == MANY + 3
