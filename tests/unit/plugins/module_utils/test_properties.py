"""Property tests (hypothesis) of the promises the validators and renderers make.

(a) the validators take any data and answer with messages, never a crash;
(b) fastd_render.quote() either refuses a string or writes a literal that
    fastd's lexer reads back as exactly that string;
(c) instances that validate clean render, through the fastd role's real
    template, to a config the real ``fastd --verify-config`` accepts;
(d) a bind address or remote that validates renders to exactly one statement.

``fastd_tokens`` below is a small reference of fastd's lexer (src/lex.c of
fastd v22/v23), written from its source, not from the code under test.
"""

import glob
import importlib
import os
import shutil
import subprocess
import tempfile

import jinja2
import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ansible_collections.freifunk.gateway.plugins.filter import fastd as flt
from ansible_collections.freifunk.gateway.plugins.module_utils import batman, fastd, mesh, rules
from ansible_collections.freifunk.gateway.plugins.module_utils import fastd_render as render

FASTD = shutil.which("fastd")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
TEMPLATE = os.path.join(ROOT, "roles", "fastd", "templates", "fastd.conf.j2")
SECRET = "f8a2832608f6a63a1bf5e70e515c37e1cb1d3550048a56aa532c0050fff16760"
KEY_A = "84ddcfa9c8887a361f4ee619d79a642c50acd0d04a2b3109ab65a85e34f24f0f"


def generated_public_keys(count):
    """Public keys made by fastd itself (64 hex digits alone are no key: see
    fastd.is_public_key); without fastd the one recorded key."""
    if FASTD is None:
        return [KEY_A]
    keys = []
    for _i in range(count):
        out = subprocess.run([FASTD, "--generate-key"], capture_output=True, text=True, check=True).stdout
        keys.append(out.split("Public:")[1].split()[0])
    return keys


PUBLIC_KEYS = generated_public_keys(8)


# --- a reference of fastd's lexer --------------------------------------------

class FastdSyntaxError(ValueError):
    pass


def read_string(text, pos):
    """fastd's parse_string: ``text[pos]`` is the opening quote. A backslash
    takes the next character literally, except that a backslash before a
    newline is dropped with it; a raw newline stays in the string. Return
    (value, index after the closing quote)."""
    out, i = [], pos + 1
    while True:
        if i >= len(text):
            raise FastdSyntaxError("unterminated string")
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\":
            i += 1
            if i >= len(text):
                raise FastdSyntaxError("unterminated string")
            char = text[i]
            if char == "\n":
                i += 1
                continue
        out.append(char)
        i += 1


def fastd_tokens(text):
    """The tokens fastd's lexer makes of ``text``: (kind, value) with kind
    one of punct, comment, string, addr6, number, keyword."""
    tokens, i = [], 0
    while i < len(text):
        char = text[i]
        if char in " \n\t\r":
            i += 1
        elif char in ";:{}":
            tokens.append(("punct", char))
            i += 1
        elif char == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end + 1
            tokens.append(("comment", text[i:end]))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise FastdSyntaxError("unterminated block comment")
            tokens.append(("comment", text[i:end + 2]))
            i = end + 2
        elif char == '"':
            value, i = read_string(text, i)
            tokens.append(("string", value))
        elif char == "[":
            j = i + 1
            while j < len(text) and (text[j] in "0123456789abcdefABCDEF:"):
                j += 1
            if j >= len(text) or text[j] not in "%]":
                raise FastdSyntaxError("bad IPv6 address")
            if text[j] == "%":
                j += 1
                while True:
                    if j >= len(text):
                        raise FastdSyntaxError("unterminated scope")
                    if text[j] == "]":
                        break
                    j += 2 if text[j] == "\\" else 1
            tokens.append(("addr6", text[i:j + 1]))
            i = j + 1
        elif "0" <= char <= "9":
            j = i
            while j < len(text) and (text[j].isascii() and (text[j].isalnum() or text[j] == ".")):
                j += 1
            tokens.append(("number", text[i:j]))
            i = j
        elif "a" <= char <= "z":
            j = i
            while j < len(text) and (("a" <= text[j] <= "z") or ("0" <= text[j] <= "9") or text[j] == "-"):
                j += 1
            tokens.append(("keyword", text[i:j]))
            i = j
        else:
            raise FastdSyntaxError("unexpected %r" % char)
    return tokens


def test_the_reference_lexer():
    assert fastd_tokens('bind [fe80::1%lo]:10000; # x\nmethod "a\\"b\\\\";') == [
        ("keyword", "bind"), ("addr6", "[fe80::1%lo]"), ("punct", ":"), ("number", "10000"),
        ("punct", ";"), ("comment", "# x\n"), ("keyword", "method"), ("string", 'a"b\\'),
        ("punct", ";")]
    assert read_string('"a\\\nb"', 0) == ("ab", 6)
    injected = 'bind [::1%x]:10000; on establish "touch /tmp/pwned"; #]:10000;'
    assert [t for t in fastd_tokens(injected) if t == ("punct", ";")] == [("punct", ";")] * 2


