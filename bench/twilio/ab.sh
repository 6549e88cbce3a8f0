#!/usr/bin/env bash
# Before/after on the Twilio message path: two (or more) gateway builds take the same signed
# webhooks (saturated: wrk -t2 -c64, DURATION each after a 3 s warm-up), in alternating
# rounds, each build with its own plugins and a fresh SQLite file store.
#
#   bench/twilio/ab.sh NAME=BUILD_DIR[=CONFIG] NAME=BUILD_DIR[=CONFIG] ...
#   e.g. bench/twilio/ab.sh old=/tmp/old/.build/release=/tmp/old/bench/twilio/bench.yaml now=.build/release
#   ROUNDS=3 DURATION=10s (defaults)
#
# CONFIG defaults to bench/twilio/bench.yaml (an older build may need its own: keys change).
# Prints per round and build: msg/s, p99, gateway CPU per message and the load average.
# Needs the requests file bench/twilio/run.sh makes (run it once first).
set -euo pipefail
cd "$(dirname "$0")/../.."
REQS=${REQS:-bench/results/twilio/requests-650000-senders-10000.tsv}
[ -s "$REQS" ] || { echo "no $REQS: run bench/twilio/run.sh once (it writes the signed requests)" >&2; exit 1; }
export BENCH_PORT=${BENCH_PORT:-18097} BENCH_THREADS=2 BENCH_REQUESTS=$REQS
. bench/twilio/gateway.sh
TICK_US=$((1000000 / $(getconf CLK_TCK)))
ROUNDS=${ROUNDS:-3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  for spec in "$@"; do
    IFS== read -r name dir cfg <<<"$spec"
    start_gateway "$(cd "$dir" && pwd)" "$TMP" "$TMP/gw-$name.log" "${cfg:-bench/twilio/bench.yaml}"
    BENCH_FIRST=0 BENCH_COUNT=50000 wrk -t2 -c64 -d3s -s bench/twilio/twilio.lua "http://127.0.0.1:$BENCH_PORT" >/dev/null
    g0=$(awk '{print $14 + $15}' "/proc/$GW/stat")
    out=$(BENCH_FIRST=50000 BENCH_COUNT=300000 wrk -t2 -c64 -d"${DURATION:-10s}" --latency -s bench/twilio/twilio.lua "http://127.0.0.1:$BENCH_PORT")
    g1=$(awk '{print $14 + $15}' "/proc/$GW/stat")
    kill "$GW"; wait "$GW" 2>/dev/null || true
    reqs=$(echo "$out" | awk '/requests in/ {print $1; exit}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    echo "round $r $name: $rps msg/s, p99 $p99, gateway cpu $(( (g1 - g0) * TICK_US / reqs )) us/msg (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
