#!/bin/sh
# The collection's HTML documentation site, built by antsibull-docs and Sphinx
# from the checkout into .build/docs/html (make docs): a page per module,
# filter, lookup and role from their DOCUMENTATION and meta/argument_specs.yml,
# and the links of docs/docsite/links.yml.
#
# The Sphinx project is made anew each time by antsibull-docs sphinx-init, so
# none of its scaffolding is kept in the repository; the lines added to its
# conf.py keep the build off the network. Any error or warning fails the build
# (antsibull-docs --fail-on-error, sphinx-build -W).
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
out=.build/docs
ANSIBLE_COLLECTIONS_PATH=$(python3 tests/bed/link_collection.py)
ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_SCAN_SYS_PATH

# The markup of every DOCUMENTATION and argument spec first (O() pointing to
# no option, bad references): the site would render it, silently wrong.
antsibull-docs lint-collection-docs --plugin-docs \
    "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/freifunk/gateway" >&2 || {
    echo "docsite.sh: antsibull-docs lint-collection-docs found the problems above" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/project"
chmod 700 "$out/project"  # antsibull-docs writes only into a folder no one else can write to
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --no-add-antsibull-docs-version \
    --project freifunk.gateway --copyright "freifunk.gateway maintainers" --title "freifunk.gateway" \
    --dest-dir "$out/project" freifunk.gateway >"$out/sphinx-init.log" 2>&1 || {
    cat "$out/sphinx-init.log" >&2; echo "docsite.sh: antsibull-docs sphinx-init failed" >&2; exit 1; }
cat >>"$out/project/conf.py" <<'CONF'

# Added by tests/bed/docsite.sh: the build reaches no network, so intersphinx
# has no inventories to fetch. References to the Ansible docs (ansible.builtin
# plugins, common return values, ...) stay plain text instead of links; those
# to this collection's own pages are still checked.
intersphinx_mapping = {}
nitpick_ignore_regex = [('std:ref', r'(?!ansible_collections\.freifunk\.gateway\.).*')]
# Examples with Jinja2 in YAML comments are shown without colours.
suppress_warnings = ['misc.highlighting_failure']
CONF

mkdir -p "$out/project/rst"
chmod 700 "$out/project/rst"
antsibull-docs --config-file "$out/project/antsibull-docs.cfg" collection --use-current --squash-hierarchy \
    --fail-on-error --dest-dir "$out/project/rst" freifunk.gateway >"$out/antsibull-docs.log" 2>&1 || {
    cat "$out/antsibull-docs.log" >&2; echo "docsite.sh: antsibull-docs collection failed" >&2; exit 1; }

sphinx-build -b html -W --keep-going -q -c "$out/project" "$out/project/rst" "$out/html" >"$out/sphinx.log" 2>&1 || {
    cat "$out/sphinx.log" >&2; echo "docsite.sh: sphinx-build failed" >&2; exit 1; }
echo "docsite: $(find "$out/html" -name '*.html' | wc -l) pages in $root/$out/html"
