#!/usr/bin/env bash
# Builds and tests the package as a non-x86 host (arm64) builds it: DYDIT_PORTABLE_ONLY=1 makes
# Package.swift leave out every x86 flag and define, so the AVX2/AVX-512/VNNI targets hold
# portable code only and CPUID reports nothing; the dispatcher then runs the portable kernels,
# and the tests' coverage checks expect exactly that. A separate scratch folder keeps the
# normal build intact. About a full build's time (5 minutes on 2 cores) plus the tests; not
# part of the default CI.
#
#   scripts/check_portable_only.sh [scratch folder, default .build-portable-only]
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${1:-.build-portable-only}
export DYDIT_PORTABLE_ONLY=1
swift build -c release --build-tests --scratch-path "$scratch"
set +e
swift test -c release --skip-build --scratch-path "$scratch" --disable-swift-testing 2>&1 | tee "$scratch/swift-test.log" \
  | grep -vE "^Test (Case|Suite) '.*' (started|passed)"
status=${PIPESTATUS[0]}
set -e
grep -m1 "kernel builds this CPU runs" "$scratch/swift-test.log" || true
grep -oE "Executed [0-9]+ tests?, with [0-9]+ failures?" "$scratch/swift-test.log" | tail -n 1
exit "$status"
