import Foundation

/// Human takeover in the store (issue 13): who holds a session, an agent's request for a
/// human, operator messages through the outbox, closing. Every state lives in the
/// `sessions` row, so every gateway process on the same database sees it on the session's
/// next turn. Threading: thread-safe and blocking, like the rest of the store.
extension SQLStore {
    public enum HoldError: Error, Equatable, Sendable {
        case noSession
        case closed
        /// Held by another operator (named).
        case heldBy(String)
        /// Not under takeover (for messages and release).
        case notHeld
    }

    /// Puts the session in `operatorName`'s hands (idempotent for the same operator); clears
    /// a pending handoff request. Returns the session as it is now.
    public func takeOver(sessionId: Int64, operatorName: String, nowMs: Int64) throws -> Result<AdminSession, HoldError> {
        try pool.with { c in
            try c.transaction {
                guard let s = try c.one("SELECT \(Self.adminSessionColumns) FROM sessions WHERE id = ?", [.int(sessionId)]).map(Self.adminSession) else {
                    return .failure(.noSession)
                }
                if s.closedMs != nil { return .failure(.closed) }
                if let holder = s.operatorName, holder != operatorName { return .failure(.heldBy(holder)) }
                if s.operatorName == operatorName { return .success(s) }
                try c.query("UPDATE sessions SET operator = ?, taken_ms = ?, handoff_ms = NULL WHERE id = ?",
                            [.text(operatorName), .int(nowMs), .int(sessionId)])
                var now = s
                now.operatorName = operatorName; now.takenMs = nowMs; now.handoffMs = nil
                return .success(now)
            }
        }
    }

    /// Gives the session back to its agent (and clears a handoff request). Its last activity
    /// becomes now, so the user's next message stays in it and its agent sees the
    /// operator's messages in the history. `operatorName` nil: whoever holds it.
    public func release(sessionId: Int64, operatorName: String?, nowMs: Int64) throws -> Result<AdminSession, HoldError> {
        defer { historyCache?.invalidate(sessionId) }
        return try pool.with { c in
            try c.transaction {
                guard let s = try c.one("SELECT \(Self.adminSessionColumns) FROM sessions WHERE id = ?", [.int(sessionId)]).map(Self.adminSession) else {
                    return .failure(.noSession)
                }
                if s.closedMs != nil { return .failure(.closed) }
                guard s.operatorName != nil || s.handoffMs != nil else { return .failure(.notHeld) }
                if let holder = s.operatorName, let o = operatorName, holder != o { return .failure(.heldBy(holder)) }
                try c.query("UPDATE sessions SET operator = NULL, taken_ms = NULL, handoff_ms = NULL, last_ms = ? WHERE id = ?",
                            [.int(max(nowMs, s.lastMs)), .int(sessionId)])
                var now = s
                now.operatorName = nil; now.takenMs = nil; now.handoffMs = nil; now.lastMs = max(nowMs, s.lastMs)
                return .success(now)
            }
        }
    }

    /// Ends the session: the number's next message starts a new one. Releases a takeover.
    public func closeSession(sessionId: Int64, nowMs: Int64) throws -> Result<AdminSession, HoldError> {
        defer { historyCache?.invalidate(sessionId) }
        return try pool.with { c in
            try c.transaction {
                guard var s = try c.one("SELECT \(Self.adminSessionColumns) FROM sessions WHERE id = ?", [.int(sessionId)]).map(Self.adminSession) else {
                    return .failure(.noSession)
                }
                if s.closedMs != nil { return .failure(.closed) }
                try c.query("UPDATE sessions SET closed_ms = ?, operator = NULL, taken_ms = NULL, handoff_ms = NULL WHERE id = ?",
                            [.int(nowMs), .int(sessionId)])
                s.closedMs = nowMs; s.operatorName = nil; s.takenMs = nil; s.handoffMs = nil
                return .success(s)
            }
        }
    }

    /// An agent asked for a human: the session waits for an operator (no agent is called
    /// for it until an operator releases it). False if it is already held or gone.
    @discardableResult
    public func requestHandoff(sessionId: Int64, nowMs: Int64) throws -> Bool {
        try pool.with { c in
            !(try c.query("UPDATE sessions SET handoff_ms = ? WHERE id = ? AND operator IS NULL AND closed_ms IS NULL RETURNING id",
                          [.int(nowMs), .int(sessionId)]).isEmpty)
        }
    }

    /// A message to the session's number written by a person (`role` operator) or by the
    /// gateway for one (`role` system: the takeover notice), sent through the outbox: the
    /// transcript row and the outbox row are written together; `key` (the outbox message key,
    /// kept in the row's channel_message_id) makes a repeated request a no-op. Returns the
    /// message id and whether it was new.
    public func writeSessionMessage(_ s: AdminSession, text: String, role: String, author: String?, key: String,
                                    nowMs: Int64) throws -> (id: Int64, created: Bool) {
        defer { historyCache?.invalidate(s.id) }
        return try pool.with { c in
            try c.transaction {
                if let existing = try c.one("SELECT id FROM messages WHERE channel = ? AND channel_message_id = ? AND direction = 'out'",
                                            [.text(s.channel), .text(key)])?[0].int {
                    return (existing, false)
                }
                guard let id = try c.one("""
                    INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
                        processing_ms, created_ms, remote, local, role) VALUES (?, 'out', ?, 'queued', ?, ?, 1, ?, 0, ?, ?, ?, ?) RETURNING id
                    """, [.int(s.id), .text(text), .text(s.channel), .text(key), author.map { .text($0) } ?? .null, .int(nowMs),
                          .text(s.remote), .text(s.local), .text(role)])?[0].int else { throw StoreError("message insert returned nothing") }
                try c.query("""
                    INSERT INTO outbox (message_key, channel, to_number, from_number, body, correlation_id, state, attempts, next_ms, created_ms)
                    VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (message_key) DO NOTHING
                    """, [.text(key), .text(s.channel), .text(s.remote), .text(s.local), .text(text), .text(key), .int(nowMs), .int(nowMs)])
                try c.query("UPDATE sessions SET message_count = message_count + 1 WHERE id = ?", [.int(s.id)])
                return (id, true)
            }
        }
    }
}
