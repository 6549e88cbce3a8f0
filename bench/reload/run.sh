#!/usr/bin/env bash
# Reload benchmark: the latency of signed Twilio webhooks (new messages through the router
# and the C echo agent) offered on a fixed schedule, first without reloads, then while the
# config is reloaded every INTERVAL seconds (SIGHUP; the file alternates between two
# versions: a second Twilio instance and a file sink added, then removed again, so every
# reload creates or destroys instances and moves routes). Compares p50/p99/max (wrk
# --latency) of the two runs and counts the reloads applied. Loopback only.
#
#   bench/reload/run.sh                  # RATE=1000 DURATION=20s INTERVAL=1 CONNS=16
#   BUILD=debug SKIP_BUILD=1 bench/reload/run.sh    # against the debug build
#
# Results in bench/results/reload/ (not committed); figures in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-release}
RATE=${RATE:-1000}
DURATION=${DURATION:-20s}
INTERVAL=${INTERVAL:-1}
THREADS=${THREADS:-2}
CONNS=${CONNS:-16}
SENDERS=${SENDERS:-10000}
export BENCH_PORT=${BENCH_PORT:-18097}
export BENCH_PLUGIN_PATH="$PWD/.build/$BUILD"
export BENCH_THREADS="$THREADS"
OUT=bench/results/reload
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/test-deps.sh" >&2; exit 1; }
[ "${SKIP_BUILD:-0}" = 1 ] || swift build -c "$BUILD" >/dev/null
secs=${DURATION%s}
N=$(( (RATE * secs * 2) + 20000 ))
REQ="$OUT/requests-$N-$SENDERS.tsv"
[ -s "$REQ" ] || python3 bench/twilio/make_requests.py "$N" "$REQ" https://bench.example bench-auth-token-0123456789abcdef "$SENDERS"

A="$OUT/plugins-a.yaml"; B="$OUT/plugins-b.yaml"; CFG="$OUT/plugins.yaml"
sed 's|#EXTRA#||' bench/reload/base.yaml > "$A"
sed "s|#EXTRA#|  - id: twilio-b\n    library: twilio\n    config:\n      account_sid: AC0123456789abcdef0123456789abcdef\n      auth_token: bench-auth-token-0123456789abcdef\n      from: \"+15557654321\"\n      webhook_path: /twilio-b/sms\n      status_path: /twilio-b/status\n  - id: events\n    library: file-sink\n    config:\n      path: events.jsonl|" bench/reload/base.yaml > "$B"
cp "$A" "$CFG"
rm -f "$OUT"/bench.sqlite* "$OUT"/events.jsonl*
".build/$BUILD/darkspere" run --config "$CFG" --log-level warning >"$OUT/gateway.log" 2>&1 &
GW=$!
trap 'kill $GW 2>/dev/null; wait $GW 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null
URL="http://127.0.0.1:$BENCH_PORT"
reloads() { curl -fsS "$URL/metrics" | awk -v r="$1" '$1 == "darkspere_config_reloads_total{result=\"" r "\"}" {print $2}'; }

echo "== warm-up 3s"
BENCH_REQUESTS="$REQ" BENCH_FIRST=0 BENCH_COUNT=20000 wrk -t"$THREADS" -c"$CONNS" -d3s -s bench/twilio/twilio.lua "$URL" >/dev/null
half=$(( RATE * secs ))
echo "== without reloads: RATE=$RATE wrk -t$THREADS -c$CONNS -d$DURATION --latency"
RATE=$RATE BENCH_REQUESTS="$REQ" BENCH_FIRST=20000 BENCH_COUNT=$half wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/twilio/twilio.lua "$URL" | tee "$OUT/steady.txt"

echo "== with a reload every ${INTERVAL}s (SIGHUP, alternating two configs)"
ok0=$(reloads ok); failed0=$(reloads failed)
(
  i=0
  while kill -0 $GW 2>/dev/null; do
    sleep "$INTERVAL"
    if [ $((i % 2)) = 0 ]; then cp "$B" "$CFG.tmp"; else cp "$A" "$CFG.tmp"; fi
    mv "$CFG.tmp" "$CFG"
    kill -HUP $GW
    i=$((i + 1))
  done
) &
LOOP=$!
RATE=$RATE BENCH_REQUESTS="$REQ" BENCH_FIRST=$((20000 + half)) BENCH_COUNT=$half wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/twilio/twilio.lua "$URL" | tee "$OUT/reloading.txt"
kill $LOOP 2>/dev/null; wait $LOOP 2>/dev/null || true
sleep 1
ok1=$(reloads ok); failed1=$(reloads failed)
echo "reloads applied during the run: $((ok1 - ok0)), refused: $((failed1 - failed0))" | tee -a "$OUT/reloading.txt"
for f in steady reloading; do
  printf "%-10s p50 %s  p99 %s  max %s  non-2xx/bad: %s\n" "$f" \
    "$(awk '$1 == "50%" {print $2}' "$OUT/$f.txt")" "$(awk '$1 == "99%" {print $2}' "$OUT/$f.txt")" \
    "$(awk '$1 == "Latency" {print $4; exit}' "$OUT/$f.txt")" "$(grep -E 'Non-2xx|bad|noreply' "$OUT/$f.txt" | tr '\n' ' ')"
done | tee "$OUT/summary.txt"
