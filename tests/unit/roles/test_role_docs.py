"""tests/bed/role_docs.py: the role pages' option tables and the pages of
docs/reference/, generated from what ansible-doc shows of the collection, and
the check that finds a page that differs or is stale.

What a reader sees is checked by rendering the Markdown the way GitHub does
(CommonMark with tables, through markdown-it-py)."""

import importlib.util
import os
import re

import pytest
import yaml
from antsibull_docs_parser import dom
from markdown_it import MarkdownIt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_spec = importlib.util.spec_from_file_location("role_docs", os.path.join(ROOT, "tests", "bed", "role_docs.py"))
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)

MARKDOWN = MarkdownIt("commonmark").enable("table")


def shown(markdown):
    """The HTML a Markdown fragment renders to, inline."""
    return MARKDOWN.renderInline(markdown)


def table_rows(markdown):
    """The cells of every table row that the Markdown renders to, as HTML."""
    html = MARKDOWN.render(markdown)
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", html, re.S)]


# --- markup -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, html", [
    ("C(/etc/fastd/NAME)", "<code>/etc/fastd/NAME</code>"),
    ("V(absent) retires it", "<code>absent</code> retires it"),
    ("see O(fastd_instances[].bind)", "see <code><strong>fastd_instances[].bind</strong></code>"),
    ("O(nftables_table_name=inet freifunk_fastd)", "<code>nftables_table_name=inet freifunk_fastd</code>"),
    ("O(freifunk.gateway.fastd_key#module:path)", "<code><strong>path</strong></code>"),
    ("M(freifunk.gateway.fastd_preflight)", "freifunk.gateway.fastd_preflight"),
    ("P(freifunk.gateway.gluon_site#lookup)", "freifunk.gateway.gluon_site"),
    ("E(HOME) and RV(peers)", "<code>HOME</code> and <code>peers</code>"),
    ("I(never) B(before)", "<em>never</em> <b>before</b>"),
    ("U(https://gluon.example.org/docs)", '<a href="https://gluon.example.org/docs">https://gluon.example.org/docs</a>'),
    ("L(the Gluon docs, https://gluon.example.org/docs)", '<a href="https://gluon.example.org/docs">the Gluon docs</a>'),
    ("one HORIZONTALLINE two", "one<hr>two"),
    ("V(a\\)b) and V(c\\\\d)", "<code>a)b</code> and <code>c\\d</code>"),
    # what Markdown would read as markup stays text
    ("2 * x * y, l2tp<id>, [a](b), `c`", "2 * x * y, l2tp&lt;id&gt;, [a](b), `c`"),
])
def test_each_kind_of_markup(text, html):
    markdown = role_docs.markup_to_markdown(text)
    assert "\n" not in markdown
    assert shown(markdown) == html


def test_paragraphs_of_a_cell_are_joined_without_a_line_break():
    assert role_docs.markup_to_markdown(["One\nline.", "Two."]) == "One line\\.<br>Two\\."


def test_broken_markup_is_an_error():
    with pytest.raises(ValueError, match="Cannot find closing"):
        role_docs.markup_to_markdown("C(open")


def test_the_collections_plugins_and_roles_are_linked_from_where_the_page_is():
    pages = {("freifunk.gateway.fastd_key", "module"): "docs/reference/modules/fastd_key.md",
             ("freifunk.gateway.fastd", "role"): "roles/fastd/README.md"}
    from_role = role_docs.Markup(links=role_docs.PageLinks(pages, "roles/gluon_site"))
    assert shown(from_role.cell("M(freifunk.gateway.fastd_key)")) == (
        '<a href="../../docs/reference/modules/fastd_key.md">freifunk.gateway.fastd_key</a>')
    from_module = role_docs.Markup(links=role_docs.PageLinks(pages, "docs/reference/modules"))
    assert shown(from_module.cell("P(freifunk.gateway.fastd#role)")) == (
        '<a href="../../../roles/fastd/README.md">freifunk.gateway.fastd</a>')
    # another collection's plugin has no page here
    assert shown(from_module.cell("P(ansible.builtin.file#lookup)")) == "ansible.builtin.file"


