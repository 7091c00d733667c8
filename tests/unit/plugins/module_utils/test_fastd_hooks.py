"""Tests for plugins/module_utils/fastd_hooks.py: the extra on up / on down
commands of a fastd instance, checked by running them the way fastd does
(/bin/sh -c with fastd's variables set) and by fastd --verify-config."""

import os
import re
import subprocess

import pytest

from ansible_collections.freifunk.gateway.plugins.filter import fastd as flt
from ansible_collections.freifunk.gateway.plugins.module_utils import fastd
from ansible_collections.freifunk.gateway.plugins.module_utils import fastd_hooks as h

VAR = "fastd_instances[0].on_up"
SCRIPT = "/usr/local/sbin/freifunk-on-connect"
BRIDGE = {"backend": "bridge", "interface": "br-client"}
# Words a shell would otherwise split, expand or run.
NASTY = ["a b", "it's", 'say "hi"', "`id`", "; rm -rf /", "*", "~", "back\\slash", "|&<>", "", "-n"]


def run_sh(command, **env):
    """Run ``command`` as fastd runs a hook: /bin/sh -c, variables in the environment."""
    full = dict(os.environ, INTERFACE="mesh-node-a", INTERFACE_MTU="1312", PEER_NAME="node a")
    full.update(env)
    return subprocess.run(["/bin/sh", "-c", command], env=full, capture_output=True, text=True, check=False)


def argv_printer(tmp_path):
    """A program that writes its arguments, one per line, to out.txt."""
    out = tmp_path / "out.txt"
    prog = tmp_path / "print args"
    prog.write_text('#!/bin/sh\nfor a in "$@"; do printf "%%s|\\n" "$a"; done >> "%s"\n' % out)
    prog.chmod(0o755)
    return str(prog), out


# --- validation -------------------------------------------------------------------

@pytest.mark.parametrize("commands", [
    [],
    [["true"]],
    [["/usr/local/sbin/my-hook", "${INTERFACE}", "$INTERFACE_MTU", "--peer=${PEER_NAME}"]],
    [["logger", "-t", "x", "up: $INTERFACE"], ["/opt/my hooks/run", ""]],
    [["tc", "qdisc", "replace", "dev", "${INTERFACE}", "root", "fq_codel"]],
    [NASTY[:1] and ["/bin/echo"] + NASTY],
    [["python3.11"], ["c++"], ["run-parts"], ["_x"]],
])
def test_valid_commands(commands):
    assert h.validate_commands(commands, VAR) == []


@pytest.mark.parametrize("commands, var, fragments", [
    (None, VAR, ["must be a list of commands", "got null"]),
    ("/usr/bin/foo $INTERFACE", VAR, ["must be a list of commands", "got string"]),
    ({"cmd": "x"}, VAR, ["got dict"]),
    (["/usr/bin/foo $INTERFACE"], VAR + "[0]", ["must be a non-empty list of words", "not one string"]),
    ([[]], VAR + "[0]", ["must be a non-empty list of words, got list"]),
    ([None], VAR + "[0]", ["got null"]),
    ([["/bin/x", 5]], VAR + "[0][1]", ["must be a string (quote numbers), got 5"]),
    ([["/bin/x", None]], VAR + "[0][1]", ["got null"]),
    ([["/bin/x", "a\nb"]], VAR + "[0][1]", ["must not contain control characters; found newline"]),
    ([["/bin/x\t"]], VAR + "[0][0]", ["found tab"]),
    ([["/bin/x", "a\x00"]], VAR + "[0][1]", ["found NUL"]),
    ([["./hook"]], VAR + "[0][0]", ["must be the program: an absolute path or a plain name", "'./hook'"]),
    ([["bin/hook"]], VAR + "[0][0]", ["'bin/hook'"]),
    ([["-x"]], VAR + "[0][0]", ["'-x'"]),
    ([["echo hi"]], VAR + "[0][0]", ["'echo hi'"]),
    ([["$INTERFACE"]], VAR + "[0][0]", ["must be the program"]),
    ([["/bin/x", "$HOME"]], VAR + "[0][1]",
     ["has '$HOME'", "may only start one of ${INTERFACE}", "a literal '$' is not supported"]),
    ([["/bin/x", "${interface}"]], VAR + "[0][1]", ["has '${interface}'"]),
    ([["/bin/x", "cost: 5$"]], VAR + "[0][1]", ["has a '$' at position 7"]),
    ([["/bin/x", "$1"]], VAR + "[0][1]", ["has a '$' at position 0"]),
    ([["/bin/x", "$(id)"]], VAR + "[0][1]", ["has a '$' at position 0"]),
    ([["/bin/x", "${INTERFACE"]], VAR + "[0][1]", ["has a '$' at position 0"]),
])
def test_one_mistake_one_message(commands, var, fragments):
    errors = h.validate_commands(commands, VAR)
    assert len(errors) == 1, errors
    assert errors[0].startswith(var + " "), errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_every_mistake_is_reported():
    errors = h.validate_commands([["./x", "$HOME"], "ls", [["nested"]]], VAR)
    assert [e.split(" ", 1)[0] for e in errors] == [VAR + "[0][0]", VAR + "[0][1]", VAR + "[1]", VAR + "[2][0]"]


