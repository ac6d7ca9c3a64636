#!/bin/sh
# Runs the test binaries of a build: scripts/run-tests.sh unit|integration|all BUILD_DIR
# Each binary runs alone with a time limit; a summary names the failures.
set -u
kind=${1:-all}
build=${2:-build}
limit_unit=${TEPUI_TEST_TIMEOUT_UNIT:-300}
limit_integ=${TEPUI_TEST_TIMEOUT_INTEGRATION:-900}

bins=""
case "$kind" in
    unit) bins=$(ls "$build"/tests/test_* 2>/dev/null) ;;
    integration) bins=$(ls "$build"/tests/integration/test_* 2>/dev/null) ;;
    all) bins="$(ls "$build"/tests/test_* 2>/dev/null) $(ls "$build"/tests/integration/test_* 2>/dev/null)" ;;
esac

export TEPUI_BUILD_DIR="$build"
failed=""
total=0
for t in $bins; do
    [ -x "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    total=$((total + 1))
    limit=$limit_unit
    case "$t" in */integration/*) limit=$limit_integ ;; esac
    start=$(date +%s)
    if timeout --kill-after=10 "$limit" "$t" </dev/null; then
        echo "PASS $(basename "$t") ($(( $(date +%s) - start ))s)"
    else
        echo "FAIL $(basename "$t") (exit $?, $(( $(date +%s) - start ))s)"
        failed="$failed $(basename "$t")"
    fi
done
echo "---- $total test programs, failed:${failed:- none}"
[ -z "$failed" ]