@pytest.mark.parametrize("value, text", [
    ([], "[]"),
    ("", '""'),
    ("fastd", "fastd"),
    ("kernel L2TPv3 tunnels", "kernel L2TPv3 tunnels"),
    ("off", '"off"'),      # YAML would read a bare off as false
    ("10000", '"10000"'),  # and this as a number
    ("a: b", '"a: b"'),
    ("two\nlines", '"two\\nlines"'),
    (["salsa2012+umac"], "[salsa2012+umac]"),
    ([{"name": "bat0"}], "[{name: bat0}]"),
    ({"type": "git", "version": "v0.4.0"}, "{type: git, version: v0.4.0}"),
    (False, "false"),
    (0.2, "0.2"),
    (None, "null"),
])
def test_inline_values(value, text):
    assert role_docs.inline(value) == text


# --- tables -------------------------------------------------------------------------------------

ROLE_OPTIONS = {
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
    "x_mode": {"type": "str", "choices": ["on", "off"], "default": "on", "description": "V(off) stops it."},
    "x_source": {"type": "dict", "default": {"type": "git"}, "description": "Where.",
                 "options": {"url": {"type": "str", "description": "The URL."}}},
}
ROLE = {"entry_points": {"main": {"short_description": "x", "options": ROLE_OPTIONS}}}


def test_option_rows_with_nested_options():
    lines = role_docs.role_block("freifunk.gateway.x", ROLE, None).splitlines()
    assert lines[1] == "| option | type | default | choices | required | description |"
    assert lines[-1] == ""  # a blank line ends the table before the END marker
    rows = table_rows("\n".join(lines))
    assert rows[0] == ["option", "type", "default", "choices", "required", "description"]
    assert ["<code>x_items</code>", "list of dict", "<code>[]</code>", "", "",
            "The items.<br>Checked by <code>x.py</code>."] in rows
    assert ["<code>x_items[].name</code>", "str", "", "", "yes", "Its name."] in rows
    assert ['<code>x_items[].methods</code>', "list of str", '<code>[&quot;null&quot;]</code>', "", "", "Methods."] in rows
    assert ["<code>x_items[].sources[].kind</code>", "str", "", "<code>git</code>, <code>directory</code>", "yes",
            "What it is."] in rows
    assert ["<code>x_source</code>", "dict", "<code>{type: git}</code>", "", "", "Where."] in rows
    assert ["<code>x_source.url</code>", "str", "", "", "", "The URL."] in rows
    assert ["<code>x_mode</code>", "str", "<code>&quot;on&quot;</code>", "<code>&quot;on&quot;</code>, <code>&quot;off&quot;</code>",
            "", "<code>off</code> stops it."] in rows


def test_a_plugins_suboptions_aliases_and_return_values():
    markup = role_docs.Markup(dom.PluginIdentifier("freifunk.gateway.x_mod", "module"))
    options = {"peers": {"type": "list", "elements": "dict", "aliases": ["nodes"], "description": "Peers.",
                         "suboptions": {"key": {"type": "str", "required": True, "description": "Its key."}}}}
    rows = table_rows("\n".join(role_docs.option_table(options, markup)))
    assert rows[1][0] == "<code>peers</code><br>alias: <code>nodes</code>"
    assert rows[2] == ["<code>peers[].key</code>", "str", "", "", "yes", "Its key."]
    values = {"peers": {"type": "list", "elements": "dict", "returned": "always", "description": "What was synced.",
                        "contains": {"name": {"type": "str", "description": "Name.", "sample": "node-a"}}}}
    rows = table_rows("\n".join(role_docs.return_table(values, markup)))
    assert rows[1] == ["<code>peers</code>", "list of dict", "always", "What was synced."]
    assert rows[2] == ["<code>peers[].name</code>", "str", "", "Name.<br>Sample: <code>node-a</code>"]


def test_a_table_cell_holds_pipes_and_line_breaks():
    """A | ends a cell and a line break ends the row unless they are escaped or joined."""
    options = {"x_fleet": {"type": "str", "default": "{{ hosts | default('all') }}",
                           "description": ["Hosts C(a | b) or 2|3,\nsee I(below).", "Second."],
                           "choices": ["a|b"]}}
    lines = role_docs.option_table(options, role_docs.Markup())
    assert len(lines) == 3
    rows = table_rows("\n".join(lines))
    assert rows[1] == ["<code>x_fleet</code>", "str", "<code>&quot;{{ hosts | default('all') }}&quot;</code>",
                       "<code>&quot;a|b&quot;</code>", "", "Hosts <code>a | b</code> or 2|3, see <em>below</em>.<br>Second."]


