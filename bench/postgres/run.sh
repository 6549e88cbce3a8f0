#!/bin/bash
# PostgreSQL: the gateway's message path against pgbench running the same statements.
#
#   bench/postgres/run.sh
#
# Starts a throwaway PostgreSQL from Debian's packages on loopback (synchronous_commit and
# fsync on, as shipped), lets the gateway create its schema, then alternates, ROUNDS times:
#   pgbench: bench/postgres/turn.sql (the statements of one message, one transaction each),
#            pgbench -n -M prepared -c $CLIENTS -j 2 -T $SECONDS
#   gateway: bench/router's set-up (fixture channel on /test/sms, in-process C echo agent,
#            max_concurrent 64, history depth 20) on the same database, new messages from
#            $NUMBERS senders, wrk -t2 -c$CONNS -d${SECONDS}s
# and prints both rates and the gateway's share of pgbench's rate per round and on the mean,
# with the CPU each side used per message (gateway process, PostgreSQL server processes,
# the load generator) and the machine's load average.
#
# Needs: release build (swift build -c release), PostgreSQL 15, wrk (scripts/test-deps.sh).
# Env: ROUNDS (3), SECONDS_PER_RUN (20), CLIENTS (pgbench clients, 32), CONNS (wrk
#      connections, 64 as bench/router), NUMBERS (senders per side, 10000), WARMUP (s, 3),
#      DARKSPERE (gateway binary, default .build/release/darkspere), BIN (plugins, default
#      .build/release), GATEWAYS="name=dir name2=dir2" (several builds, each dir holding a
#      darkspere binary and its plugins: each round runs pgbench, then every gateway, the
#      gateways' order rotated from round to round; for before/after comparisons), PGOPTS (extra server options, e.g. "-c log_statement=all"),
#      SCRIPT (pgbench's script in bench/postgres: turn.sql, one round trip per statement, or
#      turn-pipelined.sql, the same statements in the gateway's two round trips),
#      HISTORY=0 (turn-pipelined.sql without the history read, as the gateway sends a
#      message when its history cache answers; default 1),
#      KEEP=1 (keep the server and its directory, print where),
#      SOCKET=1 (both sides reach the server through its Unix socket, as a gateway on the
#      database's own host would, instead of TCP on 127.0.0.1).
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/.build/release}
DARKSPERE=${DARKSPERE:-$BIN/darkspere}
ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_PER_RUN:-20}
CLIENTS=${CLIENTS:-32}
CONNS=${CONNS:-64}
export NUMBERS=${NUMBERS:-10000}
WARMUP=${WARMUP:-3}
SCRIPT=${SCRIPT:-turn.sql}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
for tool in wrk pgbench psql "$PGBIN/initdb"; do command -v "$tool" >/dev/null || { echo "missing: $tool (scripts/test-deps.sh)"; exit 1; }; done
WORK=$(mktemp -d /tmp/ds-bench-pg-XXXX)
chmod 755 "$WORK"
PORT=$((18000 + RANDOM % 1000))
PGPORT=$((19000 + RANDOM % 1000))
if [ "${SOCKET:-0}" = 1 ]; then PGHOST_ARG=$WORK/pg; DB="postgresql://postgres@/bench?host=$WORK/pg&port=$PGPORT"
else PGHOST_ARG=127.0.0.1; DB="postgres://postgres@127.0.0.1:$PGPORT/bench"; fi
PSQL="psql -X -q -At -h 127.0.0.1 -p $PGPORT -U postgres -d bench"
GW=""


cleanup() {
  [ -n "$GW" ] && kill "$GW" 2>/dev/null && wait "$GW" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $WORK (server on port $PGPORT)"; return; fi
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- the server: Debian's defaults (fsync on, synchronous_commit on), stated explicitly
mkdir -p "$WORK/pg" && chown postgres "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o "-p $PGPORT -k $WORK/pg \
  -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on \
  ${PGOPTS:-}" start >/dev/null </dev/null
psql -X -q -h 127.0.0.1 -p $PGPORT -U postgres -c "CREATE DATABASE bench" >/dev/null
echo "PostgreSQL $($PSQL -c 'SHOW server_version') on 127.0.0.1:$PGPORT (the benchmark connects to $PGHOST_ARG): synchronous_commit=$($PSQL -c 'SHOW synchronous_commit'), fsync=$($PSQL -c 'SHOW fsync')"

# --- CPU accounting (clock ticks): a process's utime+stime (+ reaped children's for the postmaster)
HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# A shell's own CPU and its reaped children's (the load generator it ran): $1 = its $BASHPID.
shell_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }
pm_pid() { head -1 "$WORK/pg/data/postmaster.pid"; }
pg_ticks() { # the server: postmaster (with its reaped backends) + live children
  local pm t=0 c; pm=$(pm_pid)
  t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")
  for c in $(pgrep -P "$pm"); do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || echo 0))); done
  echo $t
}
us_per() { awk -v t="$1" -v n="$2" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print "-" }'; }
load() { cut -d' ' -f1 /proc/loadavg; }

