#!/bin/sh
# Print a deb822 sources file for Debian SUITE, derived from this machine's
# own apt sources, so that no mirror host is ever written into the repository.
#   apt-sources.sh SUITE > file.sources
set -eu
suite=${1:?usage: apt-sources.sh SUITE}
host=$(sed -n "s/^VERSION_CODENAME=//p" /etc/os-release)

if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    # deb822 stanzas: keep Debian's own (signed by the Debian archive key)
    # and swap the host's codename for SUITE in every Suites: line.
    for f in /etc/apt/sources.list.d/*.sources; do
        grep -q 'debian-archive-keyring' "$f" || continue
        sed -e '/^#/d' -e "/^Suites:/s/\b$host\b/$suite/g" "$f"
        echo
    done
else
    # one-line format: turn "deb URI SUITE COMPONENTS" into stanzas.
    grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | sed -E 's/\[[^]]*\] //' \
    | while read -r _ uri dist comps; do
        printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n' \
            "$uri" "$(echo "$dist" | sed "s/\b$host\b/$suite/")" "$comps"
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n'
    done
fi
