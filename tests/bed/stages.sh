#!/bin/sh
# Run named stages, time each, and print a summary at the end.
#   stages.sh NAME=COMMAND [NAME&=COMMAND ...]
# NAME=COMMAND stages run one after another. A stage written NAME&=COMMAND
# starts in the background at its place and runs beside the stages after it
# (its output goes to .build/logs/NAME.log and is printed once it is done);
# used for the QEMU guest, which waits on the emulated kernel most of the
# time, while the container stages run.
# Every stage runs even if an earlier one failed (so one run shows all that
# is red); the exit status is non-zero if any stage failed.
set -u
logs=.build/logs
mkdir -p "$logs"
summary=""
failed=0
background=""
start_all=$(date +%s)

record() { # NAME STATUS SECONDS [NOTE]
    summary="$summary$(printf '%-22s %-7s %5ss %s' "$1" "$2" "$3" "${4:-}")
"
    [ "$2" = ok ] || failed=1
}

for spec in "$@"; do
    name=${spec%%=*}
    cmd=${spec#*=}
    case $name in
    *\&)
        name=${name%&}
        log="$logs/$(printf '%s' "$name" | tr -c 'A-Za-z0-9_.-' '_').log"
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
    printf '\n===== stage %s: %s\n' "$name" "$cmd"
    start=$(date +%s)
    if sh -c "$cmd"; then status=ok; else status=FAILED; fi
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
printf '\n===== stage times\n%s%-22s %-7s %5ss\n' "$summary" total \
    "$([ $failed = 0 ] && echo ok || echo FAILED)" $(( $(date +%s) - start_all ))
exit $failed
