/// PostgreSQL's turn context when the history bound is known: one round trip for the lock
/// (if pending), the context and, unless the history cache is expected to answer, the
/// history up to the bound.
///
/// The cache (`HistoryCache`, versioned) saves the history statement for a conversation
/// this process keeps answering: its entry is checked against the session's
/// `message_count`, which the context read returns, so a message another process wrote
/// since (or a purge by another process's retention job, caught by the entries' age) is a
/// miss, never a stale history. A miss where the history was not sent with the context costs
/// a second round trip (the history by the session's id); a stale entry also marks the
/// conversation contested, so its turns read the history with the context again (two
/// gateways answering one conversation in turn pay no extra round trips).
///
/// Threading: runs on the turn's thread, holding the conversation (one turn per
/// conversation at a time), on `pg`, which it uses alone.
extension SQLStore {
    /// `conversation`: the conversation's key (`conversationKey`), the cache's key for it.
    func readPostgresContext(_ pg: PostgresConnection, _ contextParams: [SQLValue], channel: String, remote: String,
                             local: String, sinceMs: Int64, conversation: String, bound: Int,
                             historyDepth: (String) -> Int) throws -> TurnContext {
        let retention = retentionMs.load(ordering: .relaxed)
        let cache = retention > 0 ? historyCache : nil
        let expected = cache?.expectedSession(conversation: conversation)
        let generation = cache?.generation ?? 0
        var statements = [(Self.contextSQL, contextParams)]
        if expected == nil {
            statements.append((Self.conversationHistorySQL,
                               [.text(channel), .text(remote), .text(local), .int(sinceMs), .int(Int64(bound))]))
        }
        let sets = try pg.queries(statements)
        guard let r = sets[0].first else { throw StoreError("turn context query returned no row") }
        if let repeated = Self.repeated(r) { return repeated }
        let optedOut = !r[2].isNull
        guard !r[3].isNull else {
            cache?.forget(conversation: conversation)
            return TurnContext(dedupe: nil, optedOut: optedOut, session: nil, history: [])
        }
        let s = Self.session(Array(r[3...]))
        let count = r[Self.contextCountColumn].int ?? 0
        let limit = historyDepth(s.agent)
        let history: [HistoryEntry]
        if limit > bound {
            // Deeper than the bound (an agent added since it was set): read as asked, uncached.
            history = try Self.history(pg, sessionId: s.id, limit: limit)
        } else if sets.count > 1, sets[1].allSatisfy({ $0[0].int == s.id }) {
            // Read with the context (the same conditions, so the same session unless another
            // process began one in between): it fills the cache.
            let all = Self.historyEntries(sets[1].map { Array($0.dropFirst()) })
            cache?.fill(s.id, all, limit: bound, generation: generation, version: count, conversation: conversation)
            history = all.count <= limit ? all : Array(all.suffix(limit))
        } else if let cache, let expected, s.id == expected,
                  let cached = cache.get(s.id, limit: limit, version: count,
                                         notBeforeMs: Self.retentionCutoff(nowMs: nowMillis(), retentionMs: retention)) {
            history = cached
        } else {
            if let cache, let expected {
                if s.id == expected {
                    cache.contest(conversation: conversation, session: expected)   // another process wrote (or purged) it
                } else {
                    cache.invalidate(expected)   // another session began: the next turn reads and fills
                    cache.forget(conversation: conversation)
                }
            }
            history = try Self.history(pg, sessionId: s.id, limit: limit)
        }
        return TurnContext(dedupe: nil, optedOut: optedOut, session: s, history: history)
    }

    /// The oldest message time a cached history may hold: another process's retention job
    /// deletes messages older than its now − retention without counting them; a minute (or
    /// half the retention, if shorter) covers the two processes' clocks and the job's timing.
    static func retentionCutoff(nowMs: Int64, retentionMs: Int64) -> Int64 {
        nowMs - retentionMs + min(60_000, retentionMs / 2)
    }
}
