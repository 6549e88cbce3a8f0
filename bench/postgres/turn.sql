-- pgbench custom script: the statements the gateway sends PostgreSQL for one new message of
-- an existing conversation answered inline by the in-process C echo agent (bench/router's
-- path), copied from the server's log (log_statement=all) and from Sources/Host/Store/SQLStore.swift
-- (lockSQL, contextSQL, conversationHistorySQL, answeredTurnSQL, unlockSQL), the same text
-- but for the differences listed below, one message per transaction. Run by bench/postgres/run.sh:
--   pgbench -n -M prepared -c 32 -j 2 -T 20 -f bench/postgres/turn.sql \
--     -D start=<epoch ms> -D numbers=10000 -D channel=pgbench -D local=+15550000001 \
--     -D depth=20 -D agent=echo -D status=replied_inline -D text='hello there' -D reply='echo: hello there (history: 20)'
-- Its own conversations (channel 'pgbench', senders 10000000000 + 0..numbers-1, sessions
-- created by run.sh) in the same tables as the gateway's, so both see the same table sizes.
--
-- Differences from the gateway, all small: the sender number is digits only (pgbench cannot
-- build strings; the gateway's is '+1' and ten digits), so the advisory lock key is the
-- number (the gateway's is channel + remote + local); the NULL parameters (session state,
-- media) are NULL literals (pgbench cannot bind NULL); time is the run's start plus a
-- random offset (pgbench has no clock), which still changes last_ms in every update as the
-- gateway's clock does. The gateway group-commits: several messages' writes share one
-- BEGIN/COMMIT and one WAL flush; here each message commits alone (PostgreSQL still
-- flushes concurrent commits together). The gateway pipelines: lock, context and history
-- in one round trip, BEGIN + writes + COMMIT in one, the unlock deferred; here each
-- statement is its own round trip.
\set r 10000000000 + random(0, :numbers - 1)
\set mid random(1, 9000000000000000000)
\set now :start + random(0, 600000)
\set since :start - 1800000
\set ms random(1, 20)
-- 1. the conversation lock (SQLStore.lockSQL), session-level advisory lock
SELECT pg_advisory_lock(hashtextextended(:r, 0));
-- 2. the turn's context (SQLStore.contextSQL): dedupe key, opt-out, active session
SELECT d.channel_message_id, d.reply, o.keyword, s.id, s.channel, s.remote, s.local, s.agent, s.state, s.created_ms, s.last_ms, s.operator, s.handoff_ms, s.message_count
FROM (SELECT 1 AS one) k
LEFT JOIN dedupe_keys d ON d.channel = :channel AND d.channel_message_id = :mid
LEFT JOIN opt_outs o ON o.channel = :channel AND o.remote = :r
LEFT JOIN (SELECT id, channel, remote, local, agent, state, created_ms, last_ms, operator, handoff_ms, message_count FROM sessions WHERE channel = :channel AND remote = :r AND local = :local AND (last_ms >= :since OR operator IS NOT NULL OR handoff_ms IS NOT NULL) AND closed_ms IS NULL
           ORDER BY last_ms DESC LIMIT 1) s ON 1 = 1
\gset c_
-- 3. the session's history, up to the bound (SQLStore.conversationHistorySQL)
--    (the gateway leaves it out when its history cache holds the session at the count just
--    read: a conversation it keeps answering; see turn-pipelined.sql's `history`)
SELECT session_id, direction, body, created_ms, role, media FROM messages
WHERE session_id = (SELECT id FROM sessions WHERE channel = :channel AND remote = :r AND local = :local AND (last_ms >= :since OR operator IS NOT NULL OR handoff_ms IS NOT NULL) AND closed_ms IS NULL
                    ORDER BY last_ms DESC LIMIT 1)
ORDER BY id DESC LIMIT :depth;
-- 4. the group-commit unit: session, inbound message, dedupe key, reply (SQLStore.answeredTurnSQL)
BEGIN;
WITH s AS (UPDATE sessions SET last_ms = :now, message_count = message_count + 2, state = COALESCE(NULL, state)
           WHERE id = :c_id RETURNING id),
m AS (INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
          processing_ms, created_ms, remote, local, media)
      SELECT s.id, 'in', :text, 'answered', :channel, :mid, 1, :agent, :ms, :now, :r, :local, NULL FROM s RETURNING id, session_id),
d AS (INSERT INTO dedupe_keys (channel, channel_message_id, message_id, reply, created_ms)
      SELECT :channel, :mid, m.id, :reply, :now FROM m),
o AS (INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
          processing_ms, created_ms, remote, local, media)
      SELECT m.session_id, 'out', :reply, :status, :channel, NULL, 1, :agent, :ms, :now, :r, :local, NULL FROM m)
SELECT 1 / COUNT(*) FROM m;
COMMIT;
-- 5. the unlock (SQLStore.unlockSQL)
SELECT pg_advisory_unlock(hashtextextended(:r, 0));
