"""Tests for plugins/module_utils/fastd_render.py: the text fastd reads.

Each renderer must refuse what the validators refuse (defence in depth), and
what it writes must mean to the real fastd exactly what it meant to us."""

import shutil

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import fastd as f
from ansible_collections.freifunk.gateway.plugins.module_utils import fastd_render as r

FASTD = shutil.which("fastd")
requires_fastd = pytest.mark.skipif(FASTD is None, reason="needs the fastd binary")

KEY_A = "84ddcfa9c8887a361f4ee619d79a642c50acd0d04a2b3109ab65a85e34f24f0f"
KEY_B = "57401fc65b85c386feecaba0661fd1e927f08130e61132538839c5728380751a"
SECRET = "f8a2832608f6a63a1bf5e70e515c37e1cb1d3550048a56aa532c0050fff16760"
# The value of the issue: ipaddress accepts it as a scoped IPv6 address.
INJECTION = '::1%x]:10000; on establish "touch /tmp/pwned"; #'


# --- quote -----------------------------------------------------------------

def test_quote_escapes_backslash_and_double_quote():
    assert r.quote('a "b" \\c') == '"a \\"b\\" \\\\c"'
    assert r.quote("") == '""'
    assert r.quote("caf\u00e9") == '"caf\u00e9"'


@pytest.mark.parametrize("value", ["a\nb", "x\r", "\tx", "x\x00", "\x1b[31m", "x\x7f", "x\x85",
                                   "x\u2028", "/run/x\non establish \"id\";"])
def test_quote_refuses_control_characters(value):
    with pytest.raises(ValueError, match="control character"):
        r.quote(value)


@pytest.mark.parametrize("value", [None, 5, True, ["x"]])
def test_quote_refuses_what_is_not_a_string(value):
    with pytest.raises(ValueError, match="must be a string"):
        r.quote(value)


@requires_fastd
def test_an_unescaped_newline_would_be_taken_into_the_string_by_fastd(tmp_path, fastd_verify):
    """Why quote() refuses newlines: fastd's lexer keeps a raw newline inside
    a string (src/lex.c parse_string), so a command would silently get two
    lines, and fastd would not complain."""
    rc, out = fastd_verify('on verify "true\nid";')
    assert rc == 0, out


# --- bind ------------------------------------------------------------------

@pytest.mark.parametrize("address, port, expected", [
    ("any", 10000, "any:10000"),
    ("192.0.2.1", "10000", "192.0.2.1:10000"),
    ("[192.0.2.1]", 1, "192.0.2.1:1"),
    ("2001:DB8::1", 65535, "[2001:db8::1]:65535"),
    ("fe80::1%eth0", 10000, "[fe80::1%eth0]:10000"),
    ("[fe80::1%2]", 10000, "[fe80::1%2]:10000"),
    ("::ffff:192.0.2.1", 1, "[0000:0000:0000:0000:0000:ffff:c000:0201]:1"),
])
def test_render_bind(address, port, expected):
    assert r.render_bind(address, port) == expected


@pytest.mark.parametrize("address, message", [
    (INJECTION, "the scope 'x]:10000; on establish \"touch /tmp/pwned\"; #' of"),
    ("fe80::1%lo\n", "the scope 'lo\\n' of"),
    ("fe80::1%", "the scope '' of"),
    ("fe80::1%eth0 x", "the scope 'eth0 x' of"),
    ("fe80::1%abcdefghijklmnop", "is not an interface name"),
    ("[fe80::1%lo]x", "is not 'any' or an IP address"),
    ("192.0.2.1%lo", "only IPv6 addresses have a scope"),
    ("192.0.2.1\n", "is not 'any' or an IP address"),
    ("any\n", "is not 'any' or an IP address"),
    (" ::1", "is not 'any' or an IP address"),
])
def test_render_bind_refuses_what_validation_refuses(address, message):
    with pytest.raises(ValueError) as err:
        r.render_bind(address, 10000)
    assert message in str(err.value)
    errors = f.validate_instances([{"name": "m", "port": 1, "interface": "m-%k", "bind": [address]}])
    assert len(errors) == 1 and errors[0].startswith("fastd_instances[0].bind[0]: "), errors


@requires_fastd
def test_the_injection_would_reach_fastd_if_it_were_written(tmp_path, fastd_verify):
    """The attack the scope rule stops: written as it was, fastd reads the
    rest of the value as a root hook and a comment, and accepts the file."""
    marker = tmp_path / "pwned"
    naive = "bind [%s]:10000;" % INJECTION.replace("/tmp/pwned", str(marker))
    rc, out = fastd_verify(naive)
    assert rc == 0, out