def test_instance_validation_names_on_up_and_on_down():
    inst = {"name": "mesh0", "port": 10000, "interface": "fft-%k",
            "on_up": [["./x"]], "on_down": "logger down"}
    errors = fastd.validate_instances([inst])
    assert any(e.startswith("fastd_instances[0].on_up[0][0] must be the program") for e in errors), errors
    assert any(e.startswith("fastd_instances[0].on_down must be a list of commands") for e in errors), errors


# --- rendering: each word arrives as written ----------------------------------------

def test_each_word_reaches_the_program_as_written(tmp_path):
    prog, out = argv_printer(tmp_path)
    words = [prog] + NASTY + ["${INTERFACE}", "$INTERFACE_MTU", "dev=${INTERFACE}.x", "$PEER_NAME"]
    result = run_sh(h.render_command(words))
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines() == [w + "|" for w in NASTY] + [
        "mesh-node-a|", "1312|", "dev=mesh-node-a.x|", "node a|"]


def test_a_variable_is_never_split_or_run(tmp_path):
    prog, out = argv_printer(tmp_path)
    result = run_sh(h.render_command([prog, "$PEER_NAME"]), PEER_NAME="a b; `touch %s/ran` *" % tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "a b; `touch %s/ran` *|\n" % tmp_path
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("word, expected", [
    ("plain", "plain"),
    ("${INTERFACE}", '"${INTERFACE}"'),
    ("$INTERFACE", '"${INTERFACE}"'),
    ("/run/x-${INTERFACE}.up", "/run/x-\"${INTERFACE}\".up"),
    ("", "''"),
    ("a b", "'a b'"),
])
def test_render_word(word, expected):
    assert h.render_word(word) == expected


# --- the chained hook: order, failures, fastd's parser ---------------------------------

def test_up_runs_the_mesh_hook_first_and_down_last():
    up = h.hook_command("MESH attach", [["a"], ["b"]], "up", "mesh0")
    down = h.hook_command("MESH detach", [["c"], ["d"]], "down", "mesh0")
    assert up.index("MESH attach") < up.index("a ||") < up.index("b ||")
    assert down.index("c ||") < down.index("d ||") < down.index("MESH detach")


def test_nothing_to_run_gives_none():
    assert h.hook_command(None, [], "up", "mesh0") is None
    assert h.hook_command("MESH", [], "down", "mesh0") == "MESH"
    with pytest.raises(ValueError, match="event must be up or down"):
        h.hook_command("MESH", [], "attach", "mesh0")


def test_a_failing_command_is_logged_and_the_next_still_runs(tmp_path):
    prog, out = argv_printer(tmp_path)
    command = h.hook_command(None, [["false"], ["/nonexistent/hook", "x"], [prog, "third"]], "up", "mesh0")
    assert ('false || logger -t fastd-hook -p daemon.err -- '
            '"instance mesh0, on up $INTERFACE: on_up[0] (false) failed with exit code $?"') in command
    assert "on_up[1] (hook) failed" in command
    result = run_sh(command)
    assert out.read_text() == "third|\n"
    assert result.returncode == 0


def test_the_logged_message_has_no_argument_of_the_command():
    command = h.hook_command(None, [["/usr/bin/curl", "-H", "Authorization: token-123"]], "down", "gw")
    message = command.split("logger", 1)[1]
    assert "token-123" not in message and "(curl)" in message


def test_filter_chains_the_on_connect_script_and_the_commands(tmp_path):
    prog, out = argv_printer(tmp_path)
    up = flt.fastd_hook(dict(BRIDGE, mac="derive"), "attach", SCRIPT, [[prog, "up", "${INTERFACE}"]], "mesh0")
    assert up.startswith(SCRIPT + " attach $INTERFACE --backend bridge --bridge br-client --mac derive; ")
    assert flt.fastd_hook(None, "detach", SCRIPT, [[prog, "down"]], "mesh0").startswith("'%s' down ||" % prog)
    assert flt.fastd_hook(None, "attach", SCRIPT, [], "mesh0") is None
    assert flt.fastd_hook(None, "attach", SCRIPT) is None


@pytest.mark.parametrize("commands, instance, message", [
    ([["./x"]], "mesh0", "fastd_hook: on_up[0][0] must be the program"),
    ([["x"]], None, "fastd_hook: instance must be the instance's name when there are commands, got null"),
    ("x", "mesh0", "fastd_hook: on_up must be a list of commands"),
])
def test_filter_refuses_what_validation_refuses(commands, instance, message):
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match="^" + re.escape(message)):
        flt.fastd_hook(BRIDGE, "attach", SCRIPT, commands, instance)


def test_fastd_reads_the_chained_hooks_back(fastd_verify):
    """What the role's template writes: the chained command through
    fastd_quote, with every word shape there is, accepted by real fastd."""
    commands = [["/bin/echo"] + NASTY + ["${INTERFACE}", "x=$PEER_KEY"], ["logger", "-t", "t", "say \"hi\""]]
    up = flt.fastd_quote(flt.fastd_hook(dict(BRIDGE, mac="derive"), "attach", SCRIPT, commands, "mesh0"))
    down = flt.fastd_quote(flt.fastd_hook(BRIDGE, "detach", SCRIPT, commands, "mesh0"))
    rc, output = fastd_verify("on up sync %s;\non down sync %s;" % (up, down))
    assert rc == 0, output
