import Foundation
import Testing
@testable import Host

/// PostgreSQL's history cache (`HistoryCache`, versioned by the session's message count, in
/// `readPostgresContext`): a turn's history is what the database holds, whichever process
/// wrote it. Two `SQLStore`s on one database stand for two gateway processes.
@Suite(.serialized) struct PostgresHistoryCacheTests {
    private func pg() throws -> String {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        return try pg.newDatabase()
    }

    /// A store as the router sets it up: history bound and retention known.
    private func store(_ url: String, bound: Int = 6, retention: Double = 86_400) throws -> SQLStore {
        let s = try SQLStore(postgresURL: url, lockConnections: 2)
        s.setHistoryDepthBound(bound)
        s.setRetention(seconds: retention)
        return s
    }

    private final class Clock: @unchecked Sendable {   // one test's thread only
        var ms = nowMillis() - 10_000
        func next() -> Int64 { ms += 1; return ms }
    }

    private func context(_ s: SQLStore, depth: Int = 4, under lock: (any ConversationLock)? = nil) throws -> TurnContext {
        try s.turnContext(channel: "t", channelMessageId: "read-\(UUID())", remote: "+1", local: "+2", sinceMs: 0,
                          under: lock, historyDepth: { _ in depth })
    }

    /// What the database holds, read by a store without a history bound (no cache).
    private func truth(_ plain: SQLStore, _ session: Int64, depth: Int = 4) throws -> [String] {
        try plain.history(sessionId: session, limit: depth).map(\.text)
    }

