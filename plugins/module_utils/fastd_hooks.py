# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Extra commands a fastd instance runs when a peer's interface comes up or
goes down (``on_up``, ``on_down``), beside the on-connect script's mesh hook.

fastd keeps one ``on up`` and one ``on down`` command per instance and runs
it with ``/bin/sh -c`` (src/shell.c), so the mesh hook and the extra
commands are chained into one shell command:

* on up: the mesh hook (attach) first, then each extra command in order;
* on down: each extra command in order, then the mesh hook (detach), so
  that what an up command set up on an attached interface is undone while
  the interface is still attached (the reverse of on up).

Each command is a list of words (argv). Every word is shell-quoted, so a
word reaches the program exactly as written: no word splitting, globbing,
``;``, ``|`` or backquotes. fastd's hook variables are the one exception:
``${INTERFACE}`` or ``$INTERFACE`` (and the others in ``HOOK_VARIABLES``)
anywhere in a word is replaced by its value, still as part of that one word.
Any other ``$`` is refused, so nothing is expanded by surprise.

fastd only warns when the command exits non-zero ("command exited with
status N") and keeps the peer, so a failing command never blocks a peer.
Each command runs whatever the ones before it returned; a failure is logged
to syslog (tag ``fastd-hook``, in the instance's journal) with the instance,
hook and index, not the command's arguments.
"""

from __future__ import annotations

import re
import shlex

from ansible_collections.freifunk.gateway.plugins.module_utils.rules import control_errors, describe

# What fastd sets for a per-peer on up / on down command (fastd's manual,
# "on up", "on down"; PEER_* only in multitap mode, where each peer has its
# own interface).
HOOK_VARIABLES = ("INTERFACE", "INTERFACE_MTU", "FASTD_PID", "LOCAL_KEY", "PEER_NAME", "PEER_KEY")
HOOKS = {"up": "on_up", "down": "on_down"}  # fastd's event: the instance key
LOG_TAG = "fastd-hook"

_PROGRAM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_DOLLAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))?")
_USAGE = ("a list of commands, each a non-empty list of words, e.g. "
          "[[/usr/local/sbin/my-hook, '${INTERFACE}']]")


def _word_parts(word):
    """``word`` as (literal, variable) pairs; raise ValueError for a ``$``
    that is not one of HOOK_VARIABLES."""
    parts, pos = [], 0
    for match in _DOLLAR.finditer(word):
        name = match.group(1) or match.group(2)
        if name not in HOOK_VARIABLES:
            found = "'%s'" % match.group(0) if name else "a '$' at position %d" % match.start()
            raise ValueError("has %s; a '$' may only start one of %s (written ${NAME} or $NAME), "
                             "and a literal '$' is not supported (put it into a script)"
                             % (found, ", ".join("${%s}" % v for v in HOOK_VARIABLES)))
        parts.append((word[pos:match.start()], name))
        pos = match.end()
    parts.append((word[pos:], None))
    return parts


def validate_commands(commands, var):
    """Errors in ``on_up`` / ``on_down``: a list (may be empty) of commands,
    each a non-empty list of strings without control characters, whose first
    word is an absolute path or a plain program name (looked up in PATH)."""
    if not isinstance(commands, list):
        return ["%s must be %s; got %s" % (var, _USAGE, describe(commands))]
    errors = []
    for index, command in enumerate(commands):
        cvar = "%s[%d]" % (var, index)
        if not isinstance(command, list) or not command:
            hint = " (write each command as a list of words, not one string)" if isinstance(command, str) else ""
            errors.append("%s must be a non-empty list of words, got %s%s" % (cvar, describe(command), hint))
            continue
        for position, word in enumerate(command):
            wvar = "%s[%d]" % (cvar, position)
            if not isinstance(word, str):
                errors.append("%s must be a string (quote numbers), got %s" % (wvar, describe(word)))
                continue
            bad = control_errors(word, wvar)
            if bad:
                errors.extend(bad)
                continue
            if position == 0 and not (word.startswith("/") or _PROGRAM.fullmatch(word)):
                errors.append("%s must be the program: an absolute path or a plain name such as 'logger' "
                              "(letters, digits, '_', '.', '+', '-'), got %s" % (wvar, describe(word)))
                continue
            try:
                _word_parts(word)
            except ValueError as exc:
                errors.append("%s %s" % (wvar, exc))
    return errors


def render_word(word):
    """One word for ``/bin/sh``: literal text single-quoted, hook variables
    as double-quoted expansions, all joined into one word."""
    out = []
    for literal, name in _word_parts(word):
        if literal:
            out.append(shlex.quote(literal))
        if name:
            out.append('"${%s}"' % name)
    return "".join(out) or "''"


def render_command(words):
    """A command (list of words) as one shell command line."""
    return " ".join(render_word(word) for word in words)


def hook_command(mesh_command, commands, event, instance):
    """The shell command for fastd's ``on up`` (``event`` up) or ``on down``
    (down) of ``instance``: ``mesh_command`` (a ready shell command, or None
    without a mesh) and the extra ``commands`` (valid argv lists) in the
    order described above; None when there is nothing to run."""
    if event not in HOOKS:
        raise ValueError("event must be up or down, got %s" % describe(event))
    extras = []
    for index, words in enumerate(commands or []):
        message = "instance %s, on %s $INTERFACE: %s[%d] (%s) failed with exit code $?" % (
            instance, event, HOOKS[event], index, words[0].rsplit("/", 1)[-1])
        extras.append("%s || logger -t %s -p daemon.err -- %s"
                      % (render_command(words), LOG_TAG, _double_quoted(message)))
    steps = ([mesh_command] if mesh_command else []) + extras
    if event == "down" and mesh_command:
        steps = extras + [mesh_command]
    return "; ".join(steps) or None


def _double_quoted(text):
    """``text`` in double quotes, with ``$INTERFACE`` and ``$?`` expanded and
    nothing else special (the program name is a validated word)."""
    escaped = re.sub(r'([\\"`])', r"\\\1", text)
    return '"%s"' % escaped
