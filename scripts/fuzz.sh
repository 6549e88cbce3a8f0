#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/http, fuzz/form, fuzz/json) and runs each for a bounded
# time. Usage: scripts/fuzz.sh [--time SECONDS] [--prebuilt | --full] [http|form|json ...]
#   --time S    seconds per target (default 600)
#   --prebuilt  the plain debug build is current: do not run `swift build` (the test suite's
#               bounded run, which runs while `swift test` holds the build folder)
#   --full      instrument every module (NIO included) in a build of its own, .build/fuzz
#               (`swift build --sanitize=fuzzer -Xswiftc -DFUZZING`): deeper, but a full
#               build (over 17 min on two busy cores)
# By default the plain debug build of fuzz-<target> is made (or found) first, then
# scripts/fuzz-build.py compiles again with coverage only the harness and the modules it
# exercises, and links them with the plain objects of the rest, into .build/fuzz-bin.
# A crash, a failed property (fatalError) or an input slower than 10 s (-timeout, a hang)
# fails the run; libFuzzer writes the input to fuzz/<target>/crash-* (or timeout-*): keep
# it in fuzz/<target>/corpus once fixed. New inputs the fuzzer finds go to
# .build/fuzz-corpus/<target>, not the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
time_per_target=600
mode=partial
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) time_per_target="$2"; shift 2 ;;
        --time=*) time_per_target="${1#--time=}"; shift ;;
        --prebuilt) mode=prebuilt; shift ;;
        --full) mode=full; shift ;;
        -h|--help) sed -n 2,17p "$0"; exit 0 ;;
        http|form|json) targets+=("$1"); shift ;;
        *) echo "fuzz.sh: unknown argument '$1' (targets: http form json)" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(http form json)

build_start=$(date +%s)
if [ "$mode" = full ]; then
    scratch=.build/fuzz
    for t in "${targets[@]}"; do
        echo "== building fuzz-$t (every module instrumented)"
        swift build --scratch-path "$scratch" --sanitize=fuzzer -Xswiftc -DFUZZING --product "fuzz-$t"
    done
    bin=$(swift build --scratch-path "$scratch" --sanitize=fuzzer -Xswiftc -DFUZZING --show-bin-path)
else
    bin=.build/fuzz-bin
    for t in "${targets[@]}"; do
        if [ "$mode" = partial ]; then
            echo "== building fuzz-$t (plain)"
            swift build --product "fuzz-$t"
        fi
        echo "== instrumenting fuzz-$t"
        python3 scripts/fuzz-build.py .build "$t" "$bin"
    done
fi
echo "== fuzz targets built in $(( $(date +%s) - build_start )) s"

# Swift's backtracer takes seconds per crash report; libFuzzer prints its own.
export SWIFT_BACKTRACE=enable=no
status=0
for t in "${targets[@]}"; do
    work=.build/fuzz-corpus/$t
    mkdir -p "$work"
    # The HTTP target's inputs may exceed the guard's head limit (max_header_bytes + 8 KiB).
    max_len=4096; [ "$t" = http ] && max_len=12288
    echo "== fuzzing $t for ${time_per_target}s"
    # Corpus: new inputs into $work, seeds read from the repository's corpus.
    if ! "$bin/fuzz-$t" -max_total_time="$time_per_target" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
        -print_final_stats=1 -artifact_prefix="fuzz/$t/" "$work" "fuzz/$t/corpus"; then
        echo "fuzz.sh: $t FAILED: see the crash-*/timeout-* file in fuzz/$t/" >&2
        status=1
    fi
done
exit $status
