"""tests/bed/role_docs.py: the option tables of the role pages, generated
from meta/argument_specs.yml, and the check that finds a stale page."""

import importlib.util
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_spec = importlib.util.spec_from_file_location("role_docs", os.path.join(ROOT, "tests", "bed", "role_docs.py"))
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)


@pytest.mark.parametrize("text, markdown", [
    ("C(/etc/fastd/NAME)", "`/etc/fastd/NAME`"),
    ("V(absent) retires it", "`absent` retires it"),
    ("see O(fastd_instances[].bind)", "see `fastd_instances[].bind`"),
    ("O(nftables_table_name=inet freifunk_fastd)", "`nftables_table_name=inet freifunk_fastd`"),
    ("O(freifunk.gateway.fastd_key#module:path)", "`path`"),
    ("M(freifunk.gateway.fastd_preflight)", "`freifunk.gateway.fastd_preflight`"),
    ("P(freifunk.gateway.gluon_site#lookup)", "`freifunk.gateway.gluon_site`"),
    ("E(HOME) and RV(peers)", "`HOME` and `peers`"),
    ("I(never) B(before)", "*never* **before**"),
    ("U(https://gluon.example.org/docs)", "<https://gluon.example.org/docs>"),
    ("L(the Gluon docs, https://gluon.example.org/docs)", "[the Gluon docs](https://gluon.example.org/docs)"),
    ("V(a\\)b) and V(c\\\\d)", "`a)b` and `c\\d`"),
    # code next to code is one span: `` would open a longer code span
    ("under O(tunneldigger_prefix)C(/versions);", "under `tunneldigger_prefix/versions`;"),
    # a pipe would end the table cell, < > start HTML, * emphasis
    ("C(a|b) or 2 * x | y", "`a\\|b` or 2 \\* x \\| y"),
    ("sessions l2tp<id>", "sessions l2tp&lt;id&gt;"),
    ("C(say `hi`)", "`` say `hi` ``"),  # CommonMark strips one space each side
    # no markup: a word that ends in C, an unclosed one
    ("ABC(x) and C(", "ABC(x) and C("),
])
def test_markup_to_markdown(text, markdown):
    assert role_docs.markup_to_markdown(text) == markdown


@pytest.mark.parametrize("value, text", [
    ([], "[]"),
    ("", '""'),
    ("fastd", "fastd"),
    ("kernel L2TPv3 tunnels", "kernel L2TPv3 tunnels"),
    ("off", '"off"'),      # YAML would read a bare off as false
    ("10000", '"10000"'),  # and this as a number
    ("a: b", '"a: b"'),
    (["salsa2012+umac"], "[salsa2012+umac]"),
    ([{"name": "bat0"}], "[{name: bat0}]"),
    ({"type": "git", "version": "v0.4.0"}, "{type: git, version: v0.4.0}"),
    (False, "false"),
    (0.2, "0.2"),
    (None, "null"),
])
def test_inline_default(value, text):
    assert role_docs.inline(value) == text


SPEC = {"argument_specs": {"main": {"short_description": "x", "options": {
    "x_items": {
        "type": "raw", "default": [], "description": ["The items.", "Checked by C(x.py)."],
        "options": {
            "name": {"type": "str", "required": True, "description": "Its name."},
            "methods": {"type": "list", "elements": "str", "default": ["null"], "description": "Methods."},
            "sources": {"type": "list", "elements": "dict", "default": [], "description": "Sources.",
                        "options": {"kind": {"type": "str", "choices": ["git", "directory"], "required": True,
                                             "description": "What it is."}}},
        },
    },
    "x_source": {"type": "dict", "default": {"type": "git"}, "description": "Where.",
                 "options": {"url": {"type": "str", "description": "The URL."}}},
    "x_mode": {"type": "str", "choices": ["on", "off"], "default": "on", "description": "V(off) stops it."},
}}}}


def test_table_rows_with_nested_options():
    lines = role_docs.render(SPEC).splitlines()
    assert "| option | type | default | choices | required | description |" in lines
    assert lines[-1] == ""  # a blank line ends the table before the END marker
    assert ("| `x_items` | list of dict | `[]` |  |  | The items.<br>Checked by `x.py`. |") in lines
    assert "| `x_items[].name` | str |  |  | yes | Its name. |" in lines
    assert '| `x_items[].methods` | list of str | `["null"]` |  |  | Methods. |' in lines
    assert "| `x_items[].sources[].kind` | str |  | `git`, `directory` | yes | What it is. |" in lines
    assert "| `x_source` | dict | `{type: git}` |  |  | Where. |" in lines
    assert "| `x_source.url` | str |  |  |  | The URL. |" in lines
    assert '| `x_mode` | str | `"on"` | `"on"`, `"off"` |  | `off` stops it. |' in lines


