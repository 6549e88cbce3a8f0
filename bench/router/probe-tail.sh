#!/bin/bash
# A/B probe for the SQLite tail at a fixed offered rate (issue 3's p99 target).
#   bench/router/probe-tail.sh BINARY [BINARY...]
# For each gateway binary in turn (alternate old and new: A B A B): one gateway on a fresh
# SQLite database, 3 s warm-up, one closed-loop c64 run (grows the database as run.sh does),
# then RUNS paced runs at RATE/s (msg.lua's fixed schedule, -c32), each printing wrk's
# p50/p99 and the router's darkspere_router_turn_seconds histogram over that run.
# CEILING=1 also paces GET /livez (fixed.lua) at RATE/s first: the server's own floor.
# Env: RATE (default 5000), DURATION (default 10s), RUNS (default 2), NUMBERS (default 10000),
#      GWENV (extra environment for the gateway, e.g. "DS_X=1").
# Wrap in the CPU lock on the shared box: flock /tmp/ds-cpu.lock bench/router/probe-tail.sh ...
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PLUG=$ROOT/.build/release
RATE=${RATE:-5000}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-2}
export NUMBERS=${NUMBERS:-10000}
GW=""
trap '[ -n "$GW" ] && kill $GW 2>/dev/null || true' EXIT
. "$ROOT/bench/router/config.sh"

hist() { # cumulative buckets of darkspere_router_turn_seconds
  curl -s "http://127.0.0.1:$PORT/metrics" | grep '^darkspere_router_turn_seconds_bucket' |
    sed -E 's/.*le="([^"]+)"\} ([0-9.e+]+).*/\1 \2/'
}
cpu() { # jiffies: machine busy, gateway (utime+stime)
  echo "$(awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat) $(awk '{print $14+$15}' /proc/$GW/stat)"
}
histdiff() { # $1 before, $2 after: share of turns at or under each bound
  paste <(echo "$1") <(echo "$2") | awk '{ le[NR]=$1; d[NR]=$4-$2 } END {
    n = d[NR]; if (n == 0) n = 1; s = "router turns:";
    for (i = 1; i <= NR; i++) if (le[i] + 0 <= 0.05 || le[i] == "+Inf") s = s sprintf(" <=%sms %.2f%%", le[i] == "+Inf" ? "inf" : le[i] * 1000, 100 * d[i] / n);
    print s " (n=" d[NR] ")" }'
}

for BIN in "$@"; do
  WORK=$(mktemp -d /tmp/ds-probe-XXXX)
  PORT=$((18000 + RANDOM % 1000))
  bench_config "$WORK/plugins.yaml" "$PORT" "sqlite:$WORK/bench.sqlite" "$PLUG"
  env $GWENV "$BIN" run --config "$WORK/plugins.yaml" > "$WORK/gateway.log" 2>&1 &
  GW=$!
  for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
  echo "=== $BIN ($(date -u +%H:%M:%S))"
  wrk -t2 -c64 -d3s -s "$ROOT/bench/router/msg.lua" "http://127.0.0.1:$PORT" >/dev/null
  if [ "${CEILING:-0}" = 1 ]; then
    echo -n "ceiling GET /livez at $RATE/s (c32): "
    THREADS=2 RATE=$RATE wrk -t2 -c32 -d$DURATION -s "$ROOT/bench/router/fixed.lua" "http://127.0.0.1:$PORT/livez" | tail -1
  fi
  echo -n "c64: "
  wrk -t2 -c64 -d$DURATION -s "$ROOT/bench/router/msg.lua" "http://127.0.0.1:$PORT" | tail -1
  for r in $(seq 1 "$RUNS"); do
    H0=$(hist); C0=$(cpu); T0=$(date +%s%N)
    echo -n "$RATE/s #$r: "
    THREADS=2 RATE=$RATE wrk -t2 -c32 -d$DURATION -s "$ROOT/bench/router/msg.lua" "http://127.0.0.1:$PORT" | tail -1
    C1=$(cpu); T1=$(date +%s%N)
    histdiff "$H0" "$(hist)"
    echo "$C0 $C1 $T0 $T1" | awk '{ s = ($6 - $5) / 1e9 * 100; printf "cpu: machine %.0f%% of one core, gateway %.0f%% (the rest: wrk and anything else)\n", 100 * ($3 - $1) / s, 100 * ($4 - $2) / s }' 
  done
  echo "wal: $(stat -c %s "$WORK/bench.sqlite-wal" 2>/dev/null) bytes, db: $(stat -c %s "$WORK/bench.sqlite") bytes"
  kill $GW; wait $GW 2>/dev/null || true; GW=""
  [ -n "$KEEP" ] || rm -rf "$WORK"
done
