#!/usr/bin/env bash
# Builds and runs the whole test suite under a sanitizer (issue 13 §3; docs/FUZZING.md):
#   scripts/sanitize.sh address   # AddressSanitizer + LeakSanitizer, in .build-asan
#   scripts/sanitize.sh thread    # ThreadSanitizer (the thread pool, locks), in .build-tsan
# Extra arguments go to `swift test` (e.g. --filter KernelTests). The `dydit` the CLI tests
# start is the sanitized build too. Exit status: the test run's (a sanitizer report fails it).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
shift || true
case "$kind" in
  address) scratch=.build-asan ;;
  thread) scratch=.build-tsan ;;
  *) echo "usage: scripts/sanitize.sh address|thread [swift test arguments…]" >&2; exit 1 ;;
esac
# Release: the suite's reference models run in minutes, not hours, and -O is what users run.
swift build -c release --build-tests --sanitize="$kind" --scratch-path "$scratch" 2>&1 \
  | grep -vE "^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Write|Building|Linking)" || true
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
swift test -c release --sanitize="$kind" --scratch-path "$scratch" --skip-build --disable-swift-testing "$@"