# --- strategies ------------------------------------------------------------------

PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
NASTY = ['";', '"; on up "id"; #', "$(reboot)", "`id`", "\\", "\\\n", "\n", "\r", "\t", "\x00", "%",
         "null", "yes", "true", "10010", "-1", "0x10", "9" * 25, "9" * 5000, "any", "null@l2tp",
         "fft-%k", "fft-%n", "fe80::1%lo", '::1%x]:10000; on establish "touch /tmp/pwned"; #',
         "[::1]", "192.0.2.1", "caf\u00e9", "\u202e", "\ud800", "a" * 300, "", " ", "..", "bat0",
         "batman_adv", "bridge", "multitap", "tap", "absent", "present"]
KEYS = sorted(set(fastd.INSTANCE_DEFAULTS) | set(fastd.PEER_KEYS) | set(fastd.PEER_GROUP_KEYS)
              | set(mesh.MESH_KEYS) | set(batman.MESH_DEFAULTS))
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(NASTY),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3), st.integers(50, 2000)),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-1, 70000),
                    st.floats(allow_nan=True), TEXT)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), TEXT, st.integers()), inner, max_size=6)),
    max_leaves=25)
INSTANCE_LIKE = st.dictionaries(st.sampled_from(KEYS), DATA, max_size=10)


# --- (a) any data: messages, never a crash ------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(DATA, st.lists(INSTANCE_LIKE, max_size=3)))
def test_validators_answer_any_data_with_messages(data):
    for errors in (fastd.validate_instances(data), batman.validate_meshes(data),
                   mesh.validate_mesh(data), fastd.validate_peers(data)):
        assert isinstance(errors, list)
        assert all(e.__class__ is str for e in errors)
    try:
        normalized = flt.fastd_instances_normalized(data)
    except AnsibleFilterError:
        assert fastd.validate_instances(data)
    else:
        assert fastd.validate_instances(data) == []
        assert all("secret" not in inst for inst in normalized)
        flt.fastd_peer_dirs(data)


# --- (b) quote round trip ---------------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet='"\\\n\r\t\x00 ;#%$()`ab\u00e9'), st.sampled_from(NASTY)))
def test_quote_refuses_or_round_trips_through_fastds_lexer(value):
    try:
        literal = render.quote(value)
    except ValueError:
        assert rules.control_character(value) is not None
        return
    assert rules.control_character(value) is None
    assert "\n" not in literal and "\r" not in literal
    unquoted, end = read_string(literal, 0)
    assert unquoted == value
    assert end == len(literal)  # nothing after the closing quote
    assert fastd_tokens("x " + literal + ";")[1:] == [("string", value), ("punct", ";")]


# --- (d) one statement per bind address and remote --------------------------------------

SCOPE = st.from_regex(r"[A-Za-z0-9_.-]{1,15}", fullmatch=True).filter(lambda s: s not in (".", ".."))
IPV6 = st.ip_addresses(v=6).map(str)
BIND_INPUT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(NASTY),
    st.just("any"),
    st.ip_addresses().map(str),
    IPV6.map(lambda a: "[%s]" % a),
    st.tuples(IPV6, st.one_of(SCOPE, TEXT)).map(lambda t: "%s%%%s" % t),
    st.tuples(IPV6, st.one_of(SCOPE, TEXT)).map(lambda t: "[%s%%%s]" % t),
)
HOST = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?){0,3}",
                     fullmatch=True)
PORT_TEXT = st.one_of(st.integers(0, 70000).map(str), st.text(alphabet="0123456789 \n;", max_size=6))
REMOTE_INPUT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(NASTY),
    st.tuples(st.sampled_from(["", "ipv4 ", "ipv6 ", "ipv4  "]),
              st.one_of(HOST.map(lambda h: '"%s"' % h), st.text(max_size=12).map(lambda h: '"%s"' % h),
                        st.ip_addresses(v=4).map(str), IPV6.map(lambda a: "[%s]" % a),
                        st.tuples(IPV6, st.one_of(SCOPE, TEXT)).map(lambda t: "[%s%%%s]" % t)),
              st.sampled_from([":", " port ", "  port  ", ": ", ":\n"]), PORT_TEXT)
    .map("".join),
)


def one_statement(statement, keyword):
    tokens = fastd_tokens(statement)
    assert tokens[0] == ("keyword", keyword), tokens
    assert tokens[-1] == ("punct", ";"), tokens
    assert ("punct", ";") not in tokens[:-1], tokens
    assert all(kind != "comment" for kind, _value in tokens), tokens
    assert "\n" not in statement and "\r" not in statement
    return tokens


