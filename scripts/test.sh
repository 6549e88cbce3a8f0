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
# Fuzzing: the suite's "Fuzzing (bounded libFuzzer runs)" (FuzzRunTests) runs each fuzz
# target for FUZZ_TIME seconds (default 60) on top of this build; FUZZ=0 skips it. Longer
# runs: scripts/fuzz.sh (600 s a target). The "Fuzz corpus replay" suite replays the corpora.
