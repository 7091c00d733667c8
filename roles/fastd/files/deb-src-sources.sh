#!/bin/sh
# Print a deb822 sources file with only deb-src entries for Debian release
# TARGET, derived from this host's own apt sources: the same URIs,
# components and Signed-By as the host's Debian entries, the host's codename
# swapped for TARGET. No binary package of TARGET can come from it, and no
# mirror host name is written anywhere but here, read from the host.
#   deb-src-sources.sh TARGET
set -eu
target=${1:?usage: deb-src-sources.sh TARGET}
host=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release | tr -d '"')
[ -n "$host" ] || { echo "no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }

{
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # a blank line between files keeps their stanzas apart
        sed -e '/^#/d' "$f"
        echo
    done
    # one-line format: "deb [options] URI SUITE COMPONENTS..." as stanzas
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/#.*//' "$f"
    done | awk '
        $1 != "deb" { next }
        {
            signed = ""; i = 2
            if ($2 ~ /^\[/) {
                while (i <= NF) {
                    if ($i ~ /^\[?signed-by=/) { signed = $i; sub(/^\[?signed-by=/, "", signed); sub(/\]$/, "", signed) }
                    if ($i ~ /\]$/) { i++; break }
                    i++
                }
            }
            printf "Types: deb\nURIs: %s\nSuites: %s\nComponents:", $i, $(i + 1)
            for (j = i + 2; j <= NF; j++) printf " %s", $j
            printf "\n"
            if (signed != "") printf "Signed-By: %s\n", signed
            printf "\n"
        }'
} | awk -v host="$host" -v target="$target" '
    # one stanza per record; fields keep their continuation lines
    BEGIN { RS = ""; FS = "\n" }
    {
        types = ""; suites = ""; enabled = "yes"; signed = ""; out = ""
        for (i = 1; i <= NF; i++) {
            line = $i
            if (line ~ /^[Tt]ypes:/) { types = line; continue }
            if (line ~ /^[Ee]nabled:/) { enabled = line; sub(/^[^:]*:[ \t]*/, "", enabled); continue }
            if (line ~ /^[Ss]uites:/) {
                n = split(line, words, /[ \t]+/)
                for (w = 2; w <= n; w++) {
                    if (words[w] == host || index(words[w], host "-") == 1) {
                        s = target substr(words[w], length(host) + 1)
                        suites = suites " " s
                    }
                }
                continue
            }
            if (line ~ /^[Ss]igned-[Bb]y:/) signed = line
            out = out line "\n"
        }
        # Debian archive entries of the host release only: a third-party
        # repository has no TARGET release of the same name.
        if (types !~ /[ \t]deb([ \t]|$)/ || enabled == "no" || suites == "") next
        if (signed != "" && signed !~ /debian-archive-keyring/) next
        printf "Types: deb-src\nSuites:%s\n%s\n", suites, out
        found = 1
    }
    END { if (!found) { print "no Debian apt source of " host " found" > "/dev/stderr"; exit 1 } }'
