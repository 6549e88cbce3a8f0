-- The seed-style database for the Python benchmark peer (bench/seed/app.py): tables and
-- PL/pgSQL functions written for this benchmark after the behaviour the seed describes
-- (phone -> active session within 30 minutes, else a new session on an active agent; the
-- last 20 messages as JSONB, oldest first; advisory locks around session state).
-- Not the product's schema: the gateway keeps its own store.
--
-- One message costs the app two calls, each its own (autocommit) transaction:
--   get_or_create_session(phone, message_sid)  read-only for a continuing conversation;
--                                              answers a retried MessageSid from the store
--   record_turn(session, message_sid, body, reply, ms)
--                                              inbound + reply rows and the session's
--                                              last_interaction_at, committed (durable)
--                                              before the app answers the webhook

CREATE TABLE agent_registry (
    agent_id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_name       text NOT NULL UNIQUE,
    status           text NOT NULL DEFAULT 'active',       -- active | draining | offline
    current_sessions integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_sessions (
    session_id          uuid PRIMARY KEY,
    phone_number        text NOT NULL,
    agent_id            uuid NOT NULL REFERENCES agent_registry (agent_id),
    status              text NOT NULL DEFAULT 'active',    -- active | closed
    session_hash        text NOT NULL,
    message_count       integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_interaction_at timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- phone -> its most recent active session
CREATE INDEX agent_sessions_phone_active
    ON agent_sessions (phone_number, last_interaction_at DESC) WHERE status = 'active';

CREATE TABLE message_history (
    message_id         bigserial PRIMARY KEY,
    session_id         uuid NOT NULL REFERENCES agent_sessions (session_id),
    direction          text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    message_sid        text NOT NULL,       -- Twilio's MessageSid of the inbound message;
                                            -- the reply row carries the sid it answers
    message_body       text NOT NULL,
    status             text NOT NULL,       -- received | replied_inline
    processing_time_ms integer,
    sent_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- dedupe: one inbound row and one reply per MessageSid
    CONSTRAINT message_history_sid_unique UNIQUE (message_sid, direction)
);
CREATE INDEX message_history_session_recent ON message_history (session_id, message_id DESC);

-- The one echo agent the app runs in-process.
INSERT INTO agent_registry (agent_name, status) VALUES ('echo', 'active');

-- The last p_limit messages of a session, oldest first, as a JSONB array of
-- {role, content, timestamp, metadata: {message_id, delivery_status, processing_time_ms}}.
CREATE FUNCTION get_conversation_history(p_session_id uuid, p_limit integer DEFAULT 20)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_rows jsonb;
BEGIN
    SELECT jsonb_agg(jsonb_build_object(
               'role',      CASE m.direction WHEN 'inbound' THEN 'user' ELSE 'assistant' END,
               'content',   m.message_body,
               'timestamp', m.sent_at,
               'metadata',  jsonb_build_object('message_id', m.message_id,
                                               'delivery_status', m.status,
                                               'processing_time_ms', m.processing_time_ms))
           ORDER BY m.message_id)
      INTO v_rows
      FROM (SELECT * FROM message_history
             WHERE session_id = p_session_id
             ORDER BY message_id DESC
             LIMIT p_limit) AS m;
    RETURN coalesce(v_rows, '[]'::jsonb);
END;
$$;

-- Phone -> session. A session that is active and was used in the last 30 minutes continues
-- (sticky: the same agent); otherwise an active agent is picked (fewest current sessions)
-- and a new session is inserted, under an advisory lock on the phone so two first messages
-- of one sender cannot open two sessions. Returns the session, its agent and the last 20
-- messages (oldest first).
--
-- p_message_sid (optional): when that MessageSid already has a stored reply (a retried
-- webhook), prior_reply carries it and nothing else is done: the caller answers with it and
-- runs no second turn.
CREATE FUNCTION get_or_create_session(p_phone text, p_message_sid text DEFAULT NULL)
RETURNS TABLE (session_id uuid, agent_id uuid, history jsonb, prior_reply text)
LANGUAGE plpgsql AS $$
DECLARE
    v_session uuid;
    v_agent   uuid;
    v_reply   text;
BEGIN
    IF p_message_sid IS NOT NULL THEN
        SELECT m.session_id, m.message_body INTO v_session, v_reply
          FROM message_history m
         WHERE m.message_sid = p_message_sid AND m.direction = 'outbound';
        IF FOUND THEN
            SELECT s.agent_id INTO v_agent FROM agent_sessions s WHERE s.session_id = v_session;
            RETURN QUERY SELECT v_session, v_agent, '[]'::jsonb, v_reply;
            RETURN;
        END IF;
    END IF;

    FOR attempt IN 1..2 LOOP
        SELECT s.session_id, s.agent_id INTO v_session, v_agent
          FROM agent_sessions s
         WHERE s.phone_number = p_phone
           AND s.status = 'active'
           AND s.last_interaction_at > now() - interval '30 minutes'
         ORDER BY s.last_interaction_at DESC
         LIMIT 1;
        EXIT WHEN FOUND OR attempt = 2;
        -- none: serialise the creation per phone, then look again (another transaction may
        -- have created it while this one waited for the lock)
        PERFORM pg_advisory_xact_lock(hashtext('session:' || p_phone));
    END LOOP;

    IF v_session IS NULL THEN
        SELECT a.agent_id INTO v_agent
          FROM agent_registry a
         WHERE a.status = 'active'
         ORDER BY a.current_sessions, a.created_at
         LIMIT 1;
        IF v_agent IS NULL THEN
            RAISE EXCEPTION 'no active agent';
        END IF;
        v_session := gen_random_uuid();
        INSERT INTO agent_sessions (session_id, phone_number, agent_id, session_hash)
        VALUES (v_session, p_phone, v_agent,
                encode(sha256(convert_to(p_phone || ':' || v_agent::text || ':' || clock_timestamp()::text
                                         || ':' || v_session::text, 'UTF8')), 'hex'));
        -- the agents' session counters are updated under their own lock (seed: advisory
        -- locks for session state); counted per new session, not per message
        PERFORM pg_advisory_xact_lock(hashtext('agent:' || v_agent::text));
        UPDATE agent_registry SET current_sessions = current_sessions + 1 WHERE agent_registry.agent_id = v_agent;
    END IF;

    RETURN QUERY SELECT v_session, v_agent, get_conversation_history(v_session, 20), NULL::text;
END;
$$;

-- One turn, durably and in one call: the inbound message and the agent's reply as two rows,
-- and the session's last_interaction_at / message_count. Returns the reply to answer with
-- and whether the MessageSid had been recorded before (a retry that raced its original past
-- get_or_create_session): then the stored reply is returned and nothing is written.
CREATE FUNCTION record_turn(p_session_id uuid, p_message_sid text, p_body text, p_reply text,
                            p_processing_ms integer DEFAULT NULL)
RETURNS TABLE (reply text, duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_stored text;
BEGIN
    INSERT INTO message_history (session_id, direction, message_sid, message_body, status)
    VALUES (p_session_id, 'inbound', p_message_sid, p_body, 'received')
    ON CONFLICT ON CONSTRAINT message_history_sid_unique DO NOTHING
    RETURNING message_id INTO v_id;

    IF v_id IS NULL THEN
        -- the original's transaction has committed (the conflict waited for it): its reply is there
        SELECT m.message_body INTO v_stored
          FROM message_history m
         WHERE m.message_sid = p_message_sid AND m.direction = 'outbound';
        RETURN QUERY SELECT v_stored, true;
        RETURN;
    END IF;

    INSERT INTO message_history (session_id, direction, message_sid, message_body, status, processing_time_ms)
    VALUES (p_session_id, 'outbound', p_message_sid, p_reply, 'replied_inline', p_processing_ms);

    UPDATE agent_sessions
       SET last_interaction_at = now(), message_count = message_count + 2, updated_at = now()
     WHERE agent_sessions.session_id = p_session_id;

    RETURN QUERY SELECT p_reply, false;
END;
$$;

-- Session state change under a per-session advisory lock (the seed's pattern); not on the
-- message path, kept so the schema is the seed's shape.
CREATE FUNCTION update_session_state(p_session_id uuid, p_status text)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('session-state:' || p_session_id::text));
    UPDATE agent_sessions
       SET status = p_status, updated_at = now()
     WHERE session_id = p_session_id AND status <> p_status;
    RETURN FOUND;
END;
$$;
