#!/usr/bin/env bash
# Channel inbound-path benchmark: the same release gateway (bench.yaml) takes distinct
# new messages on POST /twilio/sms (signed webhooks, TwiML reply), POST /telegram/webhook
# (Updates with the secret header, the reply as the webhook's sendMessage answer) and
# POST /webchat/messages (signed visitor tokens, JSON reply), each through the router and
# the C echo agent, one after the other with the same wrk settings. Loopback only.
#
#   bench/channels/run.sh                    # DURATION=15s CONNS=64 SENDERS=10000
#
# Results in bench/results/channels/ (not committed); figures in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-30000}
PER_RUN=${PER_RUN:-200000}
N=$((WARMUP + PER_RUN))
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
SENDERS=${SENDERS:-10000}
export BENCH_PORT=${BENCH_PORT:-18098}
export BENCH_PLUGIN_PATH="$PWD/.build/release"
OUT=bench/results/channels
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk is missing: run scripts/test-deps.sh" >&2; exit 1; }
[ "${SKIP_BUILD:-0}" = 1 ] || swift build -c release >/dev/null
T="$OUT/twilio-$N-$SENDERS.tsv"; G="$OUT/telegram-$N-$SENDERS.tsv"; W="$OUT/webchat-$N-$SENDERS.tsv"
[ -s "$T" ] || python3 bench/twilio/make_requests.py "$N" "$T" https://bench.example bench-auth-token-0123456789abcdef "$SENDERS"
[ -s "$G" ] || python3 bench/channels/make_requests.py telegram "$N" "$G" bench-webhook-secret "$SENDERS"
[ -s "$W" ] || python3 bench/channels/make_requests.py webchat "$N" "$W" bench-webchat-secret-0123456789abcdef "$SENDERS"

rm -f "$OUT"/bench.sqlite*
.build/release/darkspere run --config bench/channels/bench.yaml --log-level warning >"$OUT/gateway.log" 2>&1 &
GW=$!
trap 'kill $GW 2>/dev/null; wait $GW 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null

TICK_US=$((1000000 / $(getconf CLK_TCK)))
gw_ticks() { awk '{print $14 + $15}' "/proc/$GW/stat"; }
URL="http://127.0.0.1:$BENCH_PORT"
export BENCH_THREADS="$THREADS"

# $1 name, $2 requests file, $3 lua script; extra environment already exported by the caller.
run() {
    local name=$1 file=$2 lua=$3 g0 g1 reqs
    echo "== $name: warm-up 3s"
    BENCH_REQUESTS="$file" BENCH_FIRST=0 BENCH_COUNT=$WARMUP wrk -t"$THREADS" -c"$CONNS" -d3s -s "$lua" "$URL" >/dev/null
    echo "== $name: wrk -t$THREADS -c$CONNS -d$DURATION --latency"
    g0=$(gw_ticks)
    BENCH_REQUESTS="$file" BENCH_FIRST=$WARMUP BENCH_COUNT=$PER_RUN wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$lua" "$URL" | tee "$OUT/$name.txt"
    g1=$(gw_ticks)
    reqs=$(awk '/requests in/ {print $1; exit}' "$OUT/$name.txt")
    [ "${reqs:-0}" -gt 0 ] && printf "gateway cpu per request: %d us (%d requests)\n" $(( (g1 - g0) * TICK_US / reqs )) "$reqs" | tee -a "$OUT/$name.txt"
}

run twilio "$T" bench/twilio/twilio.lua
BENCH_PATH=/telegram/webhook BENCH_HEADER=X-Telegram-Bot-Api-Secret-Token BENCH_EXPECT='"text":"echo: ' run telegram "$G" bench/channels/channels.lua
BENCH_PATH=/webchat/messages BENCH_HEADER=Authorization BENCH_EXPECT='"text":"echo: ' run webchat "$W" bench/channels/channels.lua
grep -E "VmRSS|VmHWM" "/proc/$GW/status" | tee "$OUT/memory.txt"
