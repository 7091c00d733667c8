"""Tests for plugins/module_utils/rules.py: the rules fastd, batman and mesh share.

Values come both as Python values and as the subclasses Ansible hands to a
filter (ansible-core 2.19 tags values with their origin: _AnsibleTaggedStr,
_AnsibleTaggedInt, ...): messages must name YAML types, never those classes.
"""

import pytest

from ansible_collections.freifunk.gateway.plugins.module_utils import rules

try:  # ansible-core 2.19: values from YAML carry their origin as a tag
    from ansible._internal._datatag._tags import Origin
except ImportError:  # pragma: no cover - older ansible-core has no tags
    Origin = None

requires_tags = pytest.mark.skipif(Origin is None, reason="needs ansible-core with data tags")


def tagged(value):
    return Origin(path="/inventory/group_vars/all.yml", line_num=3).tag(value)


@pytest.mark.parametrize("value, name", [
    (None, "null"), (True, "boolean"), (False, "boolean"), (0, "integer"), (-5, "integer"),
    (1.5, "float"), ("", "string"), ("x", "string"), ([], "list"), ((1,), "list"),
    ({}, "dict"), (object(), "value of an unsupported type"),
])
def test_type_name(value, name):
    assert rules.type_name(value) == name


@pytest.mark.parametrize("value, text", [
    (None, "null"), (True, "boolean true"), (False, "boolean false"), (42, "42"), (-1, "-1"),
    (1.5, "float 1.5"), ("abc", "string 'abc'"), ("a\nb", "string 'a\\nb'"), ([1], "list"),
    ({"a": 1}, "dict"), ("x" * 61, "string '%s'... (61 characters)" % ("x" * 60)),
    (10 ** 40, "a 133-bit integer"),
])
def test_describe(value, text):
    assert rules.describe(value) == text


@requires_tags
@pytest.mark.parametrize("value, text", [
    ("abc", "string 'abc'"), (10010, "10010"), (True, "boolean true"), (1.5, "float 1.5"),
    ([1, 2], "list"), ({"a": 1}, "dict"),
])
def test_tagged_values_are_described_in_yaml_terms(value, text):
    value = tagged(value)
    assert type(value).__name__.startswith("_Ansible") or isinstance(value, bool)
    assert rules.describe(value) == text
    assert "Ansible" not in rules.type_name(value)


@requires_tags
def test_tagged_values_follow_the_same_rules():
    assert rules.as_int(tagged("10010")) == 10010 and rules.as_int(tagged("10010")).__class__ is int
    assert rules.as_int(tagged(10010)) == 10010 and rules.to_int(tagged(10010)).__class__ is int
    assert rules.is_ifname(tagged("bat0"))
    assert rules.int_errors(tagged("abc"), "v", 1, 65535) == [
        "v must be an integer 1..65535, got string 'abc'"]


@pytest.mark.parametrize("value, number", [
    (0, 0), (10010, 10010), ("10010", 10010), ("007", 7), ("0", 0), ("9" * 20, int("9" * 20)),
    (True, None), (False, None), ("", None), ("-1", None), ("+1", None), (" 1", None),
    ("1\n", None), ("1_000", None), ("0x10", None), ("1.0", None), (1.0, None), (None, None),
    ("\u0661", None),  # ARABIC-INDIC DIGIT ONE: str.isdigit() says yes, int() reads it; not here
    ("9" * 21, None), ([1], None),
])
def test_as_int(value, number):
    assert rules.as_int(value) == number


def test_to_int_normalizes_and_leaves_the_rest():
    assert rules.to_int("10010") == 10010
    assert rules.to_int("abc") == "abc"
    assert rules.to_int(None) is None
    assert rules.to_int(True) is True


@pytest.mark.parametrize("value, kwargs, message", [
    ("abc", {}, "v must be an integer 1..65535, got string 'abc'"),
    (0, {}, "v must be an integer 1..65535, got 0"),
    ("65536", {}, "v must be an integer 1..65535, got string '65536'"),
    (True, {}, "v must be an integer 1..65535, got boolean true"),
    (None, {}, "v must be an integer 1..65535, got null"),
    (1.0, {}, "v must be an integer 1..65535, got float 1.0"),
    ([1], {}, "v must be an integer 1..65535, got list"),
    (-1, {"allow_none": True}, "v must be an integer 1..65535 or null, got -1"),
])
def test_int_errors(value, kwargs, message):
    assert rules.int_errors(value, "v", 1, 65535, **kwargs) == [message]


@pytest.mark.parametrize("value", [1, 65535, "1", "65535", "080"])
def test_int_errors_accepts(value):
    assert rules.int_errors(value, "v", 1, 65535) == []
    assert rules.int_errors(None, "v", 1, 65535, allow_none=True) == []


@pytest.mark.parametrize("value, message", [
    ("yes", "v must be a boolean (true or false), got string 'yes' (write true or false without quotes)"),
    ("true", "v must be a boolean (true or false), got string 'true' (write true or false without quotes)"),
    (1, "v must be a boolean (true or false), got 1"),
    (None, "v must be a boolean (true or false), got null"),
    ("maybe", "v must be a boolean (true or false), got string 'maybe'"),
])
def test_bool_errors(value, message):
    assert rules.bool_errors(value, "v") == [message]


def test_bool_errors_accepts_booleans_only():
    assert rules.bool_errors(True, "v") == rules.bool_errors(False, "v") == []
    assert rules.bool_errors(None, "v", allow_none=True) == []


@pytest.mark.parametrize("name", ["bat0", "br-client", "eth0.100", "a", "x" * 15, "0", "42", "_", "..."])
def test_ifnames(name):
    assert rules.is_ifname(name) and rules.is_scope(name)
    assert rules.ifname_errors(name, "v") == []


@pytest.mark.parametrize("name", ["", ".", "..", "x" * 16, "bat0\n", "bat0\r", "bat\t0", "bat0\x00",
                                  "br client", "br/x", "br:0", "x]", 'x"', "x;", "b\u00e4t0", None, 0])
def test_not_ifnames(name):
    assert not rules.is_ifname(name) and not rules.is_scope(name)
    (message,) = rules.ifname_errors(name, "v")
    assert message.startswith("v must be an interface name: 1-15 letters")


@pytest.mark.parametrize("text, allow, found", [
    ("plain text", "", None), ("caf\u00e9 \u263a", "", None), ("a\nb", "\n", None),
    ("a\nb", "", "\n"), ("a\rb", "\n", "\r"), ("\t", "", "\t"), ("\x00", "", "\x00"),
    ("\x7f", "", "\x7f"), ("\x85", "", "\x85"), ("\u2028", "", "\u2028"), ("\ud800", "", "\ud800"),
])
def test_control_character(text, allow, found):
    assert rules.control_character(text, allow) == found


def test_control_errors_name_the_character_and_position():
    assert rules.control_errors("ab\rc", "v") == [
        "v must not contain control characters; found carriage return at position 2"]
    assert rules.control_errors("a\x1bb", "v") == [
        "v must not contain control characters; found U+001B at position 1"]
    assert rules.control_errors("a\nb", "v", allow="\n") == []


def test_unknown_keys():
    assert rules.unknown_keys({"a": 1, "z": 2, 3: 4}, ("a",), "v") == [
        "v: unknown keys 3, z; valid keys: a"]
    assert rules.unknown_keys({"a": 1}, ("a", "b"), "v") == []
