#!/usr/bin/env bash
# Checks the Python peer alone (no gateway needed): a bad or missing signature gets 403 and
# writes nothing; a signed webhook gets 200, application/xml, TwiML with the echo reply; a
# retried MessageSid (one after another, and two at once) gets the same reply with no second
# turn; a new sender opens one session that its next message continues (history 2); then a
# short saturated wrk run (DURATION, 3s) answers every request with the echo reply and every
# answered message is stored.
#
#   bench/seed/check.sh          # env as bench/seed/run.sh (WORKERS, POOL_SIZE, ...)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-3s}
. bench/seed/lib.sh
fail() { echo "FAILED: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
q() { "${PSQL[@]}" -d seed -c "$1"; }

fresh_database
start_python check

# a signed request of our own: $1 = From, $2 = MessageSid, $3 = Body; prints "signature<TAB>body"
signed() {
  "$VENV/bin/python" - "$PUBLIC_URL/twilio/sms" "$TOKEN" "$@" <<'PY'
import sys
from urllib.parse import urlencode
from twilio.request_validator import RequestValidator
url, token, frm, sid, body = sys.argv[1:6]
p = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC0123456789abcdef0123456789abcdef",
     "From": frm, "To": "+15557654321", "Body": body, "NumMedia": "0"}
print("%s\t%s" % (RequestValidator(token).compute_signature(url, p), urlencode(p)))
PY
}
post() { # $1 = "signature<TAB>body"; prints "status<TAB>content-type<TAB>body"
  local sig=${1%%$'\t'*} form=${1#*$'\t'}
  curl -sS -o "$WORK/resp" -w '%{http_code}\t%{content_type}\t' -H "X-Twilio-Signature: $sig" \
    -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$form" "$PY_URL/twilio/sms"
  cat "$WORK/resp"
}

# 1. bad and missing signatures
REQ=$(sed -n 1p "$REQS")
out=$(post "AAAA${REQ:4}"); [ "${out%%$'\t'*}" = 403 ] || fail "bad signature: $out"
out=$(post $'\t'"${REQ#*$'\t'}"); [ "${out%%$'\t'*}" = 403 ] || fail "missing signature: $out"
[ "$(q 'SELECT count(*) FROM message_history')" = 0 ] || fail "a rejected request wrote rows"
pass "bad and missing signature: 403, nothing stored"

# 2. a signed webhook from the request file
out=$(post "$REQ")
IFS=$'\t' read -r status ctype body <<<"$out"
[ "$status" = 200 ] || fail "signed request: $out"
case "$ctype" in application/xml*) ;; *) fail "content type $ctype" ;; esac
case "$body" in *"<Message>echo: "*) ;; *) fail "no echo reply: $body" ;; esac
pass "signed request: 200 $ctype $body"

# 3. the same MessageSid again: same answer, no second turn
SID=$(sed -nE 's/.*MessageSid=([A-Za-z0-9]+).*/\1/p' <<<"$REQ")
out2=$(post "$REQ")
[ "$out2" = "$out" ] || fail "retry answered differently: $out2"
[ "$(q "SELECT count(*) FROM message_history WHERE message_sid = '$SID'")" = 2 ] || fail "retry wrote rows"
[ "$(q "SELECT message_count FROM agent_sessions s JOIN message_history m USING (session_id) WHERE m.message_sid = '$SID' LIMIT 1")" = 2 ] || fail "retry touched the session"
pass "retried MessageSid $SID: same reply, still 2 rows (inbound + reply), session counted once"

# 4. two retries at once of a new MessageSid (one may pass get_or_create_session before the
#    other commits: record_turn's ON CONFLICT answers it from the stored reply)
R=$(signed +19990000001 SMrace0000000000000000000000000001 "at once")
post "$R" > "$WORK/a" & A=$!; post "$R" > "$WORK/b" & B=$!; wait "$A" "$B"
cmp -s "$WORK/a" "$WORK/b" || fail "concurrent retries answered differently: $(cat "$WORK/a") / $(cat "$WORK/b")"
[ "$(q "SELECT count(*) FROM message_history WHERE message_sid = 'SMrace0000000000000000000000000001'")" = 2 ] || fail "concurrent retries wrote a second turn"
pass "two concurrent retries: same reply ($(cut -f3 "$WORK/a")), one turn"

# 5. a new sender: one session, continued by the next message with the history
R=$(signed +19990000002 SMnew00000000000000000000000000001 "first")
out=$(post "$R"); case "$out" in *"echo: first (history: 0)"*) ;; *) fail "new sender: $out" ;; esac
R=$(signed +19990000002 SMnew00000000000000000000000000002 "second")
out=$(post "$R"); case "$out" in *"echo: second (history: 2)"*) ;; *) fail "continued session: $out" ;; esac
[ "$(q "SELECT count(*) FROM agent_sessions WHERE phone_number = '+19990000002'")" = 1 ] || fail "new sender: not one session"
pass "new sender: one session, its second message sees history 2"

# 6. saturated, briefly: every request answered with the echo reply, every answer stored
before=$(q "SELECT count(*) FROM message_history WHERE direction = 'inbound'")
wrk_checked python "$WORK/wrk.txt" "$PY_URL" 400000 250000 "$DURATION"
stop_python
after=$(q "SELECT count(*) FROM message_history WHERE direction = 'inbound'")
replies=$(q "SELECT count(*) FROM message_history WHERE direction = 'outbound'")
stored=$((after - before))
[ "$after" = "$replies" ] || fail "inbound rows $after, reply rows $replies"
# wrk counts the answers it read; up to one request per connection may have been stored but cut off
[ "$stored" -ge "$N" ] && [ "$stored" -le $((N + 64)) ] || fail "wrk counted $N answers, $stored messages stored"
pass "wrk -t2 -c64 -d$DURATION: $RPS msg/s, p99 $P99, $N answers ($CHECKED), $stored messages stored"
echo "all checks passed"