def test_several_entry_points_get_a_heading_each_main_first():
    role = {"entry_points": {
        "render": {"short_description": "Print C(site.conf) lines.", "options": {}},
        "main": {"short_description": "Check the site.", "options": {"x_a": {"type": "str", "description": "A."}}},
    }}
    text = role_docs.role_block("freifunk.gateway.x", role, None)
    assert text.index("Entry point `main`") < text.index("Entry point `render`")
    assert "Entry point `render` (`tasks_from: render`): " in text
    assert shown(text.split("tasks_from: render`): ")[1].splitlines()[0]) == "Print <code>site.conf</code> lines."
    assert "No options." in text


def test_entry_points_with_the_same_options_share_one_table():
    options = {"x_a": {"type": "str", "description": "A."}}
    role = {"entry_points": {
        "main": {"short_description": "Check.", "options": options},
        "check": {"short_description": "Same as main.", "options": dict(options)},
    }}
    text = role_docs.role_block("freifunk.gateway.x", role, None)
    assert text.count("| `x_a` |") == 1
    line = [l for l in text.splitlines() if l.startswith("Entry point `check`")][0]
    assert shown(line) == ("Entry point <code>check</code> (<code>tasks_from: check</code>): "
                           "Same as main. Options as for <code>main</code>.")


def test_a_page_without_markers_gets_a_variables_section():
    text, message, show_diff = role_docs._role_page("# freifunk.gateway.x\n\nProse only.\n", "freifunk.gateway.x", "\nT\n\n")
    assert text == "# freifunk.gateway.x\n\nProse only.\n\n## Variables\n\n%s\n\nT\n\n%s\n" % (role_docs.BEGIN, role_docs.END)
    assert message.startswith("no option table markers") and not show_diff


# --- the check, on a small collection that ansible-doc reads ----------------------------------

ARGUMENT_SPECS = {"argument_specs": {"main": {"short_description": "The x role.", "options": ROLE_OPTIONS}}}

MODULE = '''
DOCUMENTATION = r"""
module: x_mod
short_description: Do x
description:
  - Does x to O(path), see M(freifunk.gateway.x_mod).
options:
  path:
    description: Where.
    type: path
    required: true
notes:
  - A note.
attributes:
  check_mode:
    description: Can run in check mode.
    support: full
author: Someone (@someone)
"""

EXAMPLES = r"""
- name: Do x
  freifunk.gateway.x_mod:
    path: /tmp/x
"""

RETURN = r"""
path:
  description: The path.
  returned: always
  type: str
  sample: /tmp/x
"""
'''

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
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(ARGUMENT_SPECS))
    (role / "README.md").write_text(PAGE)
    (tmp_path / "plugins" / "modules").mkdir(parents=True)
    (tmp_path / "plugins" / "modules" / "x_mod.py").write_text(MODULE)
    return tmp_path