    private func answered(_ s: SQLStore, session: Int64, _ n: String, _ clock: Clock) {
        let now = clock.next()
        let start = TurnStart(channel: "t", channelMessageId: n, remote: "+1", local: "+2", text: "q-\(n)", nowMs: now,
                              sessionId: session, newAgent: nil)
        let done = DispatchSemaphore(value: 0)
        s.writeAnsweredTurn(start, finish: {
            TurnFinish(sessionId: session, inboundMessageId: 0, channel: "t", channelMessageId: n, agent: "a", reply: "r-\(n)",
                       sessionState: nil, processingMs: 1, nowMs: now, outbox: nil)
        }, completion: { r in #expect((try? r.get()) != nil); done.signal() })
        done.wait()
    }

    /// A two-write turn (beginTurn, finishTurn): a new session when `session` is nil.
    @discardableResult
    private func newSession(_ s: SQLStore, _ n: String, _ clock: Clock, session: Int64? = nil) throws -> Int64 {
        let now = clock.next()
        let (rec, mid) = try s.beginTurn(TurnStart(channel: "t", channelMessageId: n, remote: "+1", local: "+2", text: "q-\(n)",
                                                   nowMs: now, sessionId: session, newAgent: session == nil ? "a" : nil))
        try s.finishTurn(TurnFinish(sessionId: rec.id, inboundMessageId: mid, channel: "t", channelMessageId: n, agent: "a",
                                    reply: "r-\(n)", sessionState: nil, processingMs: 1, nowMs: now, outbox: nil))
        return rec.id
    }

    /// Two gateway processes (`a`, `b`) and a store without cache that reads what is stored.
    private struct Processes {
        let a: SQLStore, b: SQLStore, plain: SQLStore
        func close() { a.close(); b.close(); plain.close() }
    }
    private func processes(retention: Double = 86_400) throws -> Processes {
        let url = try pg()
        return Processes(a: try store(url, retention: retention), b: try store(url, retention: retention),
                         plain: try SQLStore(postgresURL: url, lockConnections: 1))
    }

    /// A session of `a`'s whose history `a`'s cache holds (filled by a read, then one
    /// answered turn appended).
    private func cachedSession(_ p: Processes, _ clock: Clock) throws -> Int64 {
        let sid = try newSession(p.a, "m0", clock)
        _ = try context(p.a)
        answered(p.a, session: sid, "m1", clock)
        return sid
    }

    /// One process answering a conversation: after the first read, its turns' histories come
    /// from the cache (the history statement is not sent), and equal the database's.
    @Test func oneProcessReadsFromTheCache() throws {
        let p = try processes()
        defer { p.close() }
        let (a, plain) = (p.a, p.plain)
        let clock = Clock()
        let sid = try newSession(a, "m0", clock)
        for i in 1...8 {
            let lock = try a.lockConversationForTurn(conversationKey(channel: "t", remote: "+1", local: "+2"))   // as the router keys it
            let c = try context(a, under: lock)
            #expect(c.history.map(\.text) == (try truth(plain, sid)), "turn \(i)")
            answered(a, session: sid, "m\(i)", clock)
            lock.release()
        }
        let cache = try #require(a.historyCache)
        #expect(cache.counts.hits == 7)   // every read after the first
        #expect(try context(a, depth: 6).history.map(\.text) == (try truth(plain, sid, depth: 6)))
    }

    /// Another process's writes to the session (an answered turn, then a proactive message
    /// and a two-write turn) are in the next history this process reads, and the
    /// conversation is then read with its context, not from the cache.
    @Test func anotherProcessesWritesAreSeen() throws {
        let p = try processes()
        defer { p.close() }
        let clock = Clock()
        let sid = try cachedSession(p, clock)
        #expect(try context(p.a).history.map(\.text) == (try truth(p.plain, sid)))
        let hits = try #require(p.a.historyCache).counts.hits
        #expect(hits == 1)

        answered(p.b, session: sid, "b1", clock)   // the other process answers one
        let afterB = try context(p.a).history.map(\.text)
        #expect(afterB == (try truth(p.plain, sid)))
        #expect(afterB.last == "r-b1")
        #expect(p.a.historyCache?.counts.hits == hits)   // a miss, not the stale entry

        // Contested now: A's reads carry the history with the context and stay right.
        answered(p.a, session: sid, "m2", clock)
        _ = try p.b.writeProactive(channel: "t", remote: "+1", local: "+2", agent: "a", sessionId: sid, text: "proactive",
                                   media: nil, key: "p1", correlationId: "c1", nowMs: clock.next())
        let afterP = try context(p.a).history.map(\.text)
        #expect(afterP == (try truth(p.plain, sid)))
        #expect(afterP.last == "proactive")
        try newSession(p.b, "b2", clock, session: sid)
        #expect(try context(p.a).history.map(\.text) == (try truth(p.plain, sid)))
        #expect(p.a.historyCache?.counts.hits == hits)
    }

    /// A message written by another process while this one's entry is fresh, with no turn of
    /// its own in between (a proactive message; a two-write turn): the count moved, so the
    /// entry is not used.
    @Test(arguments: [false, true]) func aForeignMessageWithoutATurnIsSeen(twoWrites: Bool) throws {
        let p = try processes()
        defer { p.close() }
        let clock = Clock()
        let sid = try cachedSession(p, clock)
        if twoWrites {
            try newSession(p.b, "from b", clock, session: sid)
        } else {
            _ = try p.b.writeProactive(channel: "t", remote: "+1", local: "+2", agent: "a", sessionId: sid, text: "r-from b",
                                       media: nil, key: "p1", correlationId: "c1", nowMs: clock.next())
        }
        let h = try context(p.a).history.map(\.text)
        #expect(h == (try truth(p.plain, sid)))
        #expect(h.last == "r-from b")
    }

    /// Another process began a new session for the conversation: its history (the new
    /// session's) is read, not the old session's entry.
    @Test func aNewSessionElsewhereIsFollowed() throws {
        let p = try processes()
        defer { p.close() }
        let (a, b) = (p.a, p.b)
        let clock = Clock()
        let old = try cachedSession(p, clock)
        let new = try newSession(b, "n0", clock)
        #expect(new != old)
        let c = try context(a)
        #expect(c.session?.id == new)
        #expect(c.history.map(\.text) == ["q-n0", "r-n0"])
        // This process now follows the new session (and can cache it again).
        answered(a, session: new, "n1", clock)
        #expect(try context(a).history.map(\.text) == ["q-n0", "r-n0", "q-n1", "r-n1"])
        answered(a, session: new, "n2", clock)
        let hits = try #require(a.historyCache).counts.hits
        #expect(try context(a).history.map(\.text) == ["q-n1", "r-n1", "q-n2", "r-n2"])
        #expect(a.historyCache?.counts.hits == hits + 1)
    }

    /// Another process's retention job deletes old messages without counting them: an entry
    /// holding a message older than the retention cutoff is not used.
    @Test func anotherProcessesPurgeIsSeen() throws {
        let p = try processes(retention: 60)
        defer { p.close() }
        let (a, b, plain) = (p.a, p.b, p.plain)
        let clock = Clock()
        clock.ms = nowMillis() - 50_000      // older than the cutoff (now − 60 s + 30 s)
        let sid = try newSession(a, "old", clock)
        clock.ms = nowMillis() - 1_000
        _ = try context(a)
        answered(a, session: sid, "m1", clock)
        _ = try b.purge(beforeMs: nowMillis() - 40_000)   // the other process's job
        let h = try context(a).history.map(\.text)
        #expect(h == (try truth(plain, sid)))
        #expect(h == ["q-m1", "r-m1"])
    }

    /// Without the retention (the router has not set it), nothing is cached: every read goes
    /// to the database.
    @Test func noRetentionNoCache() throws {
        let url = try pg()
        let a = try SQLStore(postgresURL: url, lockConnections: 1)
        defer { a.close() }
        a.setHistoryDepthBound(4)
        let clock = Clock()
        let sid = try newSession(a, "m0", clock)
        for i in 1...3 {
            _ = try context(a)
            answered(a, session: sid, "m\(i)", clock)
        }
        #expect(a.historyCache?.counts.hits == 0)
        #expect(try context(a).history.map(\.text) == ["q-m2", "r-m2", "q-m3", "r-m3"])
    }
}
