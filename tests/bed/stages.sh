#!/bin/sh
# Run named stages in order, time each, and print a summary at the end.
#   stages.sh NAME=COMMAND [NAME=COMMAND ...]
# Every stage runs even if an earlier one failed (so one run shows all that
# is red); the exit status is non-zero if any stage failed.
set -u
summary=""
failed=0
start_all=$(date +%s)
for spec in "$@"; do
    name=${spec%%=*}
    cmd=${spec#*=}
    printf '\n===== stage %s: %s\n' "$name" "$cmd"
    start=$(date +%s)
    if sh -c "$cmd"; then status=ok; else status=FAILED; failed=1; fi
    secs=$(( $(date +%s) - start ))
    summary="$summary$(printf '%-22s %-7s %5ss' "$name" "$status" "$secs")
"
done
printf '\n===== stage times\n%s%-22s %-7s %5ss\n' "$summary" total \
    "$([ $failed = 0 ] && echo ok || echo FAILED)" $(( $(date +%s) - start_all ))
exit $failed
