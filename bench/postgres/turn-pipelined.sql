-- pgbench custom script: bench/postgres/turn.sql's statements with the gateway's round trips
-- (pgbench 14+ pipelines): lock, context and history in one round trip, then BEGIN, the
-- turn's writes, COMMIT and the unlock in a second (the gateway defers the unlock to the
-- connection's next pipeline and commits several messages' writes together). pgbench
-- cannot carry a result into a pipeline (\gset is not allowed there), so the writes find
-- the session by its key (the context's condition) instead of by the id the context read
-- returned: one more index look-up than the gateway's statement. Same variables as
-- turn.sql, and `history` (1: statement 3 is sent; 0: it is not, as the gateway does when
-- its history cache answers); bench/postgres/run.sh runs it with SCRIPT=turn-pipelined.sql
-- (and HISTORY=0).
\set r 10000000000 + random(0, :numbers - 1)
\set mid random(1, 9000000000000000000)
\set now :start + random(0, 600000)
\set since :start - 1800000
\set ms random(1, 20)
\startpipeline
-- 1. the conversation lock (SQLStore.lockSQL), session-level advisory lock
SELECT pg_advisory_lock(hashtextextended(:r, 0));
-- 2. the turn's context (SQLStore.contextSQL): dedupe key, opt-out, active session
SELECT d.channel_message_id, d.reply, o.keyword, s.id, s.channel, s.remote, s.local, s.agent, s.state, s.created_ms, s.last_ms, s.operator, s.handoff_ms, s.message_count
FROM (SELECT 1 AS one) k
LEFT JOIN dedupe_keys d ON d.channel = :channel AND d.channel_message_id = :mid
LEFT JOIN opt_outs o ON o.channel = :channel AND o.remote = :r
LEFT JOIN (SELECT id, channel, remote, local, agent, state, created_ms, last_ms, operator, handoff_ms, message_count FROM sessions WHERE channel = :channel AND remote = :r AND local = :local AND (last_ms >= :since OR operator IS NOT NULL OR handoff_ms IS NOT NULL) AND closed_ms IS NULL
           ORDER BY last_ms DESC LIMIT 1) s ON 1 = 1;
\if :history
-- 3. the session's history, up to the bound (SQLStore.conversationHistorySQL)
--    (the gateway leaves it out when its history cache holds the session at the count just
--    read: a conversation it keeps answering; HISTORY=0 bench/postgres/run.sh leaves it out)
SELECT session_id, direction, body, created_ms, role, media FROM messages
WHERE session_id = (SELECT id FROM sessions WHERE channel = :channel AND remote = :r AND local = :local AND (last_ms >= :since OR operator IS NOT NULL OR handoff_ms IS NOT NULL) AND closed_ms IS NULL
                    ORDER BY last_ms DESC LIMIT 1)
ORDER BY id DESC LIMIT :depth;
\endif
\endpipeline
\startpipeline
-- 4. the group-commit unit: session, inbound message, dedupe key, reply (SQLStore.answeredTurnSQL)
BEGIN;
WITH s AS (UPDATE sessions SET last_ms = :now, message_count = message_count + 2, state = COALESCE(NULL, state)
           WHERE id = (SELECT id FROM sessions WHERE channel = :channel AND remote = :r AND local = :local AND (last_ms >= :since OR operator IS NOT NULL OR handoff_ms IS NOT NULL) AND closed_ms IS NULL
                       ORDER BY last_ms DESC LIMIT 1) RETURNING id),
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
\endpipeline
