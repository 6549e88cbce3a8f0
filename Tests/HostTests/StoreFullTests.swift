import Foundation
import Testing
@testable import Host

/// A full disk: the operator must read "database or disk is full" in the log, not the
/// failed rollback after it, and the store must take writes again once there is room.
@Suite struct StoreFullTests {
    @Test func aFullDatabaseReportsItselfNotTheRollback() throws {
        let path = TestSupport.tempDir() + "/ds.sqlite"
        let store = try SQLStore(sqlitePath: path)
        defer { store.close() }
        let pages = try store.pool.with { try $0.one("PRAGMA page_count", [])?[0].int } ?? 0
        // SQLite's own cap stands in for a full disk: writes past it fail with SQLITE_FULL.
        try store.pool.with { try $0.execute("PRAGMA max_page_count = \(pages + 4)") }
        let body = String(repeating: "x", count: 3000)
        var errors: [String] = []
        for i in 0..<200 {
            do {
                let (s, mid) = try store.beginTurn(TurnStart(channel: "t", channelMessageId: "m\(i)", remote: "+1\(i)", local: "+2", text: body,
                                                             nowMs: 1000, sessionId: nil, newAgent: "a"))
                try store.finishTurn(TurnFinish(sessionId: s.id, inboundMessageId: mid, channel: "t", channelMessageId: "m\(i)", agent: "a",
                                                reply: body, sessionState: nil, processingMs: 1, nowMs: 1001, outbox: nil))
            } catch {
                errors.append("\(error)")
            }
        }
        try #require(!errors.isEmpty, "the cap was not reached")
        #expect(errors.allSatisfy { $0.contains("full") }, "\(Set(errors))")
        #expect(!errors.contains { $0.contains("cannot rollback") }, "\(Set(errors))")
        // Room again: writes go through.
        try store.pool.with { try $0.execute("PRAGMA max_page_count = 1000000") }
        let (s, mid) = try store.beginTurn(TurnStart(channel: "t", channelMessageId: "again", remote: "+9", local: "+2", text: "hi",
                                                     nowMs: 2000, sessionId: nil, newAgent: "a"))
        try store.finishTurn(TurnFinish(sessionId: s.id, inboundMessageId: mid, channel: "t", channelMessageId: "again", agent: "a",
                                        reply: "yes", sessionState: nil, processingMs: 1, nowMs: 2001, outbox: nil))
        #expect(try store.dedupe(channel: "t", channelMessageId: "again") == .replied("yes"))
    }
}
