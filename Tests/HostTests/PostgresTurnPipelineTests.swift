import Foundation
import Testing
@testable import Host

/// PostgreSQL round 3: the history read pipelined with the turn's lock and context, the
/// deferred unlock (sent with the lock connection's next statement, or by the flusher), and
/// `beginTurn` as one statement.
@Suite(.serialized) struct PostgresTurnPipelineTests {
    private func pg() throws -> String {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        return try pg.newDatabase()
    }

    /// Whether another connection (another process) can take `key` right now.
    private func free(_ other: PostgresConnection, _ key: String) throws -> Bool {
        let got = try other.one("SELECT pg_try_advisory_lock(hashtextextended(?, 0))", [.text(key)])?[0].text == "t"
        if got { try other.query("SELECT pg_advisory_unlock(hashtextextended(?, 0))", [.text(key)]) }
        return got
    }

    /// Seconds until `key` can be taken by `other` (polling every millisecond), nil if not within `limit`.
    private func secondsUntilFree(_ other: PostgresConnection, _ key: String, limit: Double = 2) throws -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < limit {
            if try free(other, key) { return Date().timeIntervalSince(start) }
            usleep(1000)
        }
        return nil
    }

    /// The history read with the context (one pipeline, up to the bound, trimmed per agent)
    /// returns exactly what the separate read returns: for every depth up to and beyond the
    /// bound, a dedupe hit, no session, an expired session, and under a turn lock.
    @Test func pipelinedHistoryEqualsTheSeparateRead() throws {
        let url = try pg()
        let piped = try SQLStore(postgresURL: url, lockConnections: 2)
        defer { piped.close() }
        piped.setHistoryDepthBound(6)
        let plain = try SQLStore(postgresURL: url, lockConnections: 2)   // bound unknown: the old two reads
        defer { plain.close() }
        // Two conversations of one sender, turns of both kinds (two writes, one unit).
        var n = 0
        func turn(_ remote: String, _ session: Int64?, oneUnit: Bool) throws -> Int64 {
            n += 1
            let n = n
            let start = TurnStart(channel: "t", channelMessageId: "m\(n)", remote: remote, local: "+2", text: "q\(n)", nowMs: 1000 + Int64(n),
                                  sessionId: session, newAgent: session == nil ? "a" : nil)
            if oneUnit, let sid = session {
                let done = DispatchSemaphore(value: 0)
                piped.writeAnsweredTurn(start, finish: {
                    TurnFinish(sessionId: sid, inboundMessageId: 0, channel: "t", channelMessageId: "m\(n)", agent: "a", reply: "r\(n)",
                               sessionState: nil, processingMs: 1, nowMs: 1000 + Int64(n), outbox: nil)
                }, completion: { r in #expect((try? r.get()) != nil); done.signal() })
                done.wait()
                return sid
            }
            let (s, mid) = try piped.beginTurn(start)
            try piped.finishTurn(TurnFinish(sessionId: s.id, inboundMessageId: mid, channel: "t", channelMessageId: "m\(n)", agent: "a",
                                            reply: "r\(n)", sessionState: nil, processingMs: 1, nowMs: 1000 + Int64(n), outbox: nil))
            return s.id
        }
        var a = try turn("+1", nil, oneUnit: false)
        var b = try turn("+3", nil, oneUnit: false)
        for i in 0..<5 {
            a = try turn("+1", a, oneUnit: i % 2 == 0)
            b = try turn("+3", b, oneUnit: i % 2 == 1)
        }
        for remote in ["+1", "+3", "+4"] {
            for depth in [0, 1, 2, 5, 6, 7, 20] {
                func read(_ s: SQLStore, under lock: (any ConversationLock)?) throws -> TurnContext {
                    try s.turnContext(channel: "t", channelMessageId: "new", remote: remote, local: "+2", sinceMs: 0,
                                      under: lock, historyDepth: { _ in depth })
                }
                let want = try read(plain, under: nil)
                let got = try read(piped, under: nil)
                let lock = try piped.lockConversationForTurn("k\(remote)")
                let locked = try read(piped, under: lock)
                lock.release()
                for c in [got, locked] {
                    #expect(c.session?.id == want.session?.id)
                    #expect(c.history.map(\.role) == want.history.map(\.role), "depth \(depth) \(remote)")
                    #expect(c.history.map(\.text) == want.history.map(\.text), "depth \(depth) \(remote)")
                    #expect(c.history.map(\.timeMs) == want.history.map(\.timeMs))
                }
                #expect(want.history.count == (remote == "+4" ? 0 : min(depth, 12)))
            }
        }
        // An expired session (since after its last activity): no session, no history.
        let expired = try piped.turnContext(channel: "t", channelMessageId: "new", remote: "+1", local: "+2", sinceMs: 1_000_000,
                                            historyDepth: { _ in 5 })
        #expect(expired.session == nil && expired.history.isEmpty)
        // A dedupe hit answers from the key.
        let dup = try piped.turnContext(channel: "t", channelMessageId: "m3", remote: "+1", local: "+2", sinceMs: 0, historyDepth: { _ in 5 })
        #expect(dup.dedupe == .replied("r3"))
        // The last turn's messages come last, in order.
        let last = try piped.turnContext(channel: "t", channelMessageId: "new", remote: "+3", local: "+2", sinceMs: 0, historyDepth: { _ in 2 })
        #expect(last.history.map(\.text) == ["q\(n)", "r\(n)"])
    }

    /// `release` does not wait for the server; the unlock goes out with the connection's next
    /// statement, or from the flusher if the connection stays idle: another process can take
    /// the lock within a few milliseconds. The same conversation's next turn in this process
    /// takes the connection that still holds it (no wait). A turn released before its read
    /// keeps an older deferred unlock.
    @Test func deferredUnlockIsSentPromptly() throws {
        let url = try pg()
        let store = try SQLStore(postgresURL: url, lockConnections: 3)
        defer { store.close() }
        let other = try PostgresConnection(url: url)
        func context(_ lock: any ConversationLock) throws {
            _ = try store.turnContext(channel: "t", channelMessageId: "m", remote: "+1", local: "+2", sinceMs: 0, under: lock, historyDepth: { _ in 5 })
        }
        // Idle after release: the flusher sends the unlock.
        for i in 0..<20 {
            let lock = try store.lockConversationForTurn("k\(i)")
            try context(lock)
            #expect(try !free(other, "k\(i)"))
            lock.release()
            let waited = try #require(try secondsUntilFree(other, "k\(i)"))
            #expect(waited < 0.25, "unlock took \(waited) s")
        }
        #expect((store.unlockFlusher?.flushCount ?? 0) > 0)
        // The conversation's next turn right after release: same connection, the lock is
        // taken again at once (unlock and lock in one pipeline), still exclusive.
        for _ in 0..<50 {
            let lock = try store.lockConversationForTurn("same")
            let t0 = Date()
            try context(lock)
            #expect(Date().timeIntervalSince(t0) < 0.5)
            #expect(try !free(other, "same"))
            lock.release()
        }
        #expect(try secondsUntilFree(other, "same") != nil)
        // Many conversations back to back (connections reused before the flusher runs): every
        // lock is released in the end, and each is exclusive while held.
        for i in 0..<100 {
            let lock = try store.lockConversationForTurn("b\(i % 7)")
            try context(lock)
            #expect(try !free(other, "b\(i % 7)"))
            lock.release()
        }
        for i in 0..<7 { #expect(try secondsUntilFree(other, "b\(i)") != nil) }
        // A lock released before any read (never sent) keeps the connection's older deferred
        // unlock: with one lock connection, "x" must still be released.
        let single = try SQLStore(postgresURL: url, lockConnections: 1)
        defer { single.close() }
        let x = try single.lockConversationForTurn("x")
        _ = try single.turnContext(channel: "t", channelMessageId: "m", remote: "+1", local: "+2", sinceMs: 0, under: x, historyDepth: { _ in 5 })
        x.release()
        try single.lockConversationForTurn("y").release()   // unsent: dropped, "x"'s unlock kept
        #expect(try secondsUntilFree(other, "x") != nil)
        #expect(try free(other, "y"))
        // The blocking lock sends a deferred unlock first, too.
        let z = try single.lockConversation("z")
        #expect(try !free(other, "z"))
        z.release()
        #expect(try secondsUntilFree(other, "z") != nil)
    }

    /// Another process blocked on a conversation gets it once this process's turn released it,
    /// within a few milliseconds, although the unlock is deferred.
    @Test func aWaitingProcessGetsTheLockPromptly() throws {
        let url = try pg()
        let store = try SQLStore(postgresURL: url, lockConnections: 2)
        defer { store.close() }
        let lock = try store.lockConversationForTurn("w")
        _ = try store.turnContext(channel: "t", channelMessageId: "m", remote: "+1", local: "+2", sinceMs: 0, under: lock, historyDepth: { _ in 5 })
        let got = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var releasedAt = Date.distantFuture
        nonisolated(unsafe) var gotAt = Date.distantPast
        let waiter = Thread {
            let c = try! PostgresConnection(url: url)
            _ = try! c.query("SELECT pg_advisory_lock(hashtextextended(?, 0))", [.text("w")])
            gotAt = Date()
            _ = try! c.query("SELECT pg_advisory_unlock(hashtextextended(?, 0))", [.text("w")])
            got.signal()
        }
        waiter.start()
        usleep(100_000)   // the waiter is blocked on the server
        releasedAt = Date()
        lock.release()
        #expect(got.wait(timeout: .now() + 5) == .success)
        #expect(gotAt.timeIntervalSince(releasedAt) < 0.25, "waited \(gotAt.timeIntervalSince(releasedAt)) s after release")
    }

    /// `beginTurn` on PostgreSQL is one statement: a new session, an existing one, a vanished
    /// one (fails, writes nothing), and a duplicate message id (fails, writes nothing).
    @Test func beginTurnInOneStatement() throws {
        let store = try SQLStore(postgresURL: try pg(), lockConnections: 1)
        defer { store.close() }
        let (s, m1) = try store.beginTurn(TurnStart(channel: "t", channelMessageId: "a", remote: "+1", local: "+2", text: "hi",
                                                    nowMs: 1000, sessionId: nil, newAgent: "echo"))
        #expect(s.agent == "echo" && s.remote == "+1" && s.local == "+2" && s.createdMs == 1000 && s.lastMs == 1000 && s.state == "")
        let (s2, m2) = try store.beginTurn(TurnStart(channel: "t", channelMessageId: "b", remote: "+1", local: "+2", text: "again",
                                                     nowMs: 2000, sessionId: s.id, newAgent: nil))
        #expect(s2.id == s.id && s2.lastMs == 2000 && s2.agent == "echo" && m2 > m1)
        #expect(throws: (any Error).self) {
            try store.beginTurn(TurnStart(channel: "t", channelMessageId: "c", remote: "+1", local: "+2", text: "x", nowMs: 3000,
                                          sessionId: s.id + 99, newAgent: nil))
        }
        #expect(throws: (any Error).self) {   // the dedupe key exists: nothing of the turn stays
            try store.beginTurn(TurnStart(channel: "t", channelMessageId: "a", remote: "+1", local: "+2", text: "dup", nowMs: 3000,
                                          sessionId: s.id, newAgent: nil))
        }
        func count(_ sql: String) throws -> Int64? { try store.withConnection { try $0.one(sql, [])?[0].int } }
        #expect(try count("SELECT COUNT(*) FROM messages") == 2)
        #expect(try count("SELECT message_count FROM sessions") == 2)
        #expect(try count("SELECT COUNT(*) FROM dedupe_keys d JOIN messages m ON m.id = d.message_id AND m.channel_message_id = d.channel_message_id WHERE d.reply IS NULL AND m.status = 'received'") == 2)
        #expect(try store.dedupe(channel: "t", channelMessageId: "b") == .pending)
        #expect(try store.history(sessionId: s.id, limit: 5).map(\.text) == ["hi", "again"])
    }

    /// A same-host deployment reaches PostgreSQL through its Unix socket
    /// (`postgresql:///db?host=/run/postgresql`), which libpq takes as it is: every pool of
    /// the store connects that way, and a turn's writes are there for a TCP reader.
    @Test func storeOverTheUnixSocket() throws {
        let tcp = try pg()
        let server = try #require(TestPostgres.shared)
        let store = try SQLStore(postgresURL: server.socketURL(tcp), lockConnections: 1)
        defer { store.close() }
        #expect(store.ping())
        // inet_server_addr() is NULL on a Unix-socket connection.
        #expect(try store.pool.with { try $0.one("SELECT inet_server_addr() IS NULL", [])?[0].text } == "t")
        let lock = try store.lockConversationForTurn("k+1")
        let session = try store.answerTurn(id: "u1", remote: "+1", text: "over the socket", reply: "yes")
        lock.release()
        let reader = try PostgresConnection(url: tcp)
        #expect(try reader.one("SELECT COUNT(*) FROM messages WHERE session_id = ?", [.int(session)])?[0].int == 2)
        #expect(try store.dedupe(channel: "t", channelMessageId: "u1") == .replied("yes"))
    }
}