# --- peers -----------------------------------------------------------------

def peer(**extra):
    return dict({"name": "gw01", "key": KEY_A}, **extra)


def test_render_peer():
    text = r.render_peer(peer(key=KEY_A.upper(), comment="Gateway 1\nin Hamburg",
                              remotes=['"gw01.example.org":10000', "[2001:db8::1] port 10000"],
                              float=True))
    assert text == ('# Gateway 1\n# in Hamburg\nkey "%s";\nremote "gw01.example.org" port 10000;\n'
                    'remote [2001:db8::1]:10000;\nfloat yes;\n' % KEY_A)
    assert r.render_peer(peer()) == 'key "%s";\n' % KEY_A
    assert r.render_peer(peer(comment="trailing newline\n")) == '# trailing newline\nkey "%s";\n' % KEY_A


@pytest.mark.parametrize("bad", [
    {"key": KEY_A + "\n"}, {"key": "x"}, {"name": "gw01\n"}, {"comment": "a\rfloat yes;"},
    {"comment": "a\x00"}, {"comment": "a\x0bb"}, {"comment": "a\x85b"}, {"comment": 5},
    {"remotes": ['"gw01" port 1\n']}, {"remotes": ["[fe80::1%lo\n]:1"]}, {"float": "yes"},
    {"remotes": ['"gw01" port 1; float yes']},
])
def test_render_peer_refuses_what_validation_refuses(bad):
    with pytest.raises(ValueError):
        r.render_peer(peer(**bad))
    assert f.validate_peers([peer(**bad)], "peers")


@pytest.mark.parametrize("comment", [
    'x\nkey "%s";' % KEY_B,
    "x\n  float yes;\n/* y */ remote 192.0.2.9:1;",
    'x\\\nfloat yes;',  # a backslash does not continue a # comment
    "# already a comment\n\n\nkey",
    "x */ float yes; /*",
])
def test_every_comment_line_is_a_comment(comment):
    text = r.render_peer(peer(comment=comment))
    lines = text.splitlines()
    assert lines[-1] == 'key "%s";' % KEY_A
    assert all(line.startswith("#") for line in lines[:-1])


@requires_fastd
def test_fastd_reads_no_directive_from_a_comment(tmp_path, fastd_verify):
    """A peer file whose comment holds directives fastd would refuse (port 0):
    fastd accepts the rendered file, so it read none of them; the same lines
    without the "# " prefixes fail with fastd's "invalid port"."""
    comment = 'remote 192.0.2.9:0;\n  float yes;\nkey "%s"; remote [::1]:0;' % KEY_B
    peer_file = tmp_path / "gw01"
    peer_file.write_text(r.render_peer(peer(comment=comment)))
    rc, out = fastd_verify('peer "gw01" { include "%s"; }' % peer_file)
    assert rc == 0, out
    peer_file.write_text(comment + '\nkey "%s";\n' % KEY_A)
    rc, out = fastd_verify('peer "gw01" { include "%s"; }' % peer_file)
    assert rc != 0 and "invalid port" in out, out


@requires_fastd
def test_rendered_peer_is_accepted_by_fastd(tmp_path, fastd_verify):
    peer_file = tmp_path / "gw01"
    peer_file.write_text(r.render_peer(peer(
        comment="c", float=True,
        remotes=['"gw01.example.org" port 10000', "192.0.2.1:10000", "[2001:db8::1]:10000",
                 'ipv4 "gw01.example.org":10000', "[fe80::1%lo]:10000", "[fe80::1%1]:10000"])))
    rc, out = fastd_verify('peer "gw01" { include "%s"; }' % peer_file)
    assert rc == 0, out


# --- secret ----------------------------------------------------------------

def test_secret_round_trip():
    assert r.parse_secret("# x\n" + r.render_secret(SECRET.upper())) == SECRET
    assert r.parse_secret('secret "abc";') is None
    assert r.parse_secret('  secret "%s" ;  \n' % SECRET) == SECRET


@pytest.mark.parametrize("secret", [SECRET + "\n", SECRET[:-1], None, 'x";\non up "id', 5])
def test_render_secret_refuses_bad_secrets_without_echoing_them(secret):
    with pytest.raises(ValueError) as err:
        r.render_secret(secret)
    assert str(secret) not in str(err.value) or secret in (None, 5)