def test_check_write_and_what_makes_a_page_stale(repo, capsys):
    readme = repo / "roles" / "x" / "README.md"
    module_page = repo / "docs" / "reference" / "modules" / "x_mod.md"
    assert role_docs.main(["--root", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "roles/x/README.md: option table differs from meta/argument_specs.yml (run make role-docs)" in err
    assert "-old table" in err
    assert "+| `x_items[].name` | str |  |  | yes | Its name\\. |" in err
    assert "docs/reference/modules/x_mod.md: missing (run make role-docs)" in err
    assert "docs/reference/README.md: missing" in err

    assert role_docs.main(["--root", str(repo), "--write"]) == 0
    text = readme.read_text()
    assert text.startswith("# freifunk.gateway.x\n\nProse before.\n\n## Variables\n\n" + role_docs.BEGIN + "\n")
    assert text.endswith(role_docs.END + "\n\nProse after.\n")
    assert "old table" not in text
    page = module_page.read_text()
    assert page.startswith("# freifunk.gateway.x_mod module\n\n*Generated by `tests/bed/role_docs.py` from its "
                           "documentation in `plugins/modules/x_mod.py`; do not edit this page by hand")
    for heading in ("## Synopsis", "## Options", "## Attributes", "## Notes", "## Examples", "## Return values"):
        assert heading in page
    assert "```yaml\n- name: Do x\n  freifunk.gateway.x_mod:\n    path: /tmp/x\n```" in page
    assert 'see <a href="x_mod.md">freifunk.gateway.x_mod</a>' in MARKDOWN.render(page)
    index = (repo / "docs" / "reference" / "README.md").read_text()
    assert "(../../roles/x/README.md)" in index and "(modules/x_mod.md)" in index
    assert role_docs.main(["--root", str(repo)]) == 0
    assert "option tables of 1 roles and the pages of 1 plugins match" in capsys.readouterr().out

    # a hand-edited page, a changed spec, a page no plugin has
    module_page.write_text(page.replace("Do x", "Do y"))
    spec_path = repo / "roles" / "x" / "meta" / "argument_specs.yml"
    spec_path.write_text(spec_path.read_text().replace("Its name.", "Its new name."))
    stale = repo / "docs" / "reference" / "filters" / "gone.md"
    stale.parent.mkdir()
    stale.write_text("# freifunk.gateway.gone filter\n")
    assert role_docs.main(["--root", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "docs/reference/modules/x_mod.md: differs from the documentation of module freifunk.gateway.x_mod" in err
    assert "-Do y\n+Do x" in err
    assert "+| `x_items[].name` | str |  |  | yes | Its new name\\. |" in err
    assert "docs/reference/filters/gone.md: no module, filter or lookup has this page" in err

    assert role_docs.main(["--root", str(repo), "--write"]) == 0
    assert "removed docs/reference/filters/gone.md" in capsys.readouterr().out
    assert not stale.parent.exists()
    assert role_docs.main(["--root", str(repo)]) == 0


def test_a_plugin_ansible_doc_cannot_show_keeps_every_page(repo, capsys):
    assert role_docs.main(["--root", str(repo), "--write"]) == 0
    module = repo / "plugins" / "modules" / "x_mod.py"
    module.write_text(MODULE.replace("short_description: Do x", "short_description: [Do x"))
    assert role_docs.main(["--root", str(repo), "--write"]) == 1
    assert "module freifunk.gateway.x_mod: ansible-doc shows no documentation" in capsys.readouterr().err
    assert (repo / "docs" / "reference" / "modules" / "x_mod.md").exists()


def test_a_role_without_argument_specs(repo, capsys):
    (repo / "roles" / "y").mkdir()
    assert role_docs.main(["--root", str(repo)]) == 1
    assert "roles/y: no meta/argument_specs.yml" in capsys.readouterr().err


# --- the committed pages ------------------------------------------------------------------------

def test_the_committed_pages_are_current(capsys):
    """The check make docs-check runs: every page as the generator writes it."""
    assert role_docs.main([]) == 0, capsys.readouterr().err


def _committed_pages():
    pages = [os.path.join(ROOT, "roles", r, "README.md") for r in role_docs.role_names(ROOT)]
    for folder, _dirs, files in os.walk(os.path.join(ROOT, role_docs.REFERENCE)):
        pages += [os.path.join(folder, f) for f in files if f.endswith(".md")]
    return sorted(p for p in pages if os.path.exists(p))


@pytest.mark.parametrize("page", _committed_pages(), ids=lambda p: os.path.relpath(p, ROOT))
def test_every_table_row_renders_with_its_cells_and_every_link_leads_to_a_page(page):
    """An unescaped | in a description would add a cell and shift the table."""
    with open(page, encoding="utf-8") as handle:
        text = handle.read()
    begin = text.find(role_docs.BEGIN)
    generated = text[begin:] if begin >= 0 else text
    tables = [t for t in re.split(r"\n\n", generated) if t.startswith("| ")]
    for table in tables:
        rows = table_rows(table)
        assert rows and all(len(row) == len(rows[0]) for row in rows), table
        assert all("\n" not in cell for row in rows for cell in row)
    for target in re.findall(r'href="([^"#:]+)"', MARKDOWN.render(generated)):
        assert os.path.exists(os.path.join(os.path.dirname(page), target)), (page, target)


def test_fenced_examples_keep_backticks_inside():
    assert role_docs.fenced("\n- a: ```x```\n\n", "yaml") == ["````yaml", "- a: ```x```", "````"]


def test_no_page_names_a_path_of_this_machine():
    for page in _committed_pages():
        with open(page, encoding="utf-8") as handle:
            assert ROOT not in handle.read(), page
