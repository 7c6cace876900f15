#!/usr/bin/env bash
# A short run of every libFuzzer target (scripts/fuzz): builds them with clang in a build
# dir of their own, replays the kept regressions, fuzzes each target for a few seconds.
# Fails when a target does not build, a regression crashes again, or a new crash is found
# (which scripts/fuzz does not copy into the source tree from here: run it by hand to keep it).
set -euo pipefail
src=${NOTIFY_SOURCE_DIR:?}
build=${NOTIFY_BUILD_DIR:?}
seconds=${NOTIFY_FUZZ_SHORT_SECONDS:-3}

# The test command's sanitizer options are for the gcc build; the fuzzers bring their own.
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
start=$(date +%s)
NOTIFY_FUZZ_SAVE=0 NOTIFY_FUZZ_BUILD_DIR="$build/fuzz-short" "$src/scripts/fuzz" "$seconds"
echo "fuzz short run: $(($(date +%s) - start)) s"
