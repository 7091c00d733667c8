#!/bin/sh
# Records which commits make test passed on, for make release.
#   green.sh run COMMAND...  run COMMAND (make test's stages); when it
#                            passes on a clean tree that stayed the same
#                            commit, record that commit in .build/green/
#   green.sh check           exit 0 if HEAD is recorded and the tree is clean
set -u
cd "$(dirname "$0")/../.." || exit 2
state() { # the commit, or nothing if the tree has changes git tracks
    [ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && git rev-parse HEAD 2>/dev/null
}
case ${1:-} in
run)
    shift
    before=$(state)
    "$@"
    rc=$?
    after=$(state)
    if [ $rc = 0 ] && [ -n "$before" ] && [ "$before" = "$after" ]; then
        mkdir -p .build/green && date -u +%FT%TZ >".build/green/$after"
        echo "make test passed on $after (recorded for make release)"
    fi
    exit $rc
    ;;
check)
    now=$(state)
    [ -n "$now" ] && [ -f ".build/green/$now" ]
    ;;
*)
    echo "usage: green.sh run COMMAND... | check" >&2
    exit 2
    ;;
esac
