#!/usr/bin/env bash
# Installs what the tests need, builds every product (plugins included) and runs the whole suite.
# Usage: scripts/test.sh [--sanitize=thread|address] [--filter REGEX]
#   --sanitize=thread|address   build into .build-tsan / .build-asan and run the suite under
#                               ThreadSanitizer / AddressSanitizer (see scripts/sanitize.sh)
#   --filter REGEX              only the tests `swift test --filter` selects
# With CI=true, the plain run is followed by the ThreadSanitizer subset (TSAN_CI_FILTER); CI_TSAN=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=""
filter=""
while [ $# -gt 0 ]; do
    case "$1" in
        --sanitize=*) sanitize="${1#--sanitize=}"; shift ;;
        --sanitize) sanitize="$2"; shift 2 ;;
        --filter=*) filter="${1#--filter=}"; shift ;;
        --filter) filter="$2"; shift 2 ;;
        -h|--help) sed -n 2,7p "$0"; exit 0 ;;
        *) echo "test.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
bash scripts/install-deps.sh --test

# Sanitizers: an instrumented build of everything (host, PluginKit, plugins, C fixtures,
# executables) in its own scratch path, and the suite under it; any report fails the run.
if [ -n "$sanitize" ]; then
    exec bash scripts/sanitize.sh "$sanitize" ${filter:+"$filter"}
fi

# One build of every product and test target, then the tests without building again.
swift build --build-tests
# Serial: the integration tests start real servers and child processes; run together on a
# 2-core machine they starve each other's timers (and take no less time).
swift test --skip-build --no-parallel ${filter:+--filter "$filter"}

# CI: the router, store, ABI, plugin-host and event suites again under ThreadSanitizer, after
# the plain suite (instrumented build + run: see README, "Sanitizers", for the time it adds).
# CI_TSAN=0 skips it (a quicker CI run, e.g. while bisecting).
if [ "${CI:-}" = true ] && [ "${CI_TSAN:-1}" = 1 ] && [ -z "$filter" ]; then
    bash scripts/sanitize.sh thread "${TSAN_CI_FILTER:-$(bash scripts/sanitize.sh --ci-filter)}"
fi

# Fuzzing: the suite's "Fuzzing (bounded libFuzzer runs)" (FuzzRunTests) runs each fuzz
# target for FUZZ_TIME seconds (default 60) on top of this build; FUZZ=0 skips it. Longer
# runs: scripts/fuzz.sh (600 s a target). The "Fuzz corpus replay" suite replays the corpora.
