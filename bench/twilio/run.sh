#!/usr/bin/env bash
# Twilio message-path benchmark: wrk POSTs many distinct, correctly pre-signed Twilio
# webhooks to /twilio/sms of a release gateway (twilio channel + in-process C echo
# agent), so signature checking, form parsing, normalisation, routing, the agent call
# and TwiML rendering are all in the measured path. Loopback only; bounded in time.
#
#   bench/twilio/run.sh                     # defaults below
#   DURATION=15s CONNS=64 bench/twilio/run.sh
#   HALF_RATE=5000 PACED_CONNS=32 (the paced run: requests/s offered on a fixed schedule)
#   SENDERS=10000 (request i from sender i % SENDERS; 0 = a new sender every request)
#   CONFIG=bench/twilio/bench-abuse.yaml (the same gateway with the abuse: checks on)
#
# Every request is a new message: the file holds WARMUP + 2 x PER_RUN signed requests and
# each run takes its own range (warm-up and saturated: PER_RUN each; light and the paced
# run: PER_RUN / 2 each; the ceiling reuses the warm-up range); twilio.lua warns if one wraps.
#
# Results go to bench/results/twilio/ (not committed); figures in bench/BENCHMARKS-twilio.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
CONFIG=${CONFIG:-bench/twilio/bench.yaml}
WARMUP=${WARMUP:-50000}
PER_RUN=${PER_RUN:-300000}
N=$((WARMUP + 2 * PER_RUN))
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
LIGHT_CONNS=${LIGHT_CONNS:-4}
HALF_RATE=${HALF_RATE:-5000}
PACED_CONNS=${PACED_CONNS:-32}
# Request i comes from sender i % SENDERS: 10,000 senders, so most messages continue a
# session (as in real traffic); SENDERS=0: every request a new sender and a new session.
SENDERS=${SENDERS:-10000}
export BENCH_PORT=${BENCH_PORT:-18099}
export BENCH_PLUGIN_PATH="$PWD/.build/release"
OUT=bench/results/twilio
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk is missing: run scripts/test-deps.sh" >&2; exit 1; }
swift build -c release >/dev/null
REQS="$OUT/requests-$N.tsv"; [ "$SENDERS" -gt 0 ] && REQS="$OUT/requests-$N-senders-$SENDERS.tsv"
[ -s "$REQS" ] || python3 bench/twilio/make_requests.py "$N" "$REQS" https://sms.bench.example bench-auth-token-0123456789abcdef "$SENDERS"

rm -f "$OUT"/bench.sqlite*
.build/release/darkspere run --config "$CONFIG" --log-level warning >"$OUT/gateway.log" 2>&1 &
GW=$!
trap 'kill $GW 2>/dev/null; wait $GW 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null

# CPU cost per request: the gateway's CPU time (utime + stime from /proc, in clock ticks)
# and wrk's, divided by the requests of the run. On two shared cores this is what bounds
# the ratio to the ceiling: a route can reach at most (CPU a fixed answer costs) /
# (CPU a message costs) of the ceiling's rate, whatever the latency.
TICK_US=$((1000000 / $(getconf CLK_TCK)))
gw_ticks() { awk '{print $14 + $15}' "/proc/$GW/stat"; }
costed() { # $1 = output file; the rest: the wrk command line
    local file=$1; shift
    local g0 w0 g1 w1 reqs
    g0=$(gw_ticks)
    /usr/bin/time -f "wrk-cpu %U %S" -o "$file.wrkcpu" "$@" | tee "$file"
    g1=$(gw_ticks)
    reqs=$(awk '/requests in/ {print $1; exit}' "$file")
    w1=$(awk '/^wrk-cpu/ {printf "%d", ($2 + $3) * 1000000}' "$file.wrkcpu")
    if [ "${reqs:-0}" -gt 0 ]; then
        printf "cpu per request: gateway %d us, wrk %d us (%d requests)\n" \
            $(( (g1 - g0) * TICK_US / reqs )) $(( w1 / reqs )) "$reqs" | tee -a "$file"
    fi
}

