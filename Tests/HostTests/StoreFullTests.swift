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
                try store.answerTurn(id: "m\(i)", remote: "+1\(i)", text: body, reply: body)
            } catch {
                errors.append("\(error)")
            }
        }
        try #require(!errors.isEmpty, "the cap was not reached")
        #expect(errors.allSatisfy { $0.contains("full") }, "\(Set(errors))")
        #expect(!errors.contains { $0.contains("cannot rollback") }, "\(Set(errors))")
        // Room again: writes go through.
        try store.pool.with { try $0.execute("PRAGMA max_page_count = 1000000") }
        try store.answerTurn(id: "again", remote: "+9", reply: "yes", nowMs: 2000)
        #expect(try store.dedupe(channel: "t", channelMessageId: "again") == .replied("yes"))
    }
}
