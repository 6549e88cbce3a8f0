import Foundation

/// What `forget` erased: counts per kind, and the correlation ids of the erased messages
/// (the caller drops spooled events that carry them; they are not kept anywhere else).
public struct ForgetResult: Sendable, Equatable {
    public var messages = 0
    public var sessions = 0
    public var dedupeKeys = 0
    public var outbox = 0
    public var optOuts = 0
    public var failovers = 0
    /// Usage ledger rows of the erased messages: kept for billing (account, kind, quantity,
    /// period), with their correlation id and idempotency key replaced by `erased`.
    public var usageDetached = 0
    public var correlationIds: [String] = []
}

/// Erasure of one phone number (`darkspere forget`, POST /api/v1/forget): its messages in
/// either direction, its sessions and their failovers, the dedupe keys of its messages (with
/// their stored replies), its outbox rows, its opt-out entries; the usage ledger keeps its
/// quantities (aggregated counts and billing are unchanged) but loses the link to the
/// messages. On SQLite the statements run with `secure_delete` (freed pages are zeroed) and
/// the WAL is checkpointed and truncated afterwards, so the bytes leave the files.
/// Threading: like every store call, synchronous; runs on the caller's thread.
extension SQLStore {
    public func forget(number: String) throws -> ForgetResult {
        try withConnection { c in
            let sqlite = c.dialect == .sqlite
            if sqlite { try c.execute("PRAGMA secure_delete=ON") }
            defer { if sqlite { try? c.execute("PRAGMA secure_delete=OFF") } }
            let result = try c.transaction { () throws -> ForgetResult in
                var r = ForgetResult()
                let n: [SQLValue] = [.text(number)]
                let sessions = "SELECT id FROM sessions WHERE remote = ?"
                let messages = "SELECT id FROM messages WHERE remote = ? OR session_id IN (\(sessions))"
                let cids = try c.query("""
                    SELECT DISTINCT channel, channel_message_id FROM messages
                    WHERE (remote = ? OR session_id IN (\(sessions))) AND channel_message_id IS NOT NULL
                    """, n + n)
                r.correlationIds = cids.compactMap { row in
                    guard let ch = row[0].text, let id = row[1].text else { return nil }
                    return "\(ch):\(id)"
                }
                func count(_ sql: String, _ p: [SQLValue]) throws -> Int { Int(try c.one(sql, p)?[0].int ?? 0) }
                r.dedupeKeys = try count("""
                    SELECT COUNT(*) FROM dedupe_keys WHERE message_id IN (\(messages))
                    OR EXISTS (SELECT 1 FROM messages m WHERE (m.remote = ? OR m.session_id IN (\(sessions)))
                               AND m.channel = dedupe_keys.channel AND m.channel_message_id = dedupe_keys.channel_message_id)
                    """, n + n + n + n)
                try c.query("""
                    DELETE FROM dedupe_keys WHERE message_id IN (\(messages))
                    OR EXISTS (SELECT 1 FROM messages m WHERE (m.remote = ? OR m.session_id IN (\(sessions)))
                               AND m.channel = dedupe_keys.channel AND m.channel_message_id = dedupe_keys.channel_message_id)
                    """, n + n + n + n)
                for cid in r.correlationIds {
                    r.usageDetached += try count("SELECT COUNT(*) FROM usage_events WHERE correlation_id = ?", [.text(cid)])
                    try c.query("UPDATE usage_events SET correlation_id = 'erased', idempotency_key = 'erased:' || id WHERE correlation_id = ?",
                                [.text(cid)])
                }
                r.failovers = try count("SELECT COUNT(*) FROM failovers WHERE session_id IN (\(sessions))", n)
                try c.query("DELETE FROM failovers WHERE session_id IN (\(sessions))", n)
                r.messages = try count("SELECT COUNT(*) FROM messages WHERE remote = ? OR session_id IN (\(sessions))", n + n)
                try c.query("DELETE FROM messages WHERE remote = ? OR session_id IN (\(sessions))", n + n)
                r.sessions = try count("SELECT COUNT(*) FROM sessions WHERE remote = ?", n)
                try c.query("DELETE FROM sessions WHERE remote = ?", n)
                r.outbox = try count("SELECT COUNT(*) FROM outbox WHERE to_number = ?", n)
                try c.query("DELETE FROM outbox WHERE to_number = ?", n)
                r.optOuts = try count("SELECT COUNT(*) FROM opt_outs WHERE remote = ?", n)
                try c.query("DELETE FROM opt_outs WHERE remote = ?", n)
                return r
            }
            // The erased rows' old versions are still frames of the WAL: copy the zeroed pages
            // into the database and truncate the WAL.
            if sqlite { try? c.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
            return result
        }
    }
}
