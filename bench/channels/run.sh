#!/usr/bin/env bash
# Channel inbound-path benchmark: the same release gateway (bench.yaml) takes distinct
# new messages on POST /twilio/sms (signed webhooks, TwiML reply), POST /telegram/webhook
# (Updates with the secret header, the reply as the webhook's sendMessage answer) and
# POST /webchat/messages (signed visitor tokens, JSON reply), each through the router and
# the C echo agent, with the same wrk settings. Loopback only.
#
# After one warm-up per channel, ROUNDS rounds; each round runs the three channels one
# after the other, the order rotated every round (round 1: twilio telegram webchat,
# round 2: telegram webchat twilio, round 3: webchat twilio telegram), so no channel
# always runs first (on the smallest store) or last (on the largest, after the others'
# load). Compare channels within a round; the summary gives each channel's rate as a
# share of the Twilio path's in the same round.
#
#   bench/channels/run.sh          # ROUNDS=3 DURATION=15s CONNS=64 SENDERS=10000
#   SKIP_BUILD=1 BUILD_DIR=/path/to/release bench/channels/run.sh   # prebuilt products
#
# Results in bench/results/channels/ (not committed; summary.txt has the table);
# figures in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-30000}
PER_RUN=${PER_RUN:-200000}
N=$((WARMUP + ROUNDS * PER_RUN))
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
SENDERS=${SENDERS:-10000}
export BENCH_PORT=${BENCH_PORT:-18098}
# BUILD_DIR: the release products to run (darkspere and the plugins), default .build/release.
BUILD_DIR=${BUILD_DIR:-$PWD/.build/release}
export BENCH_PLUGIN_PATH="$BUILD_DIR"
OUT=bench/results/channels
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk is missing: run scripts/test-deps.sh" >&2; exit 1; }
[ "${SKIP_BUILD:-0}" = 1 ] || swift build -c release >/dev/null
T="$OUT/twilio-$N-$SENDERS.tsv"; G="$OUT/telegram-$N-$SENDERS.tsv"; W="$OUT/webchat-$N-$SENDERS.tsv"
[ -s "$T" ] || python3 bench/twilio/make_requests.py "$N" "$T" https://bench.example bench-auth-token-0123456789abcdef "$SENDERS"
[ -s "$G" ] || python3 bench/channels/make_requests.py telegram "$N" "$G" bench-webhook-secret "$SENDERS"
[ -s "$W" ] || python3 bench/channels/make_requests.py webchat "$N" "$W" bench-webchat-secret-0123456789abcdef "$SENDERS"

rm -f "$OUT"/bench.sqlite*
"$BUILD_DIR/darkspere" run --config bench/channels/bench.yaml --log-level warning >"$OUT/gateway.log" 2>&1 &
GW=$!
trap 'kill $GW 2>/dev/null; wait $GW 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null

TICK_US=$((1000000 / $(getconf CLK_TCK)))
gw_ticks() { awk '{print $14 + $15}' "/proc/$GW/stat"; }
URL="http://127.0.0.1:$BENCH_PORT"
export BENCH_THREADS="$THREADS"

# One channel's settings: requests file, lua script, and the environment channels.lua reads.
channel() {
    case $1 in
        twilio)   echo "$T bench/twilio/twilio.lua" ;;
        telegram) echo "$G bench/channels/channels.lua" ;;
        webchat)  echo "$W bench/channels/channels.lua" ;;
    esac
}
channel_env() {
    case $1 in
        twilio)   export BENCH_PATH=/twilio/sms BENCH_HEADER= BENCH_EXPECT= ;;
        telegram) export BENCH_PATH=/telegram/webhook BENCH_HEADER=X-Telegram-Bot-Api-Secret-Token BENCH_EXPECT='"text":"echo: ' ;;
        webchat)  export BENCH_PATH=/webchat/messages BENCH_HEADER=Authorization BENCH_EXPECT='"text":"echo: ' ;;
    esac
}

