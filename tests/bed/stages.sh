#!/bin/sh
# Run named stages, time each, and print a summary at the end.
#   stages.sh NAME=COMMAND [NAME&=COMMAND ...]
# NAME=COMMAND stages run one after another. A stage written NAME&=COMMAND
# starts in the background at its place and runs beside the stages after it
# (its output goes to .build/logs/NAME.log and is printed once it is done);
# used for the QEMU guest, which waits on the emulated kernel most of the
# time, while the container stages run.
# Every stage runs even if an earlier one failed (so one run shows all that
# is red); the exit status is non-zero if any stage failed. Every stage's
# output is kept in .build/logs/NAME.log, and the end of the run shows, for
# each red stage, the failures its log holds (failures.sh).
set -u
logs=.build/logs
mkdir -p "$logs"
summary=""
failed=0
red_logs=""
here=$(dirname "$0")
background=""
start_all=$(date +%s)

log_of() { # NAME
    printf '%s/%s.log' "$logs" "$(printf '%s' "$1" | tr -c 'A-Za-z0-9_.-' '_')"
}

record() { # NAME STATUS SECONDS [NOTE]
    summary="$summary$(printf '%-22s %-7s %5ss %s' "$1" "$2" "$3" "${4:-}")
"
    [ "$2" = ok ] || { failed=1; red_logs="$red_logs $1"; }
}

for spec in "$@"; do
    name=${spec%%=*}
    cmd=${spec#*=}
    case $name in
    *\&)
        name=${name%&}
        log=$(log_of "$name")
        printf '\n===== stage %s (in the background, log %s): %s\n' "$name" "$log" "$cmd"
        (
            start=$(date +%s)
            if sh -c "$cmd" >"$log" 2>&1; then status=ok; else status=FAILED; fi
            echo "$status $(( $(date +%s) - start ))" >"$log.result"
        ) &
        background="$background $!|$name|$log"
        continue
        ;;
    esac
    log=$(log_of "$name")
    printf '\n===== stage %s (log %s): %s\n' "$name" "$log" "$cmd"
    start=$(date +%s)
    rm -f "$log.rc"
    { sh -c "$cmd"; echo $? >"$log.rc"; } 2>&1 | tee "$log"
    if [ "$(cat "$log.rc" 2>/dev/null)" = 0 ]; then status=ok; else status=FAILED; fi
    record "$name" "$status" $(( $(date +%s) - start ))
done

for job in $background; do
    pid=${job%%|*}
    rest=${job#*|}
    name=${rest%%|*}
    log=${rest#*|}
    wait "$pid"
    printf '\n===== stage %s (ran in the background), its output:\n' "$name"
    cat "$log"
    if [ -f "$log.result" ]; then
        read -r status secs <"$log.result"
        record "$name" "$status" "$secs" "(beside the stages above)"
    else
        record "$name" FAILED 0 "(no result)"
    fi
done
for name in $red_logs; do
    printf '\n===== why stage %s failed (from %s)\n' "$name" "$(log_of "$name")"
    "$here/failures.sh" "$(log_of "$name")"
done
printf '\n===== stage times\n%s%-22s %-7s %5ss\n' "$summary" total \
    "$([ $failed = 0 ] && echo ok || echo FAILED)" $(( $(date +%s) - start_all ))
exit $failed