@settings(max_examples=400, deadline=None)
@given(BIND_INPUT, st.one_of(st.integers(1, 65535), st.integers(1, 65535).map(str)))
def test_a_valid_bind_address_is_one_statement(address, port):
    errors = fastd.validate_instances([{"name": "m", "port": port, "interface": "m-%k", "bind": [address]}])
    try:
        rendered = render.render_bind(address, port)
    except ValueError:
        assert errors, "render_bind refused what validation accepts: %r" % address
        event("refused")
        return
    event("rendered")
    assert not errors, "render_bind wrote what validation refuses: %r -> %r" % (address, rendered)
    assert '"' not in rendered and " " not in rendered
    tokens = one_statement("bind %s;" % rendered, "bind")
    assert [kind for kind, _value in tokens[1:]] in (
        ["keyword", "punct", "number", "punct"],  # any:PORT
        ["number", "punct", "number", "punct"],   # IPv4:PORT
        ["addr6", "punct", "number", "punct"])    # [IPv6%scope]:PORT
    assert tokens[-2] == ("number", str(int(port)))


@settings(max_examples=400, deadline=None)
@given(REMOTE_INPUT)
def test_a_valid_remote_is_one_statement(remote):
    try:
        canonical = fastd.parse_remote(remote)
    except ValueError:
        assert fastd.validate_peers([{"name": "p", "key": KEY_A, "remotes": [remote]}])
        event("refused")
        return
    event("rendered")
    assert fastd.validate_peers([{"name": "p", "key": KEY_A, "remotes": [remote]}]) == []
    tokens = one_statement("remote %s;" % canonical, "remote")
    assert sum(1 for kind, _value in tokens if kind == "string") <= 1
    peer_file = render.render_peer({"name": "p", "key": KEY_A, "remotes": [remote]})
    assert peer_file.splitlines()[1] == "remote %s;" % canonical


# --- (c) clean instances render to a config fastd accepts ---------------------------------

IFNAME = SCOPE
PEER_NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,7}", fullmatch=True)
HEX64 = st.sampled_from(PUBLIC_KEYS).flatmap(lambda k: st.sampled_from([k, k.upper()]))
COMMAND = st.text(alphabet=PRINTABLE, min_size=1, max_size=60).filter(str.strip)


def int_like(low, high):
    return st.one_of(st.integers(low, high), st.integers(low, high).map(str))


VALID_REMOTE = st.one_of(
    st.tuples(st.sampled_from(["", "ipv4 ", "ipv6 "]), HOST, st.integers(1, 65535))
    .map(lambda t: '%s"%s" port %d' % t),
    st.tuples(st.ip_addresses(v=4).map(str), st.integers(1, 65535)).map(lambda t: "%s:%d" % t),
    st.tuples(IPV6, st.integers(1, 65535)).map(lambda t: "[%s]:%d" % t),
    st.tuples(SCOPE, st.integers(1, 65535)).map(lambda t: "[fe80::1%%%s]:%d" % t),
)
PEER = st.fixed_dictionaries(
    {"name": PEER_NAME, "key": HEX64},
    optional={"remotes": st.lists(VALID_REMOTE, max_size=3), "float": st.booleans(),
              "comment": st.text(alphabet=st.one_of(PRINTABLE, st.just("\n")), max_size=60)})
VALID_BIND = st.one_of(
    st.just("any"), st.ip_addresses().map(str), IPV6.map(lambda a: "[%s]" % a),
    st.tuples(IPV6, SCOPE).map(lambda t: "%s%%%s" % t))
MESH = st.one_of(
    st.none(),
    st.fixed_dictionaries({"backend": st.just("batman_adv"), "interface": IFNAME},
                          optional={"hop_penalty": st.one_of(st.none(), int_like(0, 255))}),
    st.fixed_dictionaries({"backend": st.just("bridge"), "interface": IFNAME},
                          optional={"isolated": st.booleans()}))


