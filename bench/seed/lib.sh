# Sourced by bench/seed/run.sh and bench/seed/check.sh (from the repository's root): the
# Python stack's venv, the signed requests, the throwaway PostgreSQL, the app's start and
# stop, and a checked wrk run. Sets WORK (a temporary folder, removed on exit) and the ports.
PUBLIC_URL=https://sms.bench.example
TOKEN=bench-auth-token-0123456789abcdef
SENDERS=10000
REQS=${REQS:-bench/results/twilio/requests-650000-senders-$SENDERS.tsv}
OUT=bench/results/seed
VENV=$OUT/venv
WORKERS=${WORKERS:-2}
export POOL_SIZE=${POOL_SIZE:-16}
SEED_SESSIONS=${SEED_SESSIONS:-1}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
for tool in wrk psql curl "$PGBIN/initdb" python3; do command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }; done
mkdir -p "$OUT"

# --- the Python stack's packages, pinned (reinstalled when requirements.txt changes)
if ! cmp -s bench/seed/requirements.txt "$VENV/requirements.txt" 2>/dev/null; then
  echo "installing the pinned Python packages into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r bench/seed/requirements.txt
  cp bench/seed/requirements.txt "$VENV/requirements.txt"
fi

# --- the signed webhooks (the file bench/twilio/run.sh and ab.sh use)
if [ ! -s "$REQS" ]; then
  mkdir -p "$(dirname "$REQS")"
  "$VENV/bin/python" bench/twilio/make_requests.py 650000 "$REQS" "$PUBLIC_URL" "$TOKEN" "$SENDERS"
fi
[ "$(wc -l < "$REQS")" -ge 650000 ] || { echo "$REQS has fewer than 650000 requests" >&2; exit 1; }
export BENCH_REQUESTS=$REQS BENCH_THREADS=2

WORK=$(mktemp -d /tmp/ds-bench-seed-XXXX)
chmod 755 "$WORK"
GW_PORT=$((18100 + RANDOM % 400))
PY_PORT=$((18500 + RANDOM % 400))
PGPORT=$((19000 + RANDOM % 1000))
if [ "$(id -u)" = 0 ]; then AS_PG=(runuser -u postgres --); else AS_PG=(); fi
PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres)
DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/seed"
GW=""; PY=""

cleanup() {
  [ -n "$GW" ] && { kill "$GW" 2>/dev/null; wait "$GW" 2>/dev/null || true; }
  [ -n "$PY" ] && { kill "$PY" 2>/dev/null; wait "$PY" 2>/dev/null || true; }
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $WORK (PostgreSQL on port $PGPORT)"; return; fi
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- the throwaway PostgreSQL (as bench/postgres/run.sh): loopback, fsync and synchronous_commit on
mkdir -p "$WORK/pg"
if [ "$(id -u)" = 0 ]; then chown postgres "$WORK/pg"; fi
"${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres >/dev/null
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -o "-p $PGPORT -k $WORK/pg \
  -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on" \
  start >/dev/null </dev/null
echo "PostgreSQL $("${PSQL[@]}" -d postgres -c 'SHOW server_version') on 127.0.0.1:$PGPORT: fsync=$("${PSQL[@]}" -d postgres -c 'SHOW fsync'), synchronous_commit=$("${PSQL[@]}" -d postgres -c 'SHOW synchronous_commit')"

# --- CPU accounting, in clock ticks
HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
tree_ticks() { # a process (with its reaped children) and all its live descendants
  local t c
  t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo 0)
  for c in $(pgrep -P "$1" || true); do t=$((t + $(tree_ticks "$c"))); done
  echo "$t"
}
pg_ticks() { tree_ticks "$(head -1 "$WORK/pg/data/postmaster.pid")"; }
us_per() { awk -v t="$1" -v n="$2" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print "-" }'; }

# --- the Python side's database, created anew: schema, the echo agent, and (SEED_SESSIONS=1)
# one active session per sender as make_requests.py numbers them (+1555 and 7 digits)
fresh_database() {
  "${PSQL[@]}" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS seed WITH (FORCE)" -c "CREATE DATABASE seed"
  "${PSQL[@]}" -d seed -f bench/seed/schema.sql >/dev/null
  if [ "$SEED_SESSIONS" = 1 ]; then
    "${PSQL[@]}" -d seed -c "
      INSERT INTO agent_sessions (session_id, phone_number, agent_id, session_hash)
      SELECT gen_random_uuid(), '+1555' || lpad(i::text, 7, '0'), a.agent_id, md5(i::text)
        FROM generate_series(0, $SENDERS - 1) i, agent_registry a WHERE a.agent_name = 'echo';
      UPDATE agent_registry SET current_sessions = $SENDERS WHERE agent_name = 'echo';"
  fi
  "${PSQL[@]}" -d seed -c "VACUUM ANALYZE"
}

# --- the app: uvicorn, WORKERS worker processes, no access log; PY = the master's pid
start_python() { # $1 = log name
  PY_URL="http://127.0.0.1:$PY_PORT"
  DATABASE_URL=$DATABASE_URL PUBLIC_URL=$PUBLIC_URL TWILIO_AUTH_TOKEN=$TOKEN \
    "$VENV/bin/uvicorn" app:app --app-dir bench/seed --host 127.0.0.1 --port "$PY_PORT" --workers "$WORKERS" \
    --loop "${LOOP:-uvloop}" --http "${HTTP:-httptools}" --no-access-log --log-level warning > "$WORK/py-$1.log" 2>&1 &
  PY=$!
  for _ in $(seq 1 200); do curl -fsS "$PY_URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "$PY_URL/healthz" >/dev/null || { cat "$WORK/py-$1.log"; echo "FAILED: the Python stack did not start" >&2; exit 1; }
  sleep 1 # healthz reached one worker: give the others their moment
}
stop_python() { kill "$PY"; wait "$PY" 2>/dev/null || true; PY=""; }

# --- wrk with bench/twilio/twilio.lua, checked: sets N, RPS, P99, CHECKED; fails on any
# non-200 answer, any 200 without the echo reply, or a wrapped request range
wrk_checked() { # $1 = side, $2 = output file, $3 = URL, $4 = first request, $5 = count, $6 = duration
  local side=$1 file=$2 bad noreply
  BENCH_FIRST=$4 BENCH_COUNT=$5 wrk -t2 -c64 -d"$6" --latency -s bench/twilio/twilio.lua "$3" > "$file" 2>&1 \
    || { cat "$file"; echo "FAILED: wrk ($side)" >&2; exit 1; }
  bad=$(sed -nE 's/^non-200 answers: ([0-9]+),.*/\1/p' "$file")
  noreply=$(sed -nE 's/.*200 without the echo reply: ([0-9]+).*/\1/p' "$file")
  if [ -z "$bad" ] || [ "$bad" != 0 ] || [ "$noreply" != 0 ]; then
    cat "$file"; echo "FAILED: $side answered badly (non-200: ${bad:-?}, without the echo reply: ${noreply:-?})" >&2; exit 1
  fi
  if grep -q "^WARNING" "$file"; then cat "$file"; echo "FAILED: $side: the request range wrapped (MessageSids repeated)" >&2; exit 1; fi
  if grep -q "Socket errors" "$file"; then echo "  note ($side): $(grep 'Socket errors' "$file")"; fi
  N=$(awk '/requests in/ { print $1; exit }' "$file")
  RPS=$(awk '/Requests\/sec/ { printf "%.0f", $2 }' "$file")
  P99=$(awk '$1 == "99%" { print $2 }' "$file")
  CHECKED="non-200 $bad, no reply $noreply"
}