def test_several_entry_points_get_a_heading_each():
    spec = {"argument_specs": {
        "main": {"short_description": "Check the site.", "options": {"x_a": {"type": "str", "description": "A."}}},
        "render": {"short_description": "Print C(site.conf) lines.", "options": {}},
    }}
    text = role_docs.render(spec)
    assert "Entry point `main`: Check the site." in text
    assert "Entry point `render` (`tasks_from: render`): Print `site.conf` lines." in text
    assert "No options." in text


def test_entry_points_with_the_same_options_share_one_table():
    options = {"x_a": {"type": "str", "description": "A."}}
    spec = {"argument_specs": {
        "main": {"short_description": "Check.", "options": options},
        "check": {"short_description": "Same as main.", "options": dict(options)},
    }}
    text = role_docs.render(spec)
    assert text.count("| `x_a` |") == 1
    assert "Entry point `check` (`tasks_from: check`): Same as main. Options as for `main`." in text


PAGE = """# freifunk.gateway.x

Prose before.

## Variables

%s
old table
%s

Prose after.
""" % (role_docs.BEGIN, role_docs.END)


@pytest.fixture
def repo(tmp_path):
    role = tmp_path / "roles" / "x"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(SPEC))
    (role / "README.md").write_text(PAGE)
    return tmp_path


def test_check_names_the_role_and_the_difference(repo, capsys):
    assert role_docs.main(["--root", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "roles/x/README.md: option table differs from meta/argument_specs.yml (run make role-docs)" in err
    assert "-old table" in err
    assert "+| `x_items[].name` | str |" in err


def test_write_keeps_the_prose_then_the_check_passes(repo, capsys):
    assert role_docs.main(["--root", str(repo), "--write"]) == 0
    text = (repo / "roles" / "x" / "README.md").read_text()
    assert text.startswith("# freifunk.gateway.x\n\nProse before.\n\n## Variables\n\n" + role_docs.BEGIN + "\n")
    assert text.endswith(role_docs.END + "\n\nProse after.\n")
    assert "old table" not in text
    assert role_docs.main(["--root", str(repo)]) == 0
    assert "option tables of 1 roles match" in capsys.readouterr().out
    # a changed spec makes the page stale again
    spec_path = repo / "roles" / "x" / "meta" / "argument_specs.yml"
    spec_path.write_text(spec_path.read_text().replace("Its name.", "Its new name."))
    assert role_docs.main(["--root", str(repo)]) == 1
    assert "+| `x_items[].name` | str |  |  | yes | Its new name. |" in capsys.readouterr().err


def test_a_page_without_markers(repo, capsys):
    page = repo / "roles" / "x" / "README.md"
    page.write_text("# freifunk.gateway.x\n\nProse only.\n")
    assert role_docs.main(["--root", str(repo)]) == 1
    assert "roles/x/README.md: no option table markers" in capsys.readouterr().err
    assert role_docs.main(["--root", str(repo), "--write"]) == 0
    text = page.read_text()
    assert text.startswith("# freifunk.gateway.x\n\nProse only.\n\n## Variables\n\n" + role_docs.BEGIN)
    assert role_docs.main(["--root", str(repo)]) == 0


def test_a_role_without_argument_specs(repo, capsys):
    (repo / "roles" / "y").mkdir()
    assert role_docs.main(["--root", str(repo)]) == 1
    assert "roles/y: no meta/argument_specs.yml" in capsys.readouterr().err


def test_every_row_of_the_real_specs_has_six_cells():
    """An unescaped | in a description would add a cell and shift the table."""
    for role in role_docs.roles(ROOT):
        spec_path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
        if not os.path.exists(spec_path):
            continue
        with open(spec_path) as f:
            generated = role_docs.render(yaml.safe_load(f))
        for line in generated.splitlines():
            if line.startswith("|"):
                assert len(_split_cells(line)) == 6, (role, line)


def _split_cells(line):
    cells, cell, escaped = [], "", False
    for ch in line.strip()[1:-1]:
        if ch == "|" and not escaped:
            cells.append(cell)
            cell = ""
        else:
            cell += ch
        escaped = ch == "\\" and not escaped
    return cells + [cell]
