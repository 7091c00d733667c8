# -*- coding: utf-8 -*-
# Copyright: (c) 2025, freifunk.gateway contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read a Gluon ``site.conf`` (and, for multi-domain sites, a domain file)
as plain data, the way Gluon reads it when it builds the firmware.

Gluon evaluates ``'return ' .. content`` as Lua with an empty environment
and turns the result into JSON (lua-jsonc); on the node, the domain file's
data is merged over the site's (libgluonutil: objects merged key by key,
everything else replaced). This module does the same with a real Lua
(lupa), in a sandbox, because a site file is code: it could call
``os.execute`` or loop forever. The sandbox:

- a fresh Lua 5.4 runtime per file (no LuaJIT), with a memory cap;
- the file compiled as text only (no bytecode) with an empty environment:
  no ``os``, ``io``, ``require``, ``load``, ``dofile``, ``debug``, ``string``
  or any other library is reachable from it;
- the string metatable's ``__index`` removed, so ``('x'):rep(1e9)`` finds
  no string functions either;
- a count hook that stops the code after a number of instructions;
- a size cap before the file is read.

Controller side only (the lookup ``freifunk.gateway.gluon_site``); needs the
Python package lupa.
"""

from __future__ import annotations

import math
import os
import re

try:
    from lupa import lua54 as _lua
except ImportError:  # pragma: no cover - depends on how lupa was built
    _lua = None

DEFAULT_MAX_INSTRUCTIONS = 1000000  # real site files need a few hundred
DEFAULT_MAX_MEMORY = 64 * 1024 * 1024  # bytes of Lua memory
DEFAULT_MAX_SIZE = 1024 * 1024  # bytes; real site files are under 64 KiB
MIN_MAX_INSTRUCTIONS = 1000
MIN_MAX_MEMORY = 1024 * 1024
MIN_MAX_SIZE = 1024
MAX_DEPTH = 64  # nesting of tables; real sites nest about 6 deep
MAX_VALUES = 200000  # values in one file; real sites hold a few hundred

_DOMAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NIL_GLOBAL = re.compile(
    r"(?P<where>.*?:(?P<line>[0-9]+)): attempt to (?:call|index) a nil value "
    r"\(global '(?P<name>[A-Za-z_][A-Za-z0-9_]*)'\)")
_STRING_INDEX = re.compile(r"(?P<where>.*?:[0-9]+): attempt to index a string value\b.*")
_LUA_LIBRARY = frozenset((
    "_G", "_ENV", "assert", "collectgarbage", "coroutine", "debug", "dofile", "error",
    "getfenv", "getmetatable", "io", "ipairs", "load", "loadfile", "loadstring", "math",
    "module", "next", "os", "package", "pairs", "pcall", "print", "python", "rawequal",
    "rawget", "rawlen", "rawset", "require", "select", "setfenv", "setmetatable",
    "string", "table", "tonumber", "tostring", "type", "unpack", "utf8", "xpcall",
))
_NO_LIBRARIES = ("which site files may not use (Gluon evaluates a site file without "
                 "any Lua library: it holds plain data)")

# Trusted setup code, run in each fresh runtime before the site file. It
# keeps what it needs in locals, so nothing of it is reachable from the
# site file, whose environment is a new empty table.
_SANDBOX = b"""
local load, pcall, sethook, error = load, pcall, debug.sethook, error
getmetatable('').__index = nil
local LIMIT = {}
return function(source, chunkname, max_instructions)
  local chunk, message = load(source, chunkname, 't', {})
  if not chunk then
    return 'syntax', message
  end
  sethook(function() error(LIMIT) end, '', max_instructions)
  local ok, result = pcall(chunk)
  sethook()
  if ok then
    return 'ok', result
  elseif result == LIMIT then
    return 'limit', nil
  end
  return 'error', result
end
"""


class SiteError(Exception):
    """A site file that cannot be read, evaluated or converted. The message
    names the file (and the line, for Lua errors) and is safe to show."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


def key_path(parts):
    """``mesh_vpn.fastd.methods[1]`` for ``['mesh_vpn', 'fastd', 'methods', 1]``.

    Integers are list positions counted from 1, as in the Lua file; names
    that are not Lua identifiers are quoted (``peers["gw-01"]``).
    """
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += "[%d]" % part
        elif _IDENTIFIER.fullmatch(part):
            text += ("." if text else "") + part
        else:
            text += '["%s"]' % part.replace("\\", "\\\\").replace('"', '\\"')
    return text