# --- the gateway: bench/router's configuration on this database
. "$ROOT/bench/router/config.sh"
GATEWAYS=${GATEWAYS:-gateway=$BIN}
NAMES=()
for g in $GATEWAYS; do
  name=${g%%=*}; dir=${g#*=}
  [ "$GATEWAYS" = "gateway=$BIN" ] && exe=$DARKSPERE || exe=$dir/darkspere
  [ -x "$exe" ] || { echo "no gateway binary at $exe (swift build -c release)"; exit 1; }
  NAMES+=("$name"); printf -v "EXE_$name" %s "$exe"
  bench_config "$WORK/plugins-$name.yaml" "$PORT" "$DB" "$dir"
done
start_gateway() { # $1 = name
  local exe="EXE_$1"
  "${!exe}" run --config "$WORK/plugins-$1.yaml" >> "$WORK/gateway.log" 2>&1 &
  GW=$!
  for i in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "gateway did not start:"; cat "$WORK/gateway.log"; exit 1
}
stop_gateway() { kill "$GW"; wait "$GW" 2>/dev/null || true; GW=""; }

# Schema: the gateway's own migrations (start once). Then each side's conversations, one
# active session per sender (the steady state: a new message of an existing conversation;
# the first message of a conversation takes the slower new-session path, which pgbench's
# script does not model): the gateway's senders as bench/router/msg.lua sends them
# ('+1' and ten digits, to +15550000001 on channel 'test'), pgbench's on channel 'pgbench'.
start_gateway "${NAMES[0]}"; stop_gateway
NOW=$(date +%s%3N)
$PSQL -c "INSERT INTO sessions (channel, remote, local, agent, state, created_ms, last_ms, message_count)
          SELECT 'test', '+1' || lpad(i::text, 10, '0'), '+15550000001', 'echo', '', $NOW, $NOW, 0 FROM generate_series(0, $NUMBERS - 1) i
          UNION ALL
          SELECT 'pgbench', (10000000000 + i)::text, '+15550000001', 'echo', '', $NOW, $NOW, 0 FROM generate_series(0, $NUMBERS - 1) i"
$PSQL -c "VACUUM ANALYZE"

PGB_ARGS=(-n -M prepared -c "$CLIENTS" -j 2 -f "$ROOT/bench/postgres/$SCRIPT" -D history="${HISTORY:-1}" -D numbers="$NUMBERS" -D channel=pgbench
          -D local=+15550000001 -D depth=20 -D agent=echo -D status=replied_inline -D text="hello there"
          -D reply="echo: hello there (history: 20)")
run_pgbench() { # $1 = seconds; prints "rate pg_us_per_msg pgbench_us_per_msg"
  local pg0 pg1 out rate c0 c1 me=$BASHPID
  pg0=$(pg_ticks); c0=$(shell_ticks $me)
  out=$( (pgbench "${PGB_ARGS[@]}" -D start="$(date +%s%3N)" -T "$1" -h "$PGHOST_ARG" -p $PGPORT -U postgres bench 2>&1) )
  sleep 0.2   # the backends exit and are reaped: their CPU moves to the postmaster's children's time
  pg1=$(pg_ticks); c1=$(shell_ticks $me)
  rate=$(echo "$out" | sed -nE 's/^tps = ([0-9.]+).*/\1/p' | head -1)
  if [ -z "$rate" ] || echo "$out" | grep -q "failed transactions: [1-9]"; then echo "pgbench failed:" >&2; echo "$out" >&2; exit 1; fi
  local n; n=$(echo "$out" | sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p')
  echo "$rate $(us_per $((pg1 - pg0)) "$n") $(us_per $((c1 - c0)) "$n")"
}
run_gateway() { # $1 = seconds, $2 = name; prints "deferred rate gw_us_per_msg pg_us_per_msg wrk_us_per_msg p50 p99"
  local pg0 pg1 g0 g1 out rate n c0 c1 me=$BASHPID
  start_gateway "$2"
  wrk -t2 -c"$CONNS" -d"${WARMUP}s" -s "$ROOT/bench/router/msg.lua" "http://127.0.0.1:$PORT" >/dev/null
  pg0=$(pg_ticks); g0=$(ticks "$GW"); c0=$(shell_ticks $me)
  out=$( (wrk -t2 -c"$CONNS" -d"${1}s" -s "$ROOT/bench/router/msg.lua" "http://127.0.0.1:$PORT") )
  pg1=$(pg_ticks); g1=$(ticks "$GW"); c1=$(shell_ticks $me)
  stop_gateway
  rate=$(echo "$out" | sed -nE 's/.*rate=([0-9]+).*/\1/p')
  n=$(echo "$out" | sed -nE 's/^ *([0-9]+) requests in.*/\1/p')
  if ! echo "$out" | grep -q "errors=0" || echo "$out" | grep -q "Non-2xx"; then echo "gateway run not clean:" >&2; echo "$out" >&2; exit 1; fi
  echo "$(echo "$out" | sed -nE 's/.*deferred=([0-9]+).*/\1/p') $rate $(us_per $((g1 - g0)) "$n") $(us_per $((pg1 - pg0)) "$n") $(us_per $((c1 - c0)) "$n") $(echo "$out" | sed -nE 's/^p50=([0-9.]+ms) p99=([0-9.]+ms).*/\1 \2/p')"
}

# The machine probe (bench/machine/syscall.c): figures are comparable only where it agrees.
cc -O2 -o "$WORK/syscall" "$ROOT/bench/machine/syscall.c"
probe() { echo "machine: $("$WORK/syscall" | sed -nE 's/.*: ([0-9.]+) ns.*/\1/p' | sort -n | head -1) ns per system call (bench/machine/syscall.c, best of 3), load average $(cut -d' ' -f1-3 /proc/loadavg)"; }
probe
echo "rounds: $ROUNDS x (pgbench -c $CLIENTS -j 2 -T $SECS -M prepared $SCRIPT history=${HISTORY:-1}, then the gateway: wrk -t2 -c$CONNS -d${SECS}s), $NUMBERS senders each, ${WARMUP} s warm-up each"
for n in "${NAMES[@]}"; do e="EXE_$n"; echo "$n: ${!e}"; done
run_pgbench "$WARMUP" >/dev/null   # warm-up: prepared plans, caches
printf '%-5s %-8s %10s %12s %12s %12s %8s %s\n' round side "msg/s" "PG us/msg" "own us/msg" "load gen us" load "p50 / p99"
declare -A SHARE RATE CPU
for r in $(seq 1 "$ROUNDS"); do
  P=$(run_pgbench "$SECS"); read -r prate ppg pgen <<< "$P"
  printf '%-5s %-8s %10.0f %12s %12s %12s %8s\n' "$r" pgbench "$prate" "$ppg" "-" "$pgen" "$(load)"
  k=${#NAMES[@]}
  for i in $(seq 0 $((k - 1))); do
    n=${NAMES[$(((i + r - 1) % k))]}
    G=$(run_gateway "$SECS" "$n"); read -r gdef grate ggw gpg gwrk gp50 gp99 <<< "$G"
    printf '%-5s %-8s %10.0f %12s %12s %12s %8s %s\n' "$r" "$n" "$grate" "$gpg" "$ggw" "$gwrk" "$(load)" "$gp50 / $gp99 (replies deferred: $gdef)"
    share=$(awk -v g="$grate" -v p="$prate" 'BEGIN { printf "%.1f", 100 * g / p }')
    echo "round $r: $n $grate msg/s, pgbench $(printf %.0f "$prate") msg/s: $share %"
    SHARE[$n]="${SHARE[$n]:-} $share"; RATE[$n]="${RATE[$n]:-} $grate"; CPU[$n]="${CPU[$n]:-} $((ggw + gpg))"
  done
done
mean() { echo "$@" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.1f", s / NF }'; }
for n in "${NAMES[@]}"; do
  echo "$n: mean $(mean ${RATE[$n]}) msg/s, mean share of pgbench's rate $(mean ${SHARE[$n]}) % (rounds:${SHARE[$n]}), gateway + PostgreSQL CPU per message $(mean ${CPU[$n]}) us"
done
probe
