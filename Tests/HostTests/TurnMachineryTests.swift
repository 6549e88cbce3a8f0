import Foundation
import Synchronization
import Testing
@testable import Host

/// The router's execution machinery: group commit with nested and asynchronous units, and
/// the one-unit turn of an agent that answers synchronously (the inline budgets' timer:
/// SlotTimerTests).
@Suite(.serialized) struct TurnMachineryTests {
    private func committer(_ name: String) throws -> (GroupCommitter, ConnectionPool) {
        let path = TestEnv.tempDir(name) + "/gc.sqlite"
        let pool = ConnectionPool(max: 1) { try SQLiteConnection(path: path) }
        try pool.with { try $0.execute("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)") }
        return (GroupCommitter(pool: pool), pool)
    }

    @Test func nestedWritesCommitOrRollBackWithTheirUnit() throws {
        let (gc, pool) = try committer("gc-nested")
        defer { gc.shutdown() }
        // Two nested writes in one unit: both commit.
        try gc.write { c in
            try gc.write { try $0.query("INSERT INTO t (v) VALUES (1)", []) }
            try gc.write { try $0.query("INSERT INTO t (v) VALUES (2)", []) }
        }
        // The second nested write fails (unique): the first one of the same unit rolls back too.
        #expect(throws: (any Error).self) {
            try gc.write { _ in
                try gc.write { try $0.query("INSERT INTO t (v) VALUES (3)", []) }
                try gc.write { try $0.query("INSERT INTO t (v) VALUES (1)", []) }
            }
        }
        let values = try pool.with { try $0.query("SELECT v FROM t ORDER BY v", []).compactMap { $0[0].int } }
        #expect(values == [1, 2])
    }

    @Test func submittedUnitsCompleteOnceDurable() async throws {
        let (gc, pool) = try committer("gc-submit")
        defer { gc.shutdown() }
        let results = Mutex<[Int: Bool]>([:])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let left = Atomic<Int>(20)
            for i in 0..<20 {
                // 7 twice: exactly one of the two units fails, alone (its savepoint or its own transaction).
                let v = i == 19 ? 7 : i
                gc.submit({ c in try c.query("INSERT INTO t (v) VALUES (?)", [.int(Int64(v))]) }) { r in
                    // Durable: another connection of the pool sees it only after the commit; here we just
                    // record the outcome and check the table at the end.
                    results.withLock { $0[i] = (try? r.get()) != nil }
                    if left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.resume() }
                }
            }
        }
        let r = results.withLock { $0 }
        #expect(r.count == 20)
        #expect(r.values.filter { !$0 }.count == 1)
        #expect(r[7] == true || r[19] == true)
        let count = try pool.with { try $0.one("SELECT COUNT(*) FROM t", [])?[0].int }
        #expect(count == 19)
    }

    /// PostgreSQL runs `send`'s statements in one pipelined round trip, in order; an error
    /// is thrown by the flush, the rest of the pipeline is skipped, and after a rollback the
    /// connection is usable. In group commit, a unit whose deferred statement fails rolls
    /// back alone.
    @Test func postgresDeferredStatementsPipelineInOrderAndFailAlone() async throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let url = try pg.newDatabase()
        let c = try PostgresConnection(url: url)
        try c.execute("CREATE TABLE t (v BIGINT NOT NULL UNIQUE)")
        try c.execute("BEGIN")
        try c.send("INSERT INTO t (v) VALUES (?)", [.int(1)])
        try c.send("UPDATE t SET v = v + ? WHERE v = 1", [.int(10)])
        // A query sends the deferred statements first: it sees their effect.
        #expect(try c.query("SELECT v FROM t WHERE v > ?", [.int(0)]).compactMap { $0[0].int } == [11])
        try c.send("INSERT INTO t (v) VALUES (?)", [.int(11)])   // unique violation
        try c.send("INSERT INTO t (v) VALUES (?)", [.int(12)])   // skipped (pipeline aborted)
        #expect(throws: (any Error).self) { try c.flush() }
        try c.execute("ROLLBACK")
        #expect(try c.query("SELECT COUNT(*) FROM t WHERE v > ?", [.int(0)]).first?[0].int == 0)

        let pool = ConnectionPool(max: 2) { try PostgresConnection(url: url) }
        let gc = GroupCommitter(pool: pool, writers: 1)
        defer { gc.shutdown() }
        let outcomes = Mutex<[Int: Bool]>([:])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let left = Atomic<Int>(10)
            for i in 0..<10 {
                let v = Int64(i == 9 ? 3 : 100 + i)   // unit 9 collides with unit 3's second row
                gc.submit({ c in
                    try c.send("INSERT INTO t (v) VALUES (?)", [.int(Int64(i + 1))])
                    try c.send("INSERT INTO t (v) VALUES (?)", [.int(v)])
                }) { r in
                    outcomes.withLock { $0[i] = (try? r.get()) != nil }
                    if left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.resume() }
                }
            }
        }
        let o = outcomes.withLock { $0 }
        // Unit 9 inserts 10 and 3; 3 is unit 2's first row: exactly one of the two fails, alone.
        #expect(o.values.filter { !$0 }.count == 1)
        let n = try c.query("SELECT COUNT(*) FROM t WHERE v > ?", [.int(0)]).first?[0].int
        #expect(n == 18)
    }

    /// A turn's lock on PostgreSQL is sent with the context read (one round trip): held once
    /// `turnContext(under:)` returned, until `release`; released unsent if no read followed.
    @Test func postgresTurnLockIsTakenWithTheContextRead() throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let url = try pg.newDatabase()
        let store = try SQLStore(postgresURL: url, lockConnections: 2)
        defer { store.close() }
        let other = try PostgresConnection(url: url)   // another process's view of the lock
        func free(_ key: String) throws -> Bool {
            let got = try other.one("SELECT pg_try_advisory_lock(hashtextextended(?, 0))", [.text(key)])?[0].text == "t"
            if got { try other.query("SELECT pg_advisory_unlock(hashtextextended(?, 0))", [.text(key)]) }
            return got
        }
        // The unlock is deferred (sent with the connection's next statement or by the flusher
        // within about a millisecond): poll for it.
        func freed(_ key: String) throws -> Bool {
            for _ in 0..<500 { if try free(key) { return true }; usleep(1000) }
            return false
        }
        let lock = try store.lockConversationForTurn("k1")
        let ctx = try store.turnContext(channel: "t", channelMessageId: "m1", remote: "+1", local: "+2", sinceMs: 0,
                                        under: lock, historyDepth: { _ in 5 })
        #expect(ctx.dedupe == nil && ctx.session == nil)
        #expect(try !free("k1"))
        lock.release()
        #expect(try freed("k1"))
        // Released before any read: nothing was locked, and the connection is clean for the next turn.
        for _ in 0..<3 { try store.lockConversationForTurn("k2").release() }
        #expect(try free("k2"))
        let again = try store.lockConversationForTurn("k2")
        _ = try store.turnContext(channel: "t", channelMessageId: "m2", remote: "+1", local: "+2", sinceMs: 0, under: again, historyDepth: { _ in 5 })
        #expect(try !free("k2"))
        again.release()
        #expect(try freed("k2"))
        // A deferred statement that fails fails the query pipelined behind it.
        let c = try PostgresConnection(url: url)
        try c.send("SELECT 1 / (? - 1)", [.int(1)])
        #expect(throws: (any Error).self) { try c.query("SELECT ? + 1", [.int(1)]) }
        #expect(try c.query("SELECT ? + 1", [.int(1)]).first?[0].int == 2)
    }

    /// PostgreSQL's one-unit turn sends everything with the batch's COMMIT: a unit for a
    /// session that no longer exists fails alone, the others commit with the right records.
    @Test func postgresAnsweredTurnsFailAloneInOnePipelinedBatch() async throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let store = try SQLStore(postgresURL: try pg.newDatabase(), lockConnections: 2)
        defer { store.close() }
        var sessions: [Int64] = []
        for i in 0..<4 {
            let (s, mid) = try store.beginTurn(TurnStart(channel: "t", channelMessageId: "first\(i)", remote: "+1\(i)", local: "+2", text: "hi",
                                                         nowMs: 1000, sessionId: nil, newAgent: "a"))
            try store.finishTurn(TurnFinish(sessionId: s.id, inboundMessageId: mid, channel: "t", channelMessageId: "first\(i)", agent: "a",
                                            reply: "re", sessionState: nil, processingMs: 1, nowMs: 1001, outbox: nil))
            sessions.append(s.id)
        }
        sessions.append(sessions.max()! + 1000)   // vanished
        let outcomes = Mutex<[Int: Bool]>([:])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let left = Atomic<Int>(sessions.count)
            for (i, sid) in sessions.enumerated() {
                let start = TurnStart(channel: "t", channelMessageId: "m\(i)", remote: "+1\(i)", local: "+2", text: "q\(i)", nowMs: 2000,
                                      sessionId: sid, newAgent: nil)
                store.writeAnsweredTurn(start, finish: {
                    TurnFinish(sessionId: sid, inboundMessageId: 0, channel: "t", channelMessageId: "m\(i)", agent: "a", reply: "a\(i)",
                               sessionState: "st\(i)", processingMs: 2, nowMs: 2001, outbox: nil)
                }, completion: { r in
                    outcomes.withLock { $0[i] = (try? r.get()) != nil }
                    if left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.resume() }
                })
            }
        }
        #expect(outcomes.withLock { $0 } == [0: true, 1: true, 2: true, 3: true, 4: false])
        func count(_ sql: String) throws -> Int64? { try store.withConnection { try $0.one(sql, [])?[0].int } }
        #expect(try count("SELECT COUNT(*) FROM messages") == 16)
        #expect(try count("SELECT COUNT(*) FROM dedupe_keys WHERE channel_message_id = 'm4'") == 0)
        #expect(try count("""
            SELECT COUNT(*) FROM dedupe_keys d JOIN messages m ON m.id = d.message_id
            WHERE m.direction = 'in' AND m.channel_message_id = d.channel_message_id AND d.reply = 'a' || substr(d.channel_message_id, 2)
            """) == 4)
        #expect(try count("SELECT COUNT(*) FROM sessions WHERE message_count = 4 AND state = 'st' || (remote::bigint % 10)::text") == 4)
    }

    /// The c-echo agent answers inside `call`: after its first call the router calls it first
    /// and writes each turn as one unit (`writeAnsweredTurn`: four statements). History,
    /// dedupe, statuses, counts and ordering are as with `beginTurn` + `finishTurn`.
    @Test(arguments: ["sqlite", "postgres"])
    func synchronousAgentTurnIsOneUnitWithTheSameRecords(backend: String) async throws {
        let dir = TestEnv.tempDir("one-unit")
        let url: String
        if backend == "postgres" {
            let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
            url = try pg.newDatabase()
        } else {
            url = "sqlite:\(dir)/ds.sqlite"
        }
        let g = try await TestGateway(yaml: TestEnv.config(store: url, dir: dir, agents: """
          - name: alpha
            transport: echo
            max_sessions: 10
            config: { prefix: alpha }
        """), dir: dir)
        #expect(await g.reply(from: "+15552220001", id: "u1", text: "one") == "alpha: one (history: 0)")
        let inline = g.router.agents[0].answersInline.load(ordering: .relaxed)
        #expect(inline)
        #expect(await g.reply(from: "+15552220001", id: "u2", text: "two") == "alpha: two (history: 2)")
        #expect(await g.reply(from: "+15552220001", id: "u3", text: "three") == "alpha: three (history: 4)")
        // A retried webhook gets the stored reply, without a new turn.
        #expect(await g.reply(from: "+15552220001", id: "u2", text: "two") == "alpha: two (history: 2)")
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE session_id IS NOT NULL") == 6)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND status <> 'answered'") == 0)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND processing_ms IS NULL") == 0)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status <> 'replied_inline'") == 0)
        #expect(try g.scalar("SELECT COUNT(*) FROM dedupe_keys WHERE reply IS NULL") == 0)
        // Every dedupe key points at its own inbound message.
        #expect(try g.scalar("""
            SELECT COUNT(*) FROM dedupe_keys d JOIN messages m ON m.id = d.message_id
            WHERE m.direction = 'in' AND m.channel_message_id = d.channel_message_id
            """) == 3)
        #expect(try g.scalar("SELECT message_count FROM sessions") == 6)
        // Each reply's row follows its message's (history order is by id), and the session's
        // last activity stays its first message's: the turns came within the activity
        // granularity of it (SessionActivityTests).
        let order = try g.store.withConnection { c in
            try c.query("SELECT direction, body FROM messages WHERE session_id IS NOT NULL ORDER BY id", []).map { "\($0[0].text ?? ""):\($0[1].text ?? "")" }
        }
        #expect(order == ["in:one", "out:alpha: one (history: 0)", "in:two", "out:alpha: two (history: 2)",
                          "in:three", "out:alpha: three (history: 4)"])
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions s WHERE s.last_ms = (SELECT MIN(created_ms) FROM messages)") == 1)
        await g.stop()
    }

    /// The turn's context read (every message) runs on SQLite without a temporary b-tree:
    /// `contextSQL`'s joined `SELECT … LIMIT 1` of the session is materialised into one on
    /// every turn (a pager opened and closed, its pages allocated); `sqliteContextSQL` joins
    /// the session by the id of a scalar subquery. Both find the conversation's newest session.
    @Test func sqliteContextReadNeedsNoTemporaryTable() throws {
        let path = TestEnv.tempDir("context-plan") + "/ds.sqlite"
        let c = try SQLiteConnection(path: path)
        try StoreMigrations.apply(c)
        let params: [SQLValue] = [.text("sms"), .text("SM1"), .text("sms"), .text("+1555"),
                                  .text("sms"), .text("+1555"), .text("+1666"), .int(1_000)]
        let opcodes = { (sql: String) in try c.query("EXPLAIN " + sql, params).compactMap { $0[1].text } }
        #expect(try opcodes(SQLStore.contextSQL).contains("OpenEphemeral"))
        #expect(try opcodes(SQLStore.sqliteContextSQL).contains("OpenRead"))
        #expect(try !opcodes(SQLStore.sqliteContextSQL).contains("OpenEphemeral"))
        try c.execute("""
            INSERT INTO sessions (channel, remote, local, agent, created_ms, last_ms) VALUES
              ('sms', '+1555', '+1666', 'old', 1, 1500), ('sms', '+1555', '+1666', 'new', 2, 2500),
              ('sms', '+1555', '+1777', 'other', 3, 3500)
            """)
        for sql in [SQLStore.contextSQL, SQLStore.sqliteContextSQL] {
            let row = try #require(try c.one(sql, params))
            #expect(row[0].isNull && row[2].isNull)
            #expect(SQLStore.session(Array(row[3...])).agent == "new")
        }
    }
}
