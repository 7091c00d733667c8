#!/bin/sh
# Execution environments: what ansible-builder makes of the collection.
#   1. ansible-builder create on the example definition a team copies
#      (docs/execution-environment.yml) writes a build context.
#   2. ansible-builder introspect on the collection as built and installed
#      (.build/install, from make build) resolves exactly the Python and
#      system requirements the collection declares (requirements.txt and
#      bindep.txt through meta/execution-environment.yml): the step an
#      image build runs to pick them up.
# No image is built (no registry here).
set -eu
cd "$(dirname "$0")/../.."
out=.build/ee
rm -rf "$out"
mkdir -p "$out"
[ -d .build/install/ansible_collections/freifunk/gateway ] || {
    echo "ee_check.sh: no installed collection in .build/install (run make build first)" >&2; exit 1; }

ansible-builder create -f docs/execution-environment.yml --context "$out/context" >"$out/create.log" 2>&1 || {
    cat "$out/create.log" >&2; echo "ee_check.sh: ansible-builder create failed" >&2; exit 1; }
[ -f "$out/context/Containerfile" ] || { echo "ee_check.sh: ansible-builder create wrote no Containerfile" >&2; exit 1; }

ansible-builder introspect --sanitize --write-pip "$out/python.txt" --write-bindep "$out/system.txt" \
    .build/install >"$out/introspect.log" 2>&1 || {
    cat "$out/introspect.log" >&2; echo "ee_check.sh: ansible-builder introspect failed" >&2; exit 1; }

entries() { # FILE: its requirement lines without comments, sorted
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1" | sort
}
status=0
for pair in requirements.txt:python.txt bindep.txt:system.txt; do
    declared=${pair%%:*}
    resolved=$out/${pair#*:}
    if [ "$(entries "$declared")" != "$(entries "$resolved")" ]; then
        echo "ee_check.sh: ansible-builder resolved other requirements than $declared declares:" >&2
        entries "$declared" >"$out/declared.txt"
        entries "$resolved" >"$out/resolved.txt"
        diff -u "$out/declared.txt" "$out/resolved.txt" >&2 || true
        status=1
    fi
done
[ $status = 0 ] && echo "ansible-builder: context written, $(entries requirements.txt | wc -l) Python and $(entries bindep.txt | wc -l) system requirements resolved from the built collection"
exit $status
