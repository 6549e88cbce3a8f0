#!/usr/bin/env bash
# Twilio message-path benchmark: wrk POSTs many distinct, correctly pre-signed Twilio
# webhooks to /twilio/sms of a release gateway (twilio channel + in-process C echo
# agent), so signature checking, form parsing, normalisation, routing, the agent call
# and TwiML rendering are all in the measured path. Loopback only; bounded in time.
#
#   bench/twilio/run.sh                     # defaults below
#   N=50000 DURATION=15s CONNS=64 bench/twilio/run.sh
#
# Results go to bench/results/twilio/ (not committed); figures in bench/BENCHMARKS-twilio.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-50000}
DURATION=${DURATION:-15s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
LIGHT_CONNS=${LIGHT_CONNS:-4}
export BENCH_PORT=${BENCH_PORT:-18099}
export BENCH_PLUGIN_PATH="$PWD/.build/release"
OUT=bench/results/twilio
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk is missing: run scripts/test-deps.sh" >&2; exit 1; }
swift build -c release >/dev/null
python3 bench/twilio/make_requests.py "$N" "$OUT/requests.lua"

.build/release/darkspere run --config bench/twilio/bench.yaml --log-level warning >"$OUT/gateway.log" 2>&1 &
GW=$!
trap 'kill $GW 2>/dev/null; wait $GW 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null

export BENCH_REQUESTS="$OUT/requests.lua"
URL="http://127.0.0.1:$BENCH_PORT"
echo "== warm-up (3s)"
wrk -t"$THREADS" -c"$CONNS" -d3s -s bench/twilio/twilio.lua "$URL" >/dev/null
echo "== /twilio/sms, saturated: wrk -t$THREADS -c$CONNS -d$DURATION --latency -s bench/twilio/twilio.lua"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/twilio/twilio.lua "$URL" | tee "$OUT/saturated.txt"
echo "== /twilio/sms, light load: wrk -t$THREADS -c$LIGHT_CONNS -d$DURATION --latency -s bench/twilio/twilio.lua"
wrk -t"$THREADS" -c"$LIGHT_CONNS" -d"$DURATION" --latency -s bench/twilio/twilio.lua "$URL" | tee "$OUT/light.txt"
echo "== ceiling: the same requests to POST /bench/fixed (fixed TwiML over the ABI): wrk -t$THREADS -c$CONNS -d$DURATION"
BENCH_PATH=/bench/fixed wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/twilio/twilio.lua "$URL" | tee "$OUT/fixed.txt"
echo "== server alone: GET /livez (fixed answer, no plugin): wrk -t$THREADS -c$CONNS -d$DURATION"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/twilio/livez.lua "$URL/livez" | tee "$OUT/livez.txt"
echo "== gateway resident memory after the runs"
grep -E "VmRSS|VmHWM" "/proc/$GW/status" | tee "$OUT/memory.txt"
