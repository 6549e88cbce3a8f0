#!/bin/bash
# A short look at one gateway build on PostgreSQL: which statements it sends, how long the
# server spends in each, and the CPU per message on both sides.
#
#   bench/postgres/probe.sh BINDIR [seconds]
#
# BINDIR holds a release `darkspere` and its plugins (e.g. .build/release, or a kept copy of
# another build: alternate two builds for a before/after). Starts a throwaway PostgreSQL 15
# with pg_stat_statements (synchronous_commit on), bench/router's gateway on it, gives the
# first 10,000 senders an active session, warms up 3 s, then runs wrk -t2 -c64 for
# `seconds` (10) and prints the wrk summary, the gateway's and the server's CPU ticks
# (1/100 s) and committed transactions during the run, and pg_stat_statements (calls, mean
# µs in the executor, statement).
# Env: NUMBERS (senders, 10000; 1000000 makes nearly every message a conversation's first,
#      the beginTurn + finishTurn path), PGOPTS (extra server options), PERF=file (perf
#      record -g of the gateway during the run), SOCKET=1 (the gateway reaches the server
#      through its Unix socket instead of TCP on 127.0.0.1).
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:?usage: probe.sh BINDIR [seconds]}; S=${2:-10}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
W=$(mktemp -d /tmp/ds-pg-probe-XXXX); chmod 755 "$W"; mkdir "$W/pg"; chown postgres "$W/pg"
PGP=$((19000 + RANDOM % 1000)); P=$((18000 + RANDOM % 1000))
GW=""
cleanup() {
  [ -n "$GW" ] && kill "$GW" 2>/dev/null && wait "$GW" 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w -o "-p $PGP -k $W/pg -c listen_addresses=127.0.0.1 \
  -c max_connections=300 -c shared_buffers=256MB -c synchronous_commit=on -c shared_preload_libraries=pg_stat_statements ${PGOPTS:-}" \
  start >/dev/null </dev/null
Q="psql -X -q -At -h 127.0.0.1 -p $PGP -U postgres"
$Q -c "CREATE DATABASE bench"; $Q -d bench -c "CREATE EXTENSION pg_stat_statements"
. "$ROOT/bench/router/config.sh"
if [ "${SOCKET:-0}" = 1 ]; then DB="postgresql://postgres@/bench?host=$W/pg&port=$PGP"; else DB="postgres://postgres@127.0.0.1:$PGP/bench"; fi
bench_config "$W/plugins.yaml" "$P" "$DB" "$B"
"$B/darkspere" run --config "$W/plugins.yaml" > "$W/gw.log" 2>&1 &
GW=$!
for i in $(seq 300); do curl -sf "http://127.0.0.1:$P/readyz" >/dev/null && break; sleep 0.1; done
export NUMBERS=${NUMBERS:-10000}
NOW=$(date +%s%3N)
$Q -d bench -c "INSERT INTO sessions (channel, remote, local, agent, state, created_ms, last_ms, message_count)
  SELECT 'test', '+1' || lpad(i::text, 10, '0'), '+15550000001', 'echo', '', $NOW, $NOW, 0 FROM generate_series(0, 9999) i"
wrk -t2 -c64 -d3s -s "$ROOT/bench/router/msg.lua" "http://127.0.0.1:$P" >/dev/null
$Q -d bench -c "SELECT pg_stat_statements_reset()" >/dev/null
xacts() { $Q -d bench -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'bench'"; }
pg_ticks() { # postmaster (with its reaped backends) + live children
  local pm t c; pm=$(head -1 "$W/pg/data/postmaster.pid")
  t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")
  for c in $(pgrep -P "$pm"); do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || echo 0))); done
  echo $t
}
x0=$(xacts); p0=$(pg_ticks); g0=$(awk '{ print $14 + $15 }' "/proc/$GW/stat")
if [ -n "${PERF:-}" ]; then perf record -F 499 -g -o "$PERF" -p "$GW" -- sleep "$S" >/dev/null 2>&1 & PP=$!; fi
wrk -t2 -c64 -d"${S}s" -s "$ROOT/bench/router/msg.lua" "http://127.0.0.1:$P" | tail -3
g1=$(awk '{ print $14 + $15 }' "/proc/$GW/stat"); p1=$(pg_ticks)
[ -n "${PERF:-}" ] && wait "$PP"
sleep 0.6; x1=$(xacts)
echo "gateway ticks: $((g1 - g0)) PostgreSQL ticks: $((p1 - p0)) transactions: $((x1 - x0))"
$Q -d bench -c "SELECT calls, round(mean_exec_time::numeric * 1000, 1) AS us, left(regexp_replace(query, '\s+', ' ', 'g'), 90)
  FROM pg_stat_statements ORDER BY calls DESC LIMIT 14"
