#!/usr/bin/env bash
# Installs what the tests need, builds every product (plugins included) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
# One build of every product and test target, then the tests without building again.
swift build --build-tests
# Serial: the integration tests start real servers and child processes; run together on a
# 2-core machine they starve each other's timers (and take no less time).
swift test --skip-build --no-parallel
# Fuzzing (FUZZ=1): a bounded libFuzzer run of each target (FUZZ_TIME seconds each, default 30).
# Off by default: its instrumented build of every module (.build/fuzz) takes longer than the
# suite's own build on 2 cores (see README, "Fuzzing"). The corpora are replayed by the suite.
if [ "${FUZZ:-0}" = 1 ]; then
    bash scripts/fuzz.sh --time "${FUZZ_TIME:-30}"
fi