# $1 channel, $2 round (0 = warm-up): a run over its own range of the channel's requests.
run() {
    local name=$1 round=$2 file lua g0 g1 reqs res
    read -r file lua <<<"$(channel "$name")"
    channel_env "$name"
    if [ "$round" = 0 ]; then
        echo "== $name: warm-up 3s"
        BENCH_REQUESTS="$file" BENCH_FIRST=0 BENCH_COUNT=$WARMUP wrk -t"$THREADS" -c"$CONNS" -d3s -s "$lua" "$URL" >/dev/null
        return
    fi
    res="$OUT/round$round-$name.txt"
    echo "== round $round, $name: wrk -t$THREADS -c$CONNS -d$DURATION --latency (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    g0=$(gw_ticks)
    BENCH_REQUESTS="$file" BENCH_FIRST=$((WARMUP + (round - 1) * PER_RUN)) BENCH_COUNT=$PER_RUN \
        wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$lua" "$URL" | tee "$res"
    g1=$(gw_ticks)
    reqs=$(awk '/requests in/ {print $1; exit}' "$res")
    [ "${reqs:-0}" -gt 0 ] && printf "gateway cpu per request: %d us (%d requests)\n" $(( (g1 - g0) * TICK_US / reqs )) "$reqs" | tee -a "$res"
    awk -v r="$round" -v n="$name" '
        /^messages\/s:/ { rate = $2; p50 = $4; p99 = $10 }
        /non-2..? answers:/ { bad = $3 + 0; noreply = $NF }
        /gateway cpu per request:/ { cpu = $5 }
        END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r, n, rate, p50, p99, cpu, bad, noreply }' "$res" >>"$OUT/rounds.tsv"
}

: >"$OUT/rounds.tsv"
echo "load average at start: $(cat /proc/loadavg)" | tee "$OUT/summary.txt"
ORDER=(twilio telegram webchat)
for c in "${ORDER[@]}"; do run "$c" 0; done
for r in $(seq 1 "$ROUNDS"); do
    for k in 0 1 2; do run "${ORDER[$(( (r - 1 + k) % 3 ))]}" "$r"; done
done
echo "load average at end: $(cat /proc/loadavg)" | tee -a "$OUT/summary.txt"
grep -E "VmRSS|VmHWM" "/proc/$GW/status" | tee "$OUT/memory.txt"

# Per round: each channel's messages/s, p50, p99, gateway CPU per message, and its rate as
# a share of the Twilio path's in that round; then the mean share over the rounds.
awk -F'\t' '
    { rate[$1, $2] = $3; line[$1, $2] = $0; if ($1 > rounds) rounds = $1 }
    END {
        printf "%-6s %-9s %12s %10s %10s %14s %9s\n", "round", "channel", "messages/s", "p50", "p99", "cpu/message", "of twilio"
        for (r = 1; r <= rounds; r++) for (i = 1; i <= 3; i++) {
            c = (i == 1 ? "twilio" : i == 2 ? "telegram" : "webchat")
            split(line[r, c], f, "\t")
            share = rate[r, "twilio"] > 0 ? 100 * rate[r, c] / rate[r, "twilio"] : 0
            sum[c] += share; cpu[c] += f[6]
            printf "%-6s %-9s %12s %8s ms %8s ms %11s us %8.0f %%\n", r, c, f[3], f[4], f[5], f[6], share
        }
        for (i = 2; i <= 3; i++) { c = (i == 2 ? "telegram" : "webchat"); printf "mean share of the twilio rate, %s: %.0f %%\n", c, sum[c] / rounds }
        for (i = 1; i <= 3; i++) { c = (i == 1 ? "twilio" : i == 2 ? "telegram" : "webchat"); printf "mean gateway CPU per message, %s: %.0f us\n", c, cpu[c] / rounds }
    }' "$OUT/rounds.tsv" | tee -a "$OUT/summary.txt"
