#!/bin/sh
# The README's test command: installs what is missing, builds everything with
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs the whole suite
# (unit tests, then integration tests against real daemons).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
make -s -j"$jobs" SAN=1 all tests

# Any sanitizer finding fails the process that hit it; daemons that leak
# fail their graceful stop, which the integration harness checks.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87:${UBSAN_OPTIONS:-}"
scripts/run-tests.sh all build-san
