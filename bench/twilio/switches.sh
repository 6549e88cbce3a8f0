#!/usr/bin/env bash
# Context switches per message on the Twilio path: the gateway's threads' voluntary and
# involuntary switches (/proc/PID/task/*/status) over a wrk run, at 4, 32 and 64
# connections, with its CPU per message. Thread hand-offs show here first.
#
#   bench/twilio/switches.sh [BUILD_DIR]      # default .build/release; DURATION=5s
#
# Needs the requests file bench/twilio/run.sh makes (run it once first).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=$(cd "${1:-.build/release}" && pwd)
REQS=${REQS:-bench/results/twilio/requests-650000-senders-10000.tsv}
[ -s "$REQS" ] || { echo "no $REQS: run bench/twilio/run.sh once (it writes the signed requests)" >&2; exit 1; }
export BENCH_PORT=${BENCH_PORT:-18097} BENCH_THREADS=2 BENCH_REQUESTS=$REQS
TICK_US=$((1000000 / $(getconf CLK_TCK)))
. bench/twilio/gateway.sh
T=$(mktemp -d)
GW=""
trap '[ -n "$GW" ] && kill $GW 2>/dev/null; wait $GW 2>/dev/null || true; rm -rf "$T"' EXIT
start_gateway "$DIR" "$T" "$T/gw.log"
BENCH_FIRST=0 BENCH_COUNT=50000 wrk -t2 -c64 -d3s -s bench/twilio/twilio.lua "http://127.0.0.1:$BENCH_PORT" >/dev/null
switches() { cat /proc/$GW/task/*/status | awk '/voluntary_ctxt_switches/ {s += $2} END {print s}'; }
first=50000
for c in 4 32 64; do
  s0=$(switches); g0=$(awk '{print $14 + $15}' "/proc/$GW/stat")
  out=$(BENCH_FIRST=$first BENCH_COUNT=100000 wrk -t2 -c$c -d"${DURATION:-5s}" -s bench/twilio/twilio.lua "http://127.0.0.1:$BENCH_PORT")
  s1=$(switches); g1=$(awk '{print $14 + $15}' "/proc/$GW/stat")
  n=$(echo "$out" | awk '/requests in/ {print $1; exit}')
  awk -v c="$c" -v rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')" -v s=$((s1 - s0)) -v g=$(((g1 - g0) * TICK_US)) -v n="$n" \
      -v th="$(ls /proc/$GW/task | wc -l)" \
      'BEGIN { printf "%d connections: %s msg/s, %.2f context switches per message, %d us CPU per message, %d threads\n", c, rps, s / n, g / n, th }'
  first=$((first + 100000))
done
