import Foundation
import Testing
@testable import Host

/// A session's stored last activity (`last_ms`) is written only when it is older than
/// `ConversationRouter.activityGranularityMs` (1/64 of `routing.session_timeout`, at most
/// 60 s): a busy conversation's turns then change no indexed column of its session, which
/// SQLite would otherwise rewrite in three indexes per message and PostgreSQL could not
/// update in place (HOT). Counts and state are written on every turn.
@Suite(.serialized) struct SessionActivityTests {
    private func storeURL(_ backend: String, _ dir: String) throws -> String {
        if backend == "postgres" {
            let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
            return try pg.newDatabase()
        }
        return "sqlite:\(dir)/ds.sqlite"
    }

    /// Through the router: replies within the granularity leave `last_ms` at the session's
    /// start; the first turn after it records the reply's time. With `session_timeout:
    /// 6400ms` the granularity is 100 ms.
    @Test(arguments: ["sqlite", "postgres"])
    func busyConversationRecordsActivityOncePerGranule(backend: String) async throws {
        let dir = TestEnv.tempDir("activity-\(backend)")
        let g = try await TestGateway(yaml: TestEnv.config(store: try storeURL(backend, dir), dir: dir, routing: "session_timeout: 6400ms",
                                                           agents: """
          - name: alpha
            transport: echo
            config: { prefix: alpha }
        """), dir: dir)
        #expect(g.router.activityGranularityMs == 100)
        #expect(await g.reply(from: "+15553330001", id: "a1", text: "one") == "alpha: one (history: 0)")
        #expect(await g.reply(from: "+15553330001", id: "a2", text: "two") == "alpha: two (history: 2)")
        let first = try g.scalar("SELECT MIN(created_ms) FROM messages")
        // Within 100 ms of the session's start (a2's turn may straddle it on a slow machine:
        // then it is the last reply's time, which the later check covers as well).
        let afterTwo = try g.scalar("SELECT last_ms FROM sessions")
        let lastReply = try g.scalar("SELECT MAX(created_ms) FROM messages")
        #expect(afterTwo == first || (afterTwo == lastReply && lastReply - first >= 100))
        #expect(try g.scalar("SELECT message_count FROM sessions") == 4)
        try await Task.sleep(nanoseconds: 150_000_000)
        #expect(await g.reply(from: "+15553330001", id: "a3", text: "three") == "alpha: three (history: 4)")
        #expect(try g.scalar("SELECT last_ms FROM sessions") == (try g.scalar("SELECT MAX(created_ms) FROM messages")))
        #expect(try g.scalar("SELECT message_count FROM sessions") == 6)
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 1)
        await g.stop()
    }

    /// The store: a turn with `recordsActivity` false counts its messages and sets the state
    /// but leaves `last_ms`, in `beginTurn` (sticky session), `finishTurn` and
    /// `writeAnsweredTurn`; true writes it as before.
    @Test(arguments: ["sqlite", "postgres"])
    func quietTurnsCountButKeepLastActivity(backend: String) async throws {
        let dir = TestEnv.tempDir("activity-store-\(backend)")
        let url = try storeURL(backend, dir)
        let store = url.hasPrefix("sqlite:") ? try SQLStore(sqlitePath: String(url.dropFirst(7)))
                                             : try SQLStore(postgresURL: url, lockConnections: 2)
        defer { store.close() }
        func start(_ id: String, at ms: Int64, session: Int64?, records: Bool = true) -> TurnStart {
            var t = TurnStart(channel: "sms", channelMessageId: id, remote: "+15553330002", local: "+15550000001", text: id,
                              nowMs: ms, sessionId: session, newAgent: session == nil ? "alpha" : nil)
            t.recordsActivity = records
            return t
        }
        func finish(_ id: String, _ s: Int64, inbound: Int64, at ms: Int64, records: Bool) -> TurnFinish {
            var f = TurnFinish(sessionId: s, inboundMessageId: inbound, channel: "sms", channelMessageId: id, agent: "alpha",
                               reply: "re " + id, sessionState: "{\"n\":\"\(id)\"}", processingMs: 1, nowMs: ms, outbox: nil)
            f.recordsActivity = records
            return f
        }
        func row() throws -> (last: Int64, count: Int64, state: String) {
            try store.withConnection { c in
                let r = try #require(try c.one("SELECT last_ms, message_count, state FROM sessions", []))
                return (r[0].int ?? -1, r[1].int ?? -1, r[2].text ?? "")
            }
        }
        let (s, m1) = try store.beginTurn(start("q1", at: 1_000, session: nil))
        // The new session as beginTurn returns it is the stored row (SQLite builds it from
        // what it inserted and the new rowid).
        #expect(try store.activeSession(channel: "sms", remote: "+15553330002", local: "+15550000001", sinceMs: 0) == s)
        #expect(s.agent == "alpha" && s.createdMs == 1_000 && s.lastMs == 1_000 && s.state == "" && !s.held)
        try store.finishTurn(finish("q1", s.id, inbound: m1, at: 1_010, records: false))
        #expect(try row() == (1_000, 2, "{\"n\":\"q1\"}"))
        let (s2, m2) = try store.beginTurn(start("q2", at: 1_020, session: s.id, records: false))
        #expect(s2.lastMs == 1_000)
        try store.finishTurn(finish("q2", s.id, inbound: m2, at: 1_030, records: false))
        #expect(try row() == (1_000, 4, "{\"n\":\"q2\"}"))
        let answered: Result<Void, any Error> = await withCheckedContinuation { c in
            store.writeAnsweredTurn(start("q3", at: 1_040, session: s.id, records: false),
                                    finish: { finish("q3", s.id, inbound: 0, at: 1_050, records: false) },
                                    completion: { c.resume(returning: $0) })
        }
        try answered.get()
        #expect(try row() == (1_000, 6, "{\"n\":\"q3\"}"))
        let (s4, m4) = try store.beginTurn(start("q4", at: 2_000, session: s.id))
        #expect(s4.lastMs == 2_000)
        try store.finishTurn(finish("q4", s.id, inbound: m4, at: 2_010, records: true))
        #expect(try row() == (2_010, 8, "{\"n\":\"q4\"}"))
        // The history still has every message, in order.
        #expect(try store.history(sessionId: s.id, limit: 20).map(\.text)
                == ["q1", "re q1", "q2", "re q2", "q3", "re q3", "q4", "re q4"])
        // An answered turn of a vanished session fails and writes nothing.
        let vanished: Result<Void, any Error> = await withCheckedContinuation { c in
            store.writeAnsweredTurn(start("q5", at: 3_000, session: s.id + 1_000, records: false),
                                    finish: { finish("q5", s.id + 1_000, inbound: 0, at: 3_010, records: false) },
                                    completion: { c.resume(returning: $0) })
        }
        #expect(throws: (any Error).self) { try vanished.get() }
        func count(_ sql: String) throws -> Int64 { try store.withConnection { try $0.one(sql, [])?[0].int ?? -1 } }
        #expect(try count("SELECT COUNT(*) FROM messages") == 8)
        #expect(try count("SELECT COUNT(*) FROM dedupe_keys") == 4)
        // Every dedupe key points at its own inbound message (the answered turn's id).
        #expect(try count("""
            SELECT COUNT(*) FROM dedupe_keys d JOIN messages m ON m.id = d.message_id
            WHERE m.direction = 'in' AND m.channel_message_id = d.channel_message_id
            """) == 4)
    }

    /// SQLite rewrites an index whenever an UPDATE assigns one of its columns, whatever the
    /// value: the quiet statements assign none (`last_ms` is in three indexes of sessions).
    /// The answered turn's update has no `RETURNING` (which SQLite buffers in a temporary
    /// b-tree): `SQLiteConnection.run` reports the changed rows instead.
    @Test func sqliteQuietSessionUpdatesWriteNoIndex() throws {
        let c = try SQLiteConnection(path: TestEnv.tempDir("activity-plan") + "/ds.sqlite")
        try StoreMigrations.apply(c)
        func indexWrites(_ sql: String, _ params: Int) throws -> Int {
            try c.query("EXPLAIN " + sql, Array(repeating: SQLValue.int(1), count: params)).filter { $0[1].text == "IdxInsert" }.count
        }
        #expect(try indexWrites(SQLStore.answeredSessionSQL, 3) >= 3)
        #expect(try indexWrites(SQLStore.answeredSessionUpdate.quiet, 2) == 0)
        #expect(try indexWrites(SQLStore.finishSessionSQL, 3) >= 3)
        #expect(try indexWrites(SQLStore.finishSessionUpdate.quiet, 2) == 0)
        for sql in [SQLStore.answeredSessionSQL, SQLStore.answeredSessionUpdate.quiet] {
            #expect(try !c.query("EXPLAIN " + sql, [.int(1), .int(1), .int(1)].suffix(sql == SQLStore.answeredSessionSQL ? 3 : 2))
                .contains { $0[1].text == "OpenEphemeral" })
        }
        #expect(try c.query("EXPLAIN " + SQLStore.answeredSessionSQL + " RETURNING id", [.int(1), .int(1), .int(1)])
            .contains { $0[1].text == "OpenEphemeral" })
    }
}
