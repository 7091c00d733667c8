#!/bin/sh
# Runs shellcheck on every shell script of the checkout: the scripts the roles
# ship (the on-connect script among them, which ansible-test does not see),
# the test bed's and CI's. A script is what git tracks with a sh, dash or
# bash shebang, whatever its name. Shell written from a Jinja2 template is
# checked as the gateway got it, in the Molecule scenario that writes it
# (molecule/shared/written_files.yml).
set -eu
cd "$(dirname "$0")/../.."
scripts=$(git ls-files -z | xargs -0 awk '
    FNR == 1 && /^#! *\/(usr\/)?bin\/(env +)?(ba|da)?sh( |$)/ && FILENAME !~ /\.j2$/ { print FILENAME }
    { nextfile }')
[ -n "$scripts" ] || { echo "shellcheck.sh: found no shell scripts" >&2; exit 1; }
# shellcheck disable=SC2086 # one name per word; no tracked script has a space in its path
shellcheck --external-sources $scripts
echo "shellcheck: $(echo "$scripts" | wc -l) scripts clean"
