import Foundation

/// The store's schema, as numbered migrations applied in order at start-up and recorded
/// in `schema_migrations`. Never edit a released migration: add the next one.
enum StoreMigrations {
    /// `{ID}` becomes the dialect's auto-increment primary key.
    static let all: [(version: Int, sql: [String])] = [
        (1, [
            """
            CREATE TABLE agents (name TEXT PRIMARY KEY, transport TEXT NOT NULL, max_sessions INTEGER NOT NULL,
                history_depth INTEGER, updated_ms BIGINT NOT NULL)
            """,
            """
            CREATE TABLE sessions (id {ID}, channel TEXT NOT NULL, remote TEXT NOT NULL, local TEXT NOT NULL,
                agent TEXT NOT NULL, state TEXT NOT NULL DEFAULT '', created_ms BIGINT NOT NULL, last_ms BIGINT NOT NULL,
                message_count INTEGER NOT NULL DEFAULT 0)
            """,
            "CREATE INDEX sessions_key ON sessions (channel, remote, local, last_ms)",
            "CREATE INDEX sessions_agent ON sessions (agent, last_ms)",
            """
            CREATE TABLE messages (id {ID}, session_id BIGINT, direction TEXT NOT NULL, body TEXT NOT NULL,
                status TEXT NOT NULL, channel TEXT NOT NULL, channel_message_id TEXT, segments INTEGER NOT NULL DEFAULT 1,
                agent TEXT, processing_ms BIGINT, created_ms BIGINT NOT NULL, remote TEXT NOT NULL, local TEXT NOT NULL)
            """,
            "CREATE INDEX messages_session ON messages (session_id, id)",
            "CREATE INDEX messages_created ON messages (created_ms)",
            """
            CREATE TABLE failovers (id {ID}, session_id BIGINT NOT NULL, old_agent TEXT NOT NULL, new_agent TEXT NOT NULL,
                reason TEXT NOT NULL, created_ms BIGINT NOT NULL)
            """,
            """
            CREATE TABLE opt_outs (channel TEXT NOT NULL, remote TEXT NOT NULL, keyword TEXT NOT NULL,
                created_ms BIGINT NOT NULL, PRIMARY KEY (channel, remote))
            """,
            """
            CREATE TABLE dedupe_keys (channel TEXT NOT NULL, channel_message_id TEXT NOT NULL, message_id BIGINT,
                reply TEXT, created_ms BIGINT NOT NULL, PRIMARY KEY (channel, channel_message_id))
            """,
            "CREATE INDEX dedupe_created ON dedupe_keys (created_ms)",
            """
            CREATE TABLE outbox (id {ID}, message_key TEXT NOT NULL UNIQUE, channel TEXT NOT NULL, to_number TEXT NOT NULL,
                from_number TEXT NOT NULL, body TEXT NOT NULL, correlation_id TEXT NOT NULL, state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0, next_ms BIGINT NOT NULL, lease_until_ms BIGINT NOT NULL DEFAULT 0,
                provider_id TEXT, last_error TEXT, created_ms BIGINT NOT NULL, sent_ms BIGINT)
            """,
            "CREATE INDEX outbox_due ON outbox (state, next_ms)",
            """
            CREATE TABLE usage_events (id {ID}, account_id TEXT NOT NULL, kind TEXT NOT NULL, quantity BIGINT NOT NULL,
                idempotency_key TEXT NOT NULL UNIQUE, correlation_id TEXT NOT NULL, state TEXT NOT NULL,
                created_ms BIGINT NOT NULL)
            """,
        ]),
        (2, [
            // Delivery reports of deferred sends (channel status callbacks).
            "ALTER TABLE outbox ADD COLUMN delivery_status TEXT",
            "ALTER TABLE outbox ADD COLUMN delivery_error_code INTEGER",
            "CREATE INDEX outbox_provider ON outbox (channel, provider_id)",
        ]),
        (3, [
            // Billing (issue 7). The ledger (usage_events, from migration 1) gains its period and
            // the report that carried it to the billing provider.
            "ALTER TABLE usage_events ADD COLUMN period TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE usage_events ADD COLUMN report_id BIGINT",
            "CREATE INDEX usage_events_unsealed ON usage_events (state, report_id, created_ms)",
            "CREATE INDEX usage_events_report ON usage_events (report_id)",
            // Per account, period ("2026-11", or "minute:<epoch minute>" for the rate) and kind:
            // the ledger's running totals, changed only together with the ledger.
            """
            CREATE TABLE usage_counters (account_id TEXT NOT NULL, period TEXT NOT NULL, kind TEXT NOT NULL,
                count BIGINT NOT NULL, PRIMARY KEY (account_id, period, kind))
            """,
            // Usage summed per account, kind and interval, fixed once made: its identifier is the
            // billing provider's idempotency key on every attempt, before and after a restart.
            """
            CREATE TABLE usage_reports (id {ID}, account_id TEXT NOT NULL, kind TEXT NOT NULL, bucket_ms BIGINT NOT NULL,
                quantity BIGINT NOT NULL, identifier TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                next_ms BIGINT NOT NULL DEFAULT 0, lease_until_ms BIGINT NOT NULL DEFAULT 0, last_error TEXT,
                created_ms BIGINT NOT NULL, reported_ms BIGINT)
            """,
            "CREATE INDEX usage_reports_due ON usage_reports (state, next_ms)",
            // Tier and status set by the billing provider (webhooks); they override accounts: in plugins.yaml.
            """
            CREATE TABLE account_state (account_id TEXT PRIMARY KEY, tier TEXT, status TEXT, updated_ms BIGINT NOT NULL)
            """,
        ]),
        (4, [
            // Operator surface (issue 13). Session pages newest activity first, and by number.
            "CREATE INDEX sessions_last ON sessions (last_ms, id)",
            "CREATE INDEX sessions_remote ON sessions (remote)",
            // Takeover: the operator holding the session, when; an agent's request for a human;
            // an operator's close (the next message starts a new session).
            "ALTER TABLE sessions ADD COLUMN operator TEXT",
            "ALTER TABLE sessions ADD COLUMN taken_ms BIGINT",
            "ALTER TABLE sessions ADD COLUMN handoff_ms BIGINT",
            "ALTER TABLE sessions ADD COLUMN closed_ms BIGINT",
            "CREATE INDEX sessions_operator ON sessions (last_ms) WHERE operator IS NOT NULL",
            "CREATE INDEX sessions_handoff ON sessions (last_ms) WHERE handoff_ms IS NOT NULL",
            // Who wrote an outbound message when it was not the agent ('operator'); NULL = derived.
            "ALTER TABLE messages ADD COLUMN role TEXT",
            // Messages handled outside a session (compliance, opted out, no agent), found by number.
            "CREATE INDEX messages_unsessioned ON messages (remote, created_ms) WHERE session_id IS NULL",
            // Agents: operator state (active / draining / disabled), runtime registrations
            // (source 'runtime': transport config and account kept here), heartbeats.
            "ALTER TABLE agents ADD COLUMN state TEXT NOT NULL DEFAULT 'active'",
            "ALTER TABLE agents ADD COLUMN source TEXT NOT NULL DEFAULT 'config'",
            "ALTER TABLE agents ADD COLUMN config TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE agents ADD COLUMN account TEXT",
            "ALTER TABLE agents ADD COLUMN heartbeat_ms BIGINT",
            "ALTER TABLE agents ADD COLUMN last_beat_ms BIGINT",
            // Agent API keys: only a hash of the key is kept.
            """
            CREATE TABLE agent_keys (id {ID}, agent TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, created_ms BIGINT NOT NULL,
                revoked_ms BIGINT)
            """,
        ]),
        (5, [
            // Abuse and cost control (issue 15). Rate and spam counters per scope ('rate_sender',
            // 'rate_account', 'rate_global', 'burst', 'repeat'), key and window start; `replied`:
            // the refusal reply of that window was sent (at most one per window).
            """
            CREATE TABLE abuse_counters (scope TEXT NOT NULL, key TEXT NOT NULL, window_ms BIGINT NOT NULL,
                count BIGINT NOT NULL, replied INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (scope, key, window_ms))
            """,
            "CREATE INDEX abuse_counters_window ON abuse_counters (window_ms)",
            // Allow and block rules by number, prefix or country calling code.
            """
            CREATE TABLE access_rules (id {ID}, list TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
                note TEXT NOT NULL DEFAULT '', created_by TEXT NOT NULL DEFAULT '', created_ms BIGINT NOT NULL,
                UNIQUE (list, kind, value))
            """,
            // Known-users mode: the numbers that may reach an agent.
            """
            CREATE TABLE known_users (number TEXT PRIMARY KEY, display_name TEXT NOT NULL DEFAULT '', account TEXT,
                created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL)
            """,
            // One row: bumped with every change of access_rules or known_users (caches poll it).
            "CREATE TABLE abuse_version (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)",
            "INSERT INTO abuse_version (id, version) VALUES (1, 0)",
        ]),
        (6, [
            // Media (ABI 1.2, issue 14): a message's attachments and a deferred send's, as a
            // JSON array [{"url", "content_type"}]; NULL = none.
            "ALTER TABLE messages ADD COLUMN media TEXT",
            "ALTER TABLE outbox ADD COLUMN media TEXT",
            // Extras for the channel's send (ds_outbound_message.metadata): the agent, a template.
            "ALTER TABLE outbox ADD COLUMN metadata TEXT",
        ]),
    ]

    static func sql(_ s: String, _ d: SQLDialect) -> String {
        s.replacingOccurrences(of: "{ID}", with: d == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY")
    }

    /// Applies the missing migrations. On PostgreSQL an advisory lock keeps two processes
    /// starting at once from applying the same migration twice.
    static func apply(_ c: any SQLConnection) throws {
        if c.dialect == .postgres { try c.execute("SELECT pg_advisory_lock(7242001)") }
        defer { if c.dialect == .postgres { try? c.execute("SELECT pg_advisory_unlock(7242001)") } }
        try c.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)")
        let done = Set(try c.query("SELECT version FROM schema_migrations", []).compactMap { $0[0].int })
        for m in all where !done.contains(Int64(m.version)) {
            try c.transaction {
                for s in m.sql { try c.execute(sql(s, c.dialect)) }
                try c.query("INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)",
                            [.int(Int64(m.version)), .int(nowMillis())])
            }
        }
    }
}

/// Unix epoch milliseconds.
@inline(__always) func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
