# Copyright: freifunk.gateway maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules every validator of the collection shares, worded the same way.

* unknown keys of a dict;
* interface names (also IPv6 scopes, which fastd reads as interface names);
* control characters, which no value written into a config file, a peer
  file or a command line may carry;
* integers: an int, or a string of decimal digits (what YAML quoting or old
  templating gives, e.g. ``port: "10010"``), normalized to int;
* booleans: true or false only;
* the names of types in messages, in YAML's terms (string, integer, ...),
  never Python class names (Ansible hands over str, int, list and dict
  subclasses such as ``_AnsibleTaggedStr``).

Patterns are matched whole with ``re.fullmatch``: ``$`` would also match
before a final newline, so ``^name$`` accepts ``"name\\n"``.
"""

from __future__ import annotations

import re

from collections.abc import Mapping

IFNAME_MAX = 15  # IFNAMSIZ - 1
IFNAME_RULE = ("an interface name: 1-%d letters, digits, '_', '.' or '-', not '.' or '..'"
               % IFNAME_MAX)
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,%d}" % IFNAME_MAX)

# C0 controls (newline, tab, NUL, ...), DEL, C1 controls, the Unicode line
# and paragraph separators and lone surrogates (which no file can encode).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CONTROL_NAMES = {"\n": "newline", "\r": "carriage return", "\t": "tab", "\x00": "NUL"}

_DIGITS = re.compile(r"[0-9]{1,20}")  # more digits than any limit here, and int() stays cheap
_SHOWN = 60  # characters of a string shown in a message


def unknown_keys(value, valid, var):
    """One message if dict ``value`` has keys outside ``valid``, else none."""
    unknown = sorted(str(k) for k in value if k not in valid)
    if not unknown:
        return []
    return ["%s: unknown keys %s; valid keys: %s" % (var, ", ".join(unknown), ", ".join(valid))]


# --- types in the user's terms ----------------------------------------------

def type_name(value):
    """The YAML name of ``value``'s type: null, boolean, integer, float,
    string, list or dict."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "dict"
    if isinstance(value, (list, tuple)):
        return "list"
    return "value of an unsupported type"


def describe(value):
    """``value`` for a message: ``string 'abc'``, ``42``, ``boolean true``,
    ``float 1.5``, ``null``, ``list``, ``dict``. Long strings are cut."""
    if isinstance(value, str):
        text = str(value)
        if len(text) > _SHOWN:
            return "string %r... (%d characters)" % (text[:_SHOWN], len(text))
        return "string %r" % text
    if isinstance(value, bool):
        return "boolean %s" % ("true" if value else "false")
    if isinstance(value, int):
        number = int(value)
        return "%d" % number if abs(number) < 10 ** 30 else "a %d-bit integer" % number.bit_length()
    if isinstance(value, float):
        return "float %r" % float(value)
    return type_name(value)


# --- interface names --------------------------------------------------------

def is_ifname(value):
    """Whether ``value`` is a Linux interface name this collection accepts."""
    return isinstance(value, str) and bool(_IFNAME.fullmatch(value)) and value not in (".", "..")


def is_scope(value):
    """Whether ``value`` may follow the ``%`` of a scoped IPv6 address: an
    interface name (fastd reads it as one, at most 15 characters), which
    also covers a numeric scope id such as ``2``."""
    return is_ifname(value)


def ifname_errors(value, var):
    if is_ifname(value):
        return []
    return ["%s must be %s; got %s" % (var, IFNAME_RULE, describe(value))]


# --- control characters -----------------------------------------------------

def control_character(text, allow=""):
    """The first control character of ``text`` not in ``allow``, or None."""
    for match in _CONTROL.finditer(text):
        if match.group() not in allow:
            return match.group()
    return None


def control_name(char):
    return _CONTROL_NAMES.get(char, "U+%04X" % ord(char))


def control_errors(text, var, allow="", what="control characters"):
    """One message if string ``text`` has a control character outside ``allow``."""
    char = control_character(text, allow)
    if char is None:
        return []
    return ["%s must not contain %s; found %s at position %d"
            % (var, what, control_name(char), text.index(char))]


# --- integers and booleans ---------------------------------------------------

def as_int(value):
    """``value`` as an int if it is an integer or a string of decimal digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def to_int(value):
    """``value`` normalized: an int for what ``as_int`` accepts, else unchanged."""
    number = as_int(value)
    return value if number is None else number


def int_errors(value, var, low, high=None, allow_none=False, what="an integer"):
    """One message unless ``value`` is an integer (or decimal digit string) in low..high."""
    if value is None and allow_none:
        return []
    number = as_int(value)
    if number is not None and low <= number and (high is None or number <= high):
        return []
    limit = "%d..%d" % (low, high) if high is not None else ">= %d" % low
    return ["%s must be %s %s%s, got %s"
            % (var, what, limit, " or null" if allow_none else "", describe(value))]


def bool_errors(value, var, allow_none=False):
    """One message unless ``value`` is a boolean (strictly true or false)."""
    if isinstance(value, bool) or (allow_none and value is None):
        return []
    hint = ""
    if isinstance(value, str) and value.lower() in ("yes", "no", "true", "false", "on", "off"):
        hint = " (write true or false without quotes)"
    return ["%s must be a boolean (true or false%s), got %s%s"
            % (var, " or null" if allow_none else "", describe(value), hint)]


# --- the head of a daemon instance -------------------------------------------

INSTANCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
INSTANCE_STATES = ("present", "absent")


def one_of_errors(value, choices, var):
    """One message unless ``value`` is one of the strings ``choices``."""
    if isinstance(value, str) and value in choices:
        return []
    return ["%s must be one of %s, got %s" % (var, ", ".join(choices), describe(value))]


def instance_head(inst, defaults, required, var, names):
    """``(errors, cfg, absent)`` for what every daemon instance (fastd,
    tunneldigger) has: no unknown keys, a ``state``, the ``required`` keys
    of a present instance (only ``name`` of an absent one), and a ``name``
    that ``names`` (e.g. ``/etc/fastd/<name> and fastd@<name>``).
    ``cfg`` is ``inst`` over ``defaults``."""
    errors = unknown_keys(inst, defaults, var)
    cfg = {k: inst.get(k, v) for k, v in defaults.items()}
    errors.extend(one_of_errors(cfg["state"], INSTANCE_STATES, var + ".state"))
    absent = cfg["state"] == "absent"
    for key in ("name",) if absent else required:
        if key not in inst:
            errors.append("%s.%s is required" % (var, key))
    if "name" in inst and not (isinstance(cfg["name"], str) and INSTANCE_NAME.fullmatch(cfg["name"])):
        errors.append("%s.name must be 1-32 characters a-z, 0-9, '_' or '-', starting with a letter or "
                      "digit (it names %s); got %s" % (var, names, describe(cfg["name"])))
    return errors, cfg, absent


def name_taken_errors(name, ivar, names):
    """One message if instance ``name`` is already in ``names`` (name: the
    variable path of the instance that has it); records it otherwise."""
    if not isinstance(name, str):
        return []
    if name in names:
        return ["%s.name: %r is already used by %s" % (ivar, str(name), names[name])]
    names[name] = ivar
    return []
