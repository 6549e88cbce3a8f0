import Foundation

/// Proactive messages (issue 14, item 2): a conversation started, or continued, from our
/// side. The message is written like an agent's reply — an outbound row of the session
/// (so the agent sees it in the history when the user answers) and its outbox row — in one
/// transaction. Threading: thread-safe and blocking, like the rest of the store.
extension SQLStore {
    /// What `writeProactive` wrote (or found already written under the same key).
    public struct ProactiveWrite: Sendable, Equatable {
        public var sessionId: Int64
        public var messageId: Int64
        /// False when a message with this key existed already (a repeated request).
        public var created: Bool
        /// True when the session was created by this message.
        public var newSession: Bool
    }

    /// Writes a proactive message to `remote` from `local` on `channel`: into session
    /// `sessionId` (its last activity becomes now), or a new session of `agent` when nil.
    /// `key` is the outbox message key (also kept as the row's channel_message_id): a second
    /// call with the same key writes nothing and returns the first message.
    public func writeProactive(channel: String, remote: String, local: String, agent: String, sessionId: Int64?,
                               text: String, media: String?, metadata: String? = nil, key: String, correlationId: String,
                               nowMs: Int64) throws -> ProactiveWrite {
        defer { if let sessionId { historyCache?.invalidate(sessionId) } }
        return try pool.with { c in
            try c.transaction {
                if let r = try c.one("SELECT id, session_id FROM messages WHERE channel = ? AND channel_message_id = ? AND direction = 'out'",
                                     [.text(channel), .text(key)]) {
                    return ProactiveWrite(sessionId: r[1].int ?? 0, messageId: r[0].int ?? 0, created: false, newSession: false)
                }
                let sid: Int64
                if let id = sessionId {
                    guard try c.one("UPDATE sessions SET last_ms = ?, message_count = message_count + 1 WHERE id = ? RETURNING id",
                                    [.int(nowMs), .int(id)]) != nil else { throw StoreError("session \(id) vanished") }
                    sid = id
                } else {
                    guard let id = try c.one("""
                        INSERT INTO sessions (channel, remote, local, agent, state, created_ms, last_ms, message_count)
                        VALUES (?, ?, ?, ?, '', ?, ?, 1) RETURNING id
                        """, [.text(channel), .text(remote), .text(local), .text(agent), .int(nowMs), .int(nowMs)])?[0].int
                    else { throw StoreError("session insert returned nothing") }
                    sid = id
                }
                guard let mid = try c.one("""
                    INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
                        processing_ms, created_ms, remote, local, media) VALUES (?, 'out', ?, 'queued', ?, ?, 1, ?, 0, ?, ?, ?, ?) RETURNING id
                    """, [.int(sid), .text(text), .text(channel), .text(key), .text(agent), .int(nowMs), .text(remote), .text(local),
                          Self.media(media)])?[0].int else { throw StoreError("message insert returned nothing") }
                try c.query("""
                    INSERT INTO outbox (message_key, channel, to_number, from_number, body, correlation_id, state, attempts, next_ms, created_ms,
                        media, metadata)
                    VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?) ON CONFLICT (message_key) DO NOTHING
                    """, [.text(key), .text(channel), .text(remote), .text(local), .text(text), .text(correlationId), .int(nowMs), .int(nowMs),
                          Self.media(media), Self.media(metadata)])
                return ProactiveWrite(sessionId: sid, messageId: mid, created: true, newSession: sessionId == nil)
            }
        }
    }

    /// True if any session (of any age) was handled by agent `name`: an agent no longer in
    /// the roster was removed, rather than never there. Uses the `sessions_agent` index.
    public func agentHasSessions(_ name: String) throws -> Bool {
        try pool.with { c in try c.one("SELECT 1 FROM sessions WHERE agent = ? LIMIT 1", [.text(name)]) != nil }
    }
}
