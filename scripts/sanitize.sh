#!/usr/bin/env bash
# Builds everything instrumented with a sanitizer and runs the test suite under it.
# Usage: scripts/sanitize.sh thread|address [FILTER]     (scripts/test.sh --sanitize=... calls it)
#        scripts/sanitize.sh --ci-filter                  prints the suites CI runs under TSan
#
# The build lives in its own scratch path (.build-tsan, .build-asan), so it never invalidates
# the plain .build. Every module is instrumented: the host, PluginKit, the Swift and C plugins,
# the C fixtures and the executables the integration tests start (the tests find the gateway
# binary and the plugins next to the running test bundle, i.e. in the instrumented build).
#
# Reports: every instrumented process (the test runner and every gateway, plugin-check or
# agent child it starts, whatever it does with their stderr) writes its reports to
# <scratch>/sanitizer-reports/<tsan|asan>.<pid> (log_path). The run fails when any such file
# exists or the suite fails; the reports are summarised at the end.
#   ThreadSanitizer: halt_on_error=0 (one run lists every race), exitcode=66.
#   AddressSanitizer: stops the process at its first error (ASan cannot continue); leak
#   checking is off by default (detect_leaks=0), see README "Sanitizers" for why; run with
#   ASAN_LEAKS=1 to turn it on.
set -euo pipefail
cd "$(dirname "$0")/.."

# Router, store, ABI, plugin host and event suites: what CI runs under ThreadSanitizer.
ci_filter='Router|TurnMachinery|AgentRoster|HistoryCache|SQLite|PostgresTurnPipeline|ABI|ContractViolation|PluginLoader|HostTimer|Event'
if [ "${1:-}" = --ci-filter ]; then echo "$ci_filter"; exit 0; fi

kind="${1:?usage: scripts/sanitize.sh thread|address [FILTER]}"
filter="${2:-}"
case "$kind" in
    thread|tsan) kind=thread; scratch=.build-tsan; tag=tsan ;;
    address|asan) kind=address; scratch=.build-asan; tag=asan ;;
    *) echo "sanitize.sh: unknown sanitizer '$kind' (thread, address)" >&2; exit 2 ;;
esac

# The sanitizer's allocator, not jemalloc (Package.swift, `allocator`): both intercept malloc.
export DARKSPERE_MALLOC=system

start=$(date +%s)
echo "== building with --sanitize=$kind into $scratch"
# SKIP_BUILD=1 reruns the suite on the existing instrumented build.
# --export-dynamic: the sanitizer runtime is linked statically into each executable (darkspere,
# the test bundle), and swiftc exports only the runtime symbols the executable itself calls;
# the plugins dlopen'd into it need the others (without it: "libPluginKit.so: undefined
# symbol: __tsan_external_write" and no Swift plugin loads).
[ "${SKIP_BUILD:-0}" = 1 ] || swift build --build-tests --sanitize="$kind" --scratch-path "$scratch" -Xlinker --export-dynamic
built=$(date +%s)
echo "== instrumented build: $((built - start)) s"

reports="$PWD/$scratch/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
supp="$PWD/scripts/tsan-suppressions.txt"
# handle_segv=0 (both): a segmentation fault stays a plain SIGSEGV (plugin-check's tests crash
# a fixture on purpose and expect the signal); it is not a sanitizer report.
export TSAN_OPTIONS="log_path=$reports/tsan halt_on_error=0 exitcode=66 second_deadlock_stack=1 handle_segv=0${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
[ -f "$supp" ] && TSAN_OPTIONS="suppressions=$supp $TSAN_OPTIONS"
export ASAN_OPTIONS="log_path=$reports/asan exitcode=66 detect_leaks=${ASAN_LEAKS:-0} handle_segv=0${ASAN_OPTIONS:+ $ASAN_OPTIONS}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}"
# Swift's backtracer would add seconds per crash; the sanitizer prints its own stacks.
export SWIFT_BACKTRACE=enable=no
# The bounded fuzzing suite builds its libFuzzer binaries on top of the plain .build (and
# runs them with their own instrumentation): not part of a sanitizer run.
export FUZZ=0
if [ "$kind" = thread ]; then
    # Swift's Mutex takes its contended path in the uninstrumented stdlib (futex system calls):
    # this preloaded shim tells TSan about that lock hand-off (see scripts/tsan-swift-mutex.c).
    clang=$(dirname "$(readlink -f "$(command -v swift)")")/clang
    "$clang" -shared -fPIC -O1 -Wall -Werror -o "$scratch/libtsan-swift-mutex.so" scripts/tsan-swift-mutex.c -ldl
    export LD_PRELOAD="$PWD/$scratch/libtsan-swift-mutex.so${LD_PRELOAD:+:$LD_PRELOAD}"
fi

status=0
swift test --skip-build --no-parallel --sanitize="$kind" --scratch-path "$scratch" ${filter:+--filter "$filter"} || status=$?
done_at=$(date +%s)
echo "== suite under $kind sanitizer: $((done_at - built)) s, exit status $status"

shopt -s nullglob
files=("$reports"/$tag.*)
if ((${#files[@]})); then
    n=$(cat "${files[@]}" | grep -c -E '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: AddressSanitizer|(Direct|Indirect) leak of)' || true)
    echo "== $n sanitizer report(s) in ${#files[@]} process(es); distinct ones by their first frames:"
    # Each report: its headline and the first three frames of its first stack, leaving out the
    # allocator and sanitizer runtime.
    for f in "${files[@]}"; do
        awk '/^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: AddressSanitizer|(Direct|Indirect) leak of)/ {
                 head=$0; sub(/==[0-9]+==/, "", head); sub(/ \(pid=[0-9]+\)/, "", head)
                 sub(/ of [0-9]+ byte\(s\) in [0-9]+ object\(s\)/, "", head); sig=""; n=0; next }
             head != "" && /^ *#[0-9]+ / {
                 line=$0; sub(/^ *#[0-9]+ (0x[0-9a-f]+ in )?/, "", line); sub(/ \([^()]*\+0x[0-9a-f]+\)$/, "", line)
                 if (line ~ /^(malloc|calloc|realloc|free|operator|swift_slowAlloc|swift_allocObject|swift_slowDealloc|__tsan|__interceptor|__sanitizer)/) next
                 sig = sig " | " line; if (++n == 3) { print head sig; head="" } }
             head != "" && /^$/ && n > 0 { print head sig; head="" }' "$f"
    done | swift demangle --simplified | sort | uniq -c | sort -rn | cut -c1-600
    echo "== full reports: ${files[*]}"
    if [ -n "${CI:-}" ]; then for f in "${files[@]}"; do echo "---- $f"; head -n 200 "$f"; done; fi
    status=1
else
    echo "== no sanitizer reports"
fi
exit $status
