import CSQLite
import Foundation
import Testing
@testable import Host

/// SQLite's history cache (`HistoryCache` in `SQLStore`): a turn's history read through the
/// cache is what the database holds, whatever wrote the session's messages.
@Suite struct HistoryCacheTests {
    private func context(_ s: SQLStore, _ id: String, depth: Int) throws -> [HistoryEntry] {
        try s.turnContext(channel: "t", channelMessageId: id, remote: "+1", local: "+2", sinceMs: 0,
                          historyDepth: { _ in depth }).history
    }

    private func answered(_ s: SQLStore, session: Int64, id: String, text: String, reply: String, at ms: Int64) async throws {
        let start = TurnStart(channel: "t", channelMessageId: id, remote: "+1", local: "+2", text: text, nowMs: ms,
                              sessionId: session, newAgent: nil)
        let r: Result<Void, any Error> = await withCheckedContinuation { c in
            s.writeAnsweredTurn(start, finish: {
                TurnFinish(sessionId: session, inboundMessageId: 0, channel: "t", channelMessageId: id, agent: "a", reply: reply,
                           sessionState: nil, processingMs: 1, nowMs: ms + 1, outbox: nil)
            }, completion: { c.resume(returning: $0) })
        }
        try r.get()
    }

    private func twoWrites(_ s: SQLStore, session: Int64?, id: String, text: String, reply: String, at ms: Int64) throws -> Int64 {
        let (rec, mid) = try s.beginTurn(TurnStart(channel: "t", channelMessageId: id, remote: "+1", local: "+2", text: text, nowMs: ms,
                                                   sessionId: session, newAgent: session == nil ? "a" : nil))
        try s.finishTurn(TurnFinish(sessionId: rec.id, inboundMessageId: mid, channel: "t", channelMessageId: id, agent: "a",
                                    reply: reply, sessionState: nil, processingMs: 1, nowMs: ms + 1, outbox: nil))
        return rec.id
    }

    @Test func historyThroughTheCacheIsTheDatabases() async throws {
        let dir = TestEnv.tempDir("history-cache")
        let path = "\(dir)/ds.sqlite"
        var store = try SQLStore(sqlitePath: path)
        let cache = try #require(store.historyCache)
        let sid = try twoWrites(store, session: nil, id: "m0", text: "hi 0", reply: "re 0", at: 1000)
        var ms: Int64 = 1010
        // One-unit turns: filled once, then appended after each commit.
        for i in 1...6 {
            #expect(try context(store, "m\(i)", depth: 4) == store.history(sessionId: sid, limit: 4))
            try await answered(store, session: sid, id: "m\(i)", text: "hi \(i)", reply: "re \(i)", at: ms)
            ms += 10
        }
        #expect(cache.counts.hits >= 5)
        // Deeper and shallower than cached.
        #expect(try context(store, "x1", depth: 10) == store.history(sessionId: sid, limit: 10))
        #expect(try context(store, "x2", depth: 2) == store.history(sessionId: sid, limit: 2))
        #expect(try context(store, "x3", depth: 40) == store.history(sessionId: sid, limit: 40))
        #expect(try context(store, "x3", depth: 40).count == 14)
        // A two-write turn (the path of new sessions, failovers and asynchronous agents).
        _ = try twoWrites(store, session: sid, id: "m7", text: "hi 7", reply: "re 7", at: ms); ms += 10
        #expect(try context(store, "x4", depth: 4) == store.history(sessionId: sid, limit: 4))
        #expect(try context(store, "x4", depth: 4).last?.text == "re 7")
        // Failover keeps the history.
        try store.failover(sessionId: sid, from: "a", to: "b", reason: "test", nowMs: ms)
        try await answered(store, session: sid, id: "m8", text: "hi 8", reply: "re 8", at: ms); ms += 10
        #expect(try context(store, "x5", depth: 4) == store.history(sessionId: sid, limit: 4))
        #expect(try context(store, "x5", depth: 4).last?.text == "re 8")
        // A failed unit (the session is gone) leaves nothing behind.
        await #expect(throws: (any Error).self) {
            try await answered(store, session: sid + 1000, id: "bad", text: "x", reply: "y", at: ms)
        }
        // Retention purge of the oldest messages.
        _ = try store.purge(beforeMs: 1035)
        #expect(try context(store, "x6", depth: 40) == store.history(sessionId: sid, limit: 40))
        #expect(try context(store, "x6", depth: 40).first?.text == "hi 4")
        // Restart: a new store on the same file starts empty and reads the database.
        store.close()
        store = try SQLStore(sqlitePath: path)
        #expect(try context(store, "x7", depth: 6) == store.history(sessionId: sid, limit: 6))
        try await answered(store, session: sid, id: "m9", text: "hi 9", reply: "re 9", at: ms); ms += 10
        #expect(try context(store, "x8", depth: 6) == store.history(sessionId: sid, limit: 6))
        #expect(try context(store, "x8", depth: 6).suffix(2).map(\.text) == ["hi 9", "re 9"])
        store.close()
    }

    /// SQLite's global memory statistics (one process-wide mutex per allocation) are off.
    @Test func sqliteRunsWithoutGlobalMemoryStatistics() throws {
        #if os(Linux)
        let store = try SQLStore(sqlitePath: "\(TestEnv.tempDir("memstatus"))/ds.sqlite")
        defer { store.close() }
        _ = try store.activeSession(channel: "t", remote: "+1", local: "+2", sinceMs: 0)
        #expect(sqlite3_memory_used() == 0)
        #endif
    }

    @Test func cacheStaysBoundedAndIgnoresFillsFromBeforeAClear() {
        let c = HistoryCache(maxSessions: 48)   // 3 per shard; ids 1, 17, 33, 49 share one
        let e = [HistoryEntry(role: "user", text: "a", timeMs: 1)]
        for id in [1, 17, 33, 2] { c.fill(Int64(id), e, limit: 5, generation: c.generation) }
        c.fill(49, e, limit: 5, generation: c.generation)   // over the shard's bound: it starts over
        #expect(c.get(1, limit: 5) == nil)
        #expect(c.get(33, limit: 5) == nil)
        #expect(c.get(49, limit: 5) == e)
        #expect(c.get(2, limit: 5) == e)   // another shard: kept
        let g = c.generation
        c.clear()
        c.fill(5, e, limit: 5, generation: g)   // read before the clear: dropped
        #expect(c.get(5, limit: 5) == nil)
        // Appends past the cap drop the oldest; then only a full window is answered.
        c.fill(6, e, limit: 2, generation: c.generation)
        c.append(6, [HistoryEntry(role: "assistant", text: "b", timeMs: 2), HistoryEntry(role: "user", text: "c", timeMs: 3)])
        #expect(c.get(6, limit: 2)?.map(\.text) == ["b", "c"])
        #expect(c.get(6, limit: 3) == nil)
    }
}