@st.composite
def valid_instances(draw):
    mode = draw(st.sampled_from(fastd.MODES))
    methods = draw(st.lists(st.sampled_from(sorted(fastd.METHODS)), min_size=1, max_size=4, unique=True))
    methods.sort(key=lambda m: m == "null")  # null after null@l2tp, as the gateway's order decides
    offload = mode == "multitap" and "null@l2tp" in methods and draw(st.booleans())
    on_verify = draw(st.one_of(st.none(), st.booleans(), COMMAND))
    if mode == "tap":
        interface = draw(IFNAME)
    elif on_verify or draw(st.booleans()):
        interface = draw(st.from_regex(r"[A-Za-z0-9_.-]{0,7}", fullmatch=True)) + "%k"
    else:
        interface = draw(st.from_regex(r"[A-Za-z0-9_.-]{0,3}", fullmatch=True)) + "%n" + \
            draw(st.from_regex(r"[A-Za-z0-9_.-]{0,3}", fullmatch=True))
    inst = {"name": draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,31}", fullmatch=True)),
            "port": draw(int_like(1, 65535)), "interface": interface, "mode": mode,
            "methods": methods, "offload_l2tp": offload}
    optional = {
        "mtu": int_like(fastd.MTU_MIN, fastd.MTU_MAX),
        "bind": st.lists(VALID_BIND, min_size=1, max_size=3),
        "peer_limit": st.one_of(st.none(), int_like(0, fastd.PEER_LIMIT_MAX)),
        "peers": st.lists(PEER, max_size=3, unique_by=(lambda p: p["name"], lambda p: p["key"].lower())),
        "peer_groups": st.lists(st.fixed_dictionaries(
            {"name": PEER_NAME},
            optional={"peer_limit": st.one_of(st.none(), int_like(0, fastd.PEER_LIMIT_MAX)),
                      "peers": st.lists(PEER, max_size=2)}), max_size=2, unique_by=lambda g: g["name"]),
        "log_level": st.one_of(st.none(), st.sampled_from(fastd.LOG_LEVELS)),
        "drop_capabilities": st.one_of(st.none(), st.booleans(), st.sampled_from(fastd.DROP_CAPABILITIES)),
        "packet_mark": st.one_of(st.none(), int_like(0, fastd.PACKET_MARK_MAX)),
        "hide_ip_addresses": st.booleans(),
        "secret": st.one_of(st.none(), st.just(SECRET)),
        "mesh": MESH,
    }
    for key in draw(st.sets(st.sampled_from(sorted(optional)))):
        inst[key] = draw(optional[key])
    if on_verify is not None:
        inst["on_verify"] = on_verify
    return inst


def jinja_environment():
    """A Jinja2 environment like Ansible's template module (trim_blocks) with
    the collection's filters under their full names and Ansible's core ones."""
    env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "filter", "*.py"))):
        module = importlib.import_module("ansible_collections.freifunk.gateway.plugins.filter."
                                         + os.path.basename(path)[:-3])
        for name, func in module.FilterModule().filters().items():
            env.filters["freifunk.gateway." + name] = func
    try:
        from ansible.plugins.filter.core import FilterModule as CoreFilters
        core = CoreFilters().filters()
    except ImportError:  # pragma: no cover
        core = {}
    core.setdefault("ternary", lambda value, yes, no, none=None: none if value is None and none is not None
                    else (yes if value else no))
    for name, func in core.items():
        env.filters.setdefault(name, func)
        env.filters["ansible.builtin." + name] = func
    return env


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="fastd-prop-") as path:
        with open(os.path.join(path, "secret.conf"), "w") as handle:
            handle.write(render.render_secret(SECRET))
        os.mkdir(os.path.join(path, "peers"))
        yield path


_TEMPLATES = {}


def role_template():
    if "fastd.conf" not in _TEMPLATES:
        with open(TEMPLATE) as handle:
            _TEMPLATES["fastd.conf"] = jinja_environment().from_string(handle.read())
    return _TEMPLATES["fastd.conf"]


@pytest.mark.skipif(FASTD is None, reason="needs the fastd binary")
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(valid_instances())
def test_clean_instances_render_to_a_config_fastd_accepts(workdir, inst):
    assume(fastd.validate_instances([inst]) == [])
    (item,) = flt.fastd_instances_normalized([inst])
    item.update(config_dir=workdir, secret_file=os.path.join(workdir, "secret.conf"),
                peers_dir=os.path.join(workdir, "peers"))
    for group in item["peer_groups"]:
        os.makedirs(os.path.join(workdir, "groups", group["name"]), exist_ok=True)
    text = role_template().render(
        item=item, ansible_managed="Ansible managed", on_connect_script="/usr/local/sbin/freifunk-on-connect")
    # each peer's file, rendered as fastd_peers writes it, included the way fastd reads peer dirs
    for peer in item["peers"] + [p for g in item["peer_groups"] for p in g["peers"]]:
        peer_file = os.path.join(workdir, "peer-" + peer["name"])
        with open(peer_file, "w") as handle:
            handle.write(render.render_peer(peer))
        text += 'peer %s { include %s; }\n' % (render.quote(peer["name"]), render.quote(peer_file))
    conf = os.path.join(workdir, "fastd.conf")
    with open(conf, "w") as handle:
        handle.write(text)
    proc = subprocess.run([FASTD, "--verify-config", "--config", conf], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + "\n" + text
    assert "Error" not in proc.stdout, proc.stdout + "\n" + text