def limit_errors(max_instructions=DEFAULT_MAX_INSTRUCTIONS, max_memory=DEFAULT_MAX_MEMORY,
                 max_size=DEFAULT_MAX_SIZE):
    """Error strings for limits that are not whole numbers or too small."""
    errors = []
    for name, value, least in (("max_instructions", max_instructions, MIN_MAX_INSTRUCTIONS),
                               ("max_memory", max_memory, MIN_MAX_MEMORY),
                               ("max_size", max_size, MIN_MAX_SIZE)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            errors.append("%s must be a whole number of at least %d, not %r" % (name, least, value))
    return errors


def domain_name_errors(domain):
    """Error strings for a domain name that cannot be a file in ``domains/``."""
    if isinstance(domain, str) and _DOMAIN_NAME.fullmatch(domain):
        return []
    return ["domain must be the name of a file domains/NAME.conf beside site.conf (letters, "
            "digits, '_', '-', '.'; not starting with '.' or '-'), not %r" % (domain,)]


def load_site(path, domain=None, max_instructions=DEFAULT_MAX_INSTRUCTIONS,
              max_memory=DEFAULT_MAX_MEMORY, max_size=DEFAULT_MAX_SIZE):
    """The site at ``path`` as plain data (a dict); with ``domain``, the file
    ``domains/DOMAIN.conf`` beside it merged over it. Raises SiteError."""
    errors = limit_errors(max_instructions, max_memory, max_size)
    if domain is not None:
        errors += domain_name_errors(domain)
    if errors:
        raise SiteError("; ".join(errors))
    limits = dict(max_instructions=max_instructions, max_memory=max_memory, max_size=max_size)
    site_name = os.path.basename(path) or "site.conf"
    site = read_file(path, site_name, **limits)
    if domain is None:
        return site
    domain_dir = os.path.join(os.path.dirname(path), "domains")
    domain_path = os.path.join(domain_dir, domain + ".conf")
    if not os.path.isfile(domain_path):
        raise SiteError(missing_domain_message(domain, domain_dir, site_name))
    return merge(site, read_file(domain_path, "domains/%s.conf" % domain, **limits))


def missing_domain_message(domain, domain_dir, site_name="site.conf"):
    """Why ``domain`` cannot be read, naming the domains that exist."""
    try:
        names = sorted(entry[:-len(".conf")] for entry in os.listdir(domain_dir)
                       if entry.endswith(".conf") and len(entry) > len(".conf"))
    except OSError:
        names = None
    if names is None:
        return ("domain '%s': there is no folder domains/ beside %s (a single-domain site: "
                "leave the domain unset)" % (domain, site_name))
    if not names:
        return "domain '%s': the folder domains/ beside %s holds no NAME.conf files" % (domain, site_name)
    return ("domain '%s': there is no file domains/%s.conf beside %s; domains there: %s"
            % (domain, domain, site_name, ", ".join(names)))


def read_file(path, name, max_instructions=DEFAULT_MAX_INSTRUCTIONS,
              max_memory=DEFAULT_MAX_MEMORY, max_size=DEFAULT_MAX_SIZE):
    """Read and evaluate one site or domain file; ``name`` is how messages
    call it (``site.conf``, ``domains/dom1.conf``)."""
    try:
        with open(path, "rb") as handle:
            source = handle.read(max_size + 1)
    except OSError as exc:
        raise SiteError("%s: cannot read %s: %s" % (name, path, exc.strerror or exc)) from None
    if len(source) > max_size:
        raise SiteError("%s: larger than %d bytes (max_size); a site file is usually under 64 KiB"
                        % (name, max_size))
    return evaluate(source, name, max_instructions=max_instructions, max_memory=max_memory)


def evaluate(source, name="site.conf", max_instructions=DEFAULT_MAX_INSTRUCTIONS,
             max_memory=DEFAULT_MAX_MEMORY):
    """Evaluate the text of a site file (``str`` or ``bytes``) in the
    sandbox and convert the table it holds. Raises SiteError."""
    if _lua is None:
        raise SiteError("reading %s needs the Python package lupa (with Lua 5.4) on the "
                        "controller: pip install lupa" % name)
    if isinstance(source, str):
        source = source.encode("utf-8")
    memory_message = ("%s: needs more than %d bytes of memory (max_memory); a site file "
                      "needs well under 1 MiB" % (name, max_memory))
    try:
        runtime = _lua.LuaRuntime(register_builtins=False, register_eval=False,
                                  unpack_returned_tuples=False, encoding=None,
                                  max_memory=max_memory)
        run = runtime.execute(_SANDBOX)
        outcome, result = run(b"return " + source, b"=" + name.encode("utf-8"), max_instructions)
        if outcome == b"ok":
            if _lua.lua_type(result) != "table":
                raise SiteError("%s: holds %s, not a table { ... }" % (name, _describe(result)))
            return _Converter(name).convert(result)
    except MemoryError:  # also lupa's LuaMemoryError
        raise SiteError(memory_message) from None
    except _lua.LuaError as exc:
        raise SiteError("%s: %s" % (name, _text(exc.args[0] if exc.args else exc))) from None
    message = _text(result)
    if outcome == b"limit":
        raise SiteError("%s: stopped after %d instructions (an endless loop?); a site file "
                        "needs a few hundred (max_instructions)" % (name, max_instructions))
    if message == "not enough memory":
        raise SiteError(memory_message)
    raise SiteError(_explain(message, source))


def merge(base, override):
    """``override`` merged over ``base`` the way Gluon nodes merge a domain
    over the site (libgluonutil): dicts key by key, recursively; anything
    else (lists, strings, numbers) replaced. Returns a new value."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(merged[key], value) if key in merged else value
    return dict(sorted(merged.items()))


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _lua_literal(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "[%s]" % _describe(value)[2:]


def _describe(value):
    kind = _lua.lua_type(value)
    if kind:
        return "a " + kind
    if value is None:
        return "nothing (nil)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, bytes):
        return "a string"
    return "a %s" % type(value).__name__


def _explain(message, source):
    """A Lua runtime error, made plain where it is the sandbox at work."""
    found = _NIL_GLOBAL.fullmatch(message)
    if found and found.group("name") in _LUA_LIBRARY:
        what = found.group("name")
        line = _source_line(source, int(found.group("line")))
        field = re.search(r"\b%s\s*[.:]\s*([A-Za-z_][A-Za-z0-9_]*)" % re.escape(what), line)
        if field:
            what += "." + field.group(1)
        return "%s: uses %s, %s" % (found.group("where"), what, _NO_LIBRARIES)
    found = _STRING_INDEX.fullmatch(message)
    if found:
        return "%s: uses a string method such as ('x'):rep(), %s" % (found.group("where"), _NO_LIBRARIES)
    return message


def _source_line(source, number):
    lines = (b"return " + source).split(b"\n")
    if 1 <= number <= len(lines):
        return lines[number - 1].decode("utf-8", "replace")
    return ""


class _Converter:
    """Lua values to plain Python data, the way lua-jsonc turns them into
    JSON: tables with keys 1..n are lists, ``{}`` is an empty list, other
    tables are dicts with string keys. Bounded in depth and size, since a
    table built by code may refer to itself."""

    def __init__(self, name):
        self.name = name
        self.count = 0

    def fail(self, path, problem):
        where = key_path(path[:12]) + ("..." if len(path) > 12 else "")
        raise SiteError("%s: %s%s" % (self.name, where + ": " if where else "", problem))

    def convert(self, value, path=()):
        self.count += 1
        if self.count > MAX_VALUES:
            self.fail((), "holds more than %d values; a site file holds a few hundred" % MAX_VALUES)
        if value is None:  # not stored in tables; only if code returns it
            self.fail(path, "is nil")
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail(path, "is %r, not a finite number" % value)
            return int(value) if value.is_integer() else value
        if isinstance(value, bytes):
            return self.string(value, path, "is a string")
        kind = _lua.lua_type(value)
        if kind != "table":
            self.fail(path, "is a %s; a site file holds only tables, strings, numbers and "
                            "booleans" % (kind or type(value).__name__))
        if len(path) >= MAX_DEPTH:
            self.fail(path, "tables nested more than %d deep (a table that holds itself?)" % MAX_DEPTH)
        return self.table(value, path)

    def string(self, raw, path, what):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.fail(path, "%s that is not valid UTF-8 (byte %d of it)" % (what, exc.start + 1))
        return None  # not reached

    def table(self, table, path):
        items = list(table.items())
        keys = [key for key, _value in items]
        if all(isinstance(key, int) and not isinstance(key, bool) for key in keys):
            if sorted(keys) == list(range(1, len(keys) + 1)):
                values = dict(items)
                return [self.convert(values[index], path + (index,)) for index in range(1, len(keys) + 1)]
            self.fail(path, "list with gaps (positions %s); a list must count 1, 2, 3, ... "
                            "without holes" % ", ".join(str(key) for key in sorted(keys)[:10]))
        result = {}
        for key, value in items:
            if isinstance(key, bytes):
                text = self.string(key, path, "has a key")
                result[text] = (key, value)
            else:
                self.fail(path, "has the key %s (%s); a table is either a list { a, b } or has "
                                "names { x = 1 }" % (_lua_literal(key), _describe(key)))
        return {text: self.convert(value, path + (text,)) for text, (_key, value) in sorted(result.items())}