export BENCH_REQUESTS="$REQS" BENCH_THREADS="$THREADS"
URL="http://127.0.0.1:$BENCH_PORT"
echo "== warm-up (3s)"
BENCH_FIRST=0 BENCH_COUNT=$WARMUP wrk -t"$THREADS" -c"$CONNS" -d3s -s bench/twilio/twilio.lua "$URL" >/dev/null
echo "== /twilio/sms, saturated: wrk -t$THREADS -c$CONNS -d$DURATION --latency -s bench/twilio/twilio.lua"
BENCH_FIRST=$WARMUP BENCH_COUNT=$PER_RUN costed "$OUT/saturated.txt" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/twilio/twilio.lua "$URL"
echo "== /twilio/sms, light load: wrk -t$THREADS -c$LIGHT_CONNS -d$DURATION --latency -s bench/twilio/twilio.lua"
BENCH_FIRST=$((WARMUP + PER_RUN)) BENCH_COUNT=$((PER_RUN / 2)) costed "$OUT/light.txt" wrk -t"$THREADS" -c"$LIGHT_CONNS" -d"$DURATION" --latency -s bench/twilio/twilio.lua "$URL"
echo "== /twilio/sms, $HALF_RATE/s offered on a fixed schedule (half the 10,000 target): RATE=$HALF_RATE wrk -t$THREADS -c$PACED_CONNS -d$DURATION"
RATE=$HALF_RATE BENCH_FIRST=$((WARMUP + PER_RUN + PER_RUN / 2)) BENCH_COUNT=$((PER_RUN / 2)) costed "$OUT/paced.txt" wrk -t"$THREADS" -c"$PACED_CONNS" -d"$DURATION" --latency -s bench/twilio/twilio.lua "$URL"
echo "== ceiling: the same requests to POST /bench/fixed (fixed TwiML over the ABI): wrk -t$THREADS -c$CONNS -d$DURATION"
BENCH_FIRST=0 BENCH_COUNT=$WARMUP BENCH_PATH=/bench/fixed costed "$OUT/fixed.txt" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/twilio/twilio.lua "$URL"
echo "== server alone: GET /livez (fixed answer, no plugin): wrk -t$THREADS -c$CONNS -d$DURATION"
costed "$OUT/livez.txt" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/twilio/livez.lua "$URL/livez"
echo "== gateway resident memory after the runs"
grep -E "VmRSS|VmHWM" "/proc/$GW/status" | tee "$OUT/memory.txt"

# The durable ceiling (issue 12): the pipeline's CPU per message against the sum of what a
# fixed answer costs (the ceiling run above) and what the store turn costs in C alone
# (bench/router/raw/raw_turn.c: the same statements, 8 turns per commit, on a file next to
# the gateway's). Target: at most 1.3.
echo "== durable ceiling: pipeline / (fixed TwiML + raw C store turn), target <= 1.3"
cc -O2 -o "$OUT/raw_turn" bench/router/raw/raw_turn.c -lsqlite3
rm -f "$OUT"/raw.sqlite*
"$OUT/raw_turn" "$OUT/raw.sqlite" 100000 8 "${SENDERS:-10000}" | tee "$OUT/raw.txt"
rm -f "$OUT"/raw.sqlite*
cpu() { awk '/^cpu per request/ {print $5}' "$1"; }
raw=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^cpu\/turn=/) {sub("cpu/turn=", "", $i); sub("us", "", $i); print $i}}' "$OUT/raw.txt")
awk -v p="$(cpu "$OUT/saturated.txt")" -v f="$(cpu "$OUT/fixed.txt")" -v r="$raw" \
    'BEGIN { printf "pipeline %d us / (fixed %d us + raw %.1f us) = %.2f\n", p, f, r, p / (f + r) }' | tee "$OUT/ceiling.txt"
