#!/bin/bash
# Router benchmark: the whole message path over HTTP on loopback, on each store backend.
#   bench/router/run.sh [sqlite|postgres|all] (default all)
# Needs: release build (swift build -c release), wrk and PostgreSQL 15 (scripts/test-deps.sh).
# Env: DARKSPERE (the gateway binary, default .build/release/darkspere: A/B runs of a kept copy; plugins still come from .build/release), HALF_RATE (the paced run's rate; default half the measured rate), DURATION (default 10s), CONNS (default 64), NUMBERS (default 10000), SESSIONS (lookup bench, default 1000000),
#      ACCOUNT=1: the agent belongs to a billed account (a tier without limits), so every message also passes
#      admission (one more transaction) and writes its usage-ledger rows: the cost of billing.
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/.build/release
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
SESSIONS=${SESSIONS:-1000000}
export NUMBERS=${NUMBERS:-10000}
WHICH=${1:-all}
WORK=$(mktemp -d /tmp/ds-bench-router-XXXX)
chmod 755 "$WORK"
PORT=$((18000 + RANDOM % 1000))
PGPORT=$((19000 + RANDOM % 1000))
PGBIN=/usr/lib/postgresql/15/bin
GW=""
cleanup() {
  [ -n "$GW" ] && kill "$GW" 2>/dev/null || true
  if [ -d "$WORK/pg" ]; then su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $WORK/pg/data -m fast stop" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
. "$ROOT/bench/router/config.sh"

start_pg() {
  mkdir -p "$WORK/pg" && chown postgres "$WORK/pg"
  su postgres -s /bin/sh -c "$PGBIN/initdb -D $WORK/pg/data -A trust -U postgres >/dev/null"
  su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $WORK/pg/data -l $WORK/pg/log -w -o '-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB' start" >/dev/null </dev/null
  psql -q -h 127.0.0.1 -p $PGPORT -U postgres -c "CREATE DATABASE bench" -c "CREATE DATABASE lookup" >/dev/null
}

run_gateway() { # $1 = store url
  bench_config "$WORK/plugins.yaml" "$PORT" "$1" "$BIN"
  if [ "${ACCOUNT:-0}" = 1 ]; then
    sed -i 's/^    max_sessions: 1000000$/    max_sessions: 1000000\n    account: bench/' "$WORK/plugins.yaml"
    cat >> "$WORK/plugins.yaml" <<YAML
accounts:
  - { id: bench, name: Bench, tier: unmetered }
tiers:
  unmetered: { sms_inbound: null, sms_outbound_segments: null, agent_messages: null, per_minute: null, overage: allow }
YAML
  fi
  "${DARKSPERE:-$BIN/darkspere}" run --config "$WORK/plugins.yaml" > "$WORK/gateway.log" 2>&1 &
  GW=$!
  for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "gateway did not start:"; cat "$WORK/gateway.log"; exit 1
}

bench_backend() { # $1 = name, $2 = store url
  echo "=== $1"
  run_gateway "$2"
  wrk -t2 -c$CONNS -d3s -s "$ROOT/bench/router/msg.lua" "http://127.0.0.1:$PORT" >/dev/null   # warm-up
  echo "--- ceiling: GET /livez, -t2 -c$CONNS -d$DURATION"
  wrk -t2 -c$CONNS -d$DURATION -s "$ROOT/bench/router/fixed.lua" "http://127.0.0.1:$PORT/livez" | tail -1
  echo "--- messages: POST /test/sms, -t2 -c$CONNS -d$DURATION, $NUMBERS senders"
  OUT=$(wrk -t2 -c$CONNS -d$DURATION -s "$ROOT/bench/router/msg.lua" "http://127.0.0.1:$PORT")
  echo "$OUT" | tail -2
  RATE=$(echo "$OUT" | tail -1 | sed -E 's/.*rate=([0-9]+).*/\1/')
  # Half rate: requests offered on a fixed schedule (msg.lua's RATE pacing per wrk thread),
  # half the rate just measured, or HALF_RATE if set (e.g. 5000 = half the 10,000 target).
  HALF=${HALF_RATE:-$((RATE / 2))}; [ "$HALF" -lt 1 ] && HALF=1
  echo "--- messages at half rate: $HALF/s offered on a fixed schedule, -t2 -c32"
  THREADS=2 RATE=$HALF wrk -t2 -c32 -d$DURATION -s "$ROOT/bench/router/msg.lua" "http://127.0.0.1:$PORT" | tail -2
  kill $GW; wait $GW 2>/dev/null || true; GW=""
  echo "--- session lookup with $SESSIONS sessions stored"
  "$BIN/darkspere-router-bench" "$3" "$SESSIONS" 100000
}

case "$WHICH" in
  sqlite|all) bench_backend sqlite "sqlite:$WORK/bench.sqlite" "sqlite:$WORK/lookup.sqlite" ;;
esac
case "$WHICH" in
  postgres|all) start_pg; bench_backend postgres "postgres://postgres@127.0.0.1:$PGPORT/bench" "postgres://postgres@127.0.0.1:$PGPORT/lookup" ;;
esac
