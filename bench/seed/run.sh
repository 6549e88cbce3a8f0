#!/usr/bin/env bash
# The gateway against the seed-style Python stack (FastAPI + twilio-python + psycopg 3 + the
# PL/pgSQL in bench/seed/schema.sql), in one run, on the same signed Twilio webhooks.
#
#   bench/seed/run.sh [BUILD_DIR]        # BUILD_DIR: darkspere + plugins (.build/release)
#   ROUNDS=3 DURATION=10s (defaults); WARMUP=3 (s); WORKERS=2 (uvicorn worker processes);
#   POOL_SIZE=16 (connections per worker); SEED_SESSIONS=1 (one active session per sender in
#   the Python side's fresh database, the steady state; 0 = none); KEEP=1 (keep the
#   PostgreSQL server and its folder); LOOP=uvloop HTTP=httptools (uvicorn's --loop and --http;
#   LOOP=asyncio HTTP=h11 WORKERS=1 is a plain `pip install uvicorn` run as `uvicorn app:app`)
#
# Each round: (1) the gateway exactly as bench/twilio/ab.sh runs it: fresh SQLite file,
# bench/twilio/bench.yaml with the sqlite path rewritten, 3 s warm-up on requests
# [0, 50000), then wrk -t2 -c64 -d$DURATION --latency on [50000, 350000); (2) the Python
# stack (uvicorn, WORKERS workers, no access log) on a freshly created database of a
# throwaway PostgreSQL (loopback, fsync and synchronous_commit on), the same warm-up and wrk
# command on its own range ([350000, 400000) and [400000, 650000)), so no MessageSid
# repeats within a round. CPU per message from /proc: the gateway process; the uvicorn
# master and its workers; the PostgreSQL server processes (reported separately).
# Fails if either side answers a request with a non-200 or without the echo reply.
# Per-round wrk outputs go to bench/results/seed/.
#
# Needs: the release build (not built here), wrk, PostgreSQL 15 (Debian's packages),
# python3 with venv; the pinned Python packages come from PyPI (bench/seed/requirements.txt).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=$(cd "${1:-.build/release}" 2>/dev/null && pwd) || { echo "no build dir ${1:-.build/release}" >&2; exit 1; }
[ -x "$BIN/darkspere" ] || { echo "no $BIN/darkspere (swift build -c release)" >&2; exit 1; }
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3}
. bench/seed/lib.sh
. bench/twilio/gateway.sh

run_gateway() { # $1 = round; as bench/twilio/ab.sh
  export BENCH_PORT=$GW_PORT
  local url="http://127.0.0.1:$GW_PORT" g0 g1
  start_gateway "$BIN" "$WORK" "$WORK/gw-$1.log"
  wrk_checked "gateway warm-up" "$WORK/gw-warm.txt" "$url" 0 50000 "${WARMUP}s"
  g0=$(ticks "$GW")
  wrk_checked gateway "$OUT/gateway-round$1.txt" "$url" 50000 300000 "$DURATION"
  g1=$(ticks "$GW")
  kill "$GW"; wait "$GW" 2>/dev/null || true; GW=""
  G_RPS=$RPS; G_P99=$P99; G_CPU=$(us_per $((g1 - g0)) "$N"); G_CHECK=$CHECKED
}

run_python() { # $1 = round
  local p0 p1 d0 d1
  fresh_database
  start_python "round$1"
  wrk_checked "python warm-up" "$WORK/py-warm.txt" "$PY_URL" 350000 50000 "${WARMUP}s"
  p0=$(tree_ticks "$PY"); d0=$(pg_ticks)
  wrk_checked python "$OUT/python-round$1.txt" "$PY_URL" 400000 250000 "$DURATION"
  p1=$(tree_ticks "$PY"); d1=$(pg_ticks)
  stop_python
  P_RPS=$RPS; P_P99=$P99; P_CPU=$(us_per $((p1 - p0)) "$N"); P_PG=$(us_per $((d1 - d0)) "$N"); P_CHECK=$CHECKED
  P_ROWS=$("${PSQL[@]}" -d seed -c "SELECT count(*) FROM message_history")
}

echo "rounds: $ROUNDS x (gateway $BIN/darkspere, then Python: uvicorn --workers $WORKERS --loop ${LOOP:-uvloop} --http ${HTTP:-httptools}, pool $POOL_SIZE per worker); each: ${WARMUP} s warm-up, wrk -t2 -c64 -d$DURATION --latency -s bench/twilio/twilio.lua"
RATIOS=()
for r in $(seq 1 "$ROUNDS"); do
  run_gateway "$r"
  echo "round $r gateway: $G_RPS msg/s, p99 $G_P99, gateway cpu $G_CPU us/msg ($G_CHECK; load $(cut -d' ' -f1 /proc/loadavg))"
  run_python "$r"
  echo "round $r python:  $P_RPS msg/s, p99 $P_P99, uvicorn cpu $P_CPU us/msg, postgres cpu $P_PG us/msg ($P_CHECK; $P_ROWS rows stored; load $(cut -d' ' -f1 /proc/loadavg))"
  ratio=$(awk -v g="$G_RPS" -v p="$P_RPS" 'BEGIN { printf "%.1f", g / p }')
  RATIOS+=("$ratio")
  echo "round $r ratio gateway/python: $ratio"
done
echo "mean ratio gateway/python over $ROUNDS round(s): $(echo "${RATIOS[@]}" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.1f", s / NF }') (rounds: ${RATIOS[*]})"
