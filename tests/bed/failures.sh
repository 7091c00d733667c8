#!/bin/sh
# Print what made a stage fail, from its log: the last Ansible failure
# blocks (the task header, the "fatal:"/"failed:" line and the result that
# follows, up to the next blank line; failures the play ignored are left
# out), then the log's last error lines. stages.sh prints this for each red
# stage at the end of the run, so that the cause is on the last screen of a
# long CI log.
#   failures.sh LOG
set -u
log=$1
[ -f "$log" ] || { echo "(no log at $log)"; exit 0; }
awk -v keep=6 '
    function close_block() {
        if (inblock) { n++; blocks[n] = text; inblock = 0 }
    }
    /^TASK \[/ { close_block(); task = $0; next }
    /^\.\.\.ignoring/ { if (inblock) inblock = 0; next }
    /^(fatal|failed): \[/ { close_block(); inblock = 1; lines = 0; text = task; }
    inblock {
        if ($0 == "") { close_block(); next }
        if (lines < 30) text = text "\n" substr($0, 1, 400)
        lines++
    }
    END {
        close_block()
        first = n > keep ? n - keep + 1 : 1
        if (first > 1) printf "(%d earlier failure blocks in the log)\n", first - 1
        for (i = first; i <= n; i++) print blocks[i] "\n"
    }
' "$log"
grep -E '^(ERROR|E   |FAILED [^-]|[A-Za-z_.]+Error:)' "$log" | tail -n 15 | cut -c1-400
