import Foundation
import Testing
@testable import Host

/// Deferred replies through the outbox (including kill -9 of the gateway) and two
/// gateway processes sharing one PostgreSQL database.
@Suite(.serialized) struct RouterDeliveryTests {
    static func sendsLines(_ dir: String) -> [String] {
        ((try? String(contentsOfFile: "\(dir)/sends.txt", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// `dir`/plugins.yaml for a `darkspere run` child: SQLite in `dir`, one echo agent "slow"
    /// answering after `delayMs`, the given inline reply budget.
    static func writeSlowAgentConfig(dir: String, port: Int, budget: String, delayMs: Int) throws {
        try TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, listen: "127.0.0.1:\(port)",
                           routing: "inline_reply_budget: \(budget)", agents: """
          - name: slow
            transport: echo
            config: { prefix: slow, delay_ms: \(delayMs) }
        """).write(toFile: "\(dir)/plugins.yaml", atomically: true, encoding: .utf8)
    }

    @Test func slowReplyIsDeferredAndSentOnce() async throws {
        let dir = TestEnv.tempDir("deferred")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: "inline_reply_budget: 200ms", agents: """
          - name: slow
            transport: echo
            config: { prefix: slow, delay_ms: 600 }
        """), dir: dir)
        #expect(await g.submit(from: "+15557770001", id: "d1", text: "hello") == .deferred)
        let deadline = Date().addingTimeInterval(10)
        while Self.sendsLines(dir).isEmpty && Date() < deadline { try await Task.sleep(nanoseconds: 50_000_000) }
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(Self.sendsLines(dir) == ["reply:test:d1\t+15557770001\tslow: hello (history: 0)"])
        #expect(try g.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'sent'") == 1)
        // The channel's delivery report lands on the outbox row (the fixture's provider id is the message key).
        #expect(g.router.reportStatus(channel: "test", providerMessageId: "reply:test:d1", status: "delivered", errorCode: 0))
        #expect(!g.router.reportStatus(channel: "test", providerMessageId: "nope", status: "delivered", errorCode: 0))
        #expect(try g.scalar("SELECT COUNT(*) FROM outbox WHERE delivery_status = 'delivered'") == 1)
        #expect(try g.scalar("SELECT MAX(version) FROM schema_migrations") == Int64(StoreMigrations.all.map(\.version).max() ?? 0))
        // A retried webhook gets the stored reply inline now.
        #expect(await g.reply(from: "+15557770001", id: "d1", text: "hello") == "slow: hello (history: 0)")
        await g.stop()
    }

    @Test func outboxSurvivesKill9AndSendsEachReplyOnce() async throws {
        let dir = TestEnv.tempDir("kill9")
        let port = TestEnv.freePort()
        try Self.writeSlowAgentConfig(dir: dir, port: port, budget: "100ms", delayMs: 300)
        FileManager.default.createFile(atPath: "\(dir)/send-fail", contents: Data())   // every send fails (retryable)
        let client = HTTPClient()
        defer { client.shutdown() }
        var gw = try GatewayProcess(config: "\(dir)/plugins.yaml", port: port, log: "\(dir)/gateway.log")
        try await gw.waitReady(client: client)
        let n = 12
        let statuses = await withTaskGroup(of: Int.self) { group in
            for i in 0..<n {
                group.addTask { await postSMS(port: port, from: "+1555888\(String(format: "%04d", i))", to: "+15550000001", id: "k\(i)", text: "msg \(i)", client: client).0 }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 202 }, "statuses: \(statuses)")
        // Wait until every reply sits in the outbox (sends failing), then kill -9.
        let store = try openStore(url: "sqlite:\(dir)/ds.sqlite", configDir: dir, lockConnections: 1)
        var deadline = Date().addingTimeInterval(15)
        while (try store.pendingOutboxCount()) < n && Date() < deadline { try await Task.sleep(nanoseconds: 50_000_000) }
        #expect(try store.pendingOutboxCount() == n)
        gw.kill9()
        #expect(Self.sendsLines(dir).isEmpty)
        try FileManager.default.removeItem(atPath: "\(dir)/send-fail")
        gw = try GatewayProcess(config: "\(dir)/plugins.yaml", port: port, log: "\(dir)/gateway.log")
        try await gw.waitReady(client: client)
        deadline = Date().addingTimeInterval(30)
        while Self.sendsLines(dir).count < n && Date() < deadline { try await Task.sleep(nanoseconds: 100_000_000) }
        try await Task.sleep(nanoseconds: 1_000_000_000)   // anything sent twice would show up by now
        gw.terminate()
        let lines = Self.sendsLines(dir)
        #expect(lines.count == n)
        #expect(Set(lines).count == n)
        for i in 0..<n { #expect(lines.contains("reply:test:k\(i)\t+1555888\(String(format: "%04d", i))\tslow: msg \(i) (history: 0)")) }
        #expect(try store.pendingOutboxCount() == 0)
        store.close()
    }

    @Test func aTurnKilledMidCallIsResumedAtStartupAndAnsweredOnce() async throws {
        let dir = TestEnv.tempDir("recovery")
        let port = TestEnv.freePort()
        try Self.writeSlowAgentConfig(dir: dir, port: port, budget: "60s", delayMs: 1500)
        let client = HTTPClient()
        defer { client.shutdown() }
        var gw = try GatewayProcess(config: "\(dir)/plugins.yaml", port: port, log: "\(dir)/gateway.log")
        try await gw.waitReady(client: client)
        // Two messages stored, their agent calls under way, nobody answered: kill -9.
        let inFlight = Task {
            await withTaskGroup(of: Void.self) { g in
                for i in 0..<2 { g.addTask { _ = await postSMS(port: port, from: "+1555777000\(i)", to: "+15550000001", id: "r\(i)", text: "hello \(i)", client: client) } }
            }
        }
        let store = try openStore(url: "sqlite:\(dir)/ds.sqlite", configDir: dir, lockConnections: 1) as! SQLStore
        defer { store.close() }
        func count(_ sql: String) throws -> Int64 { try store.withConnection { try $0.one(sql, [])?[0].int ?? -1 } }
        var deadline = Date().addingTimeInterval(10)
        while try count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND status = 'received'") < 2 && Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        gw.kill9()
        _ = await inFlight.value
        #expect(try count("SELECT COUNT(*) FROM messages WHERE direction = 'out'") == 0, "killed before any reply")
        // No webhook is retried: the restarted gateway finds both and answers through the outbox.
        gw = try GatewayProcess(config: "\(dir)/plugins.yaml", port: port, log: "\(dir)/gateway.log")
        try await gw.waitReady(client: client)
        deadline = Date().addingTimeInterval(20)
        while Self.sendsLines(dir).count < 2 && Date() < deadline { try await Task.sleep(nanoseconds: 100_000_000) }
        try await Task.sleep(nanoseconds: 1_000_000_000)   // a second send would show up by now
        gw.terminate()
        #expect(Self.sendsLines(dir).sorted() == ["reply:test:r0\t+15557770000\tslow: hello 0 (history: 0)",
                                                 "reply:test:r1\t+15557770001\tslow: hello 1 (history: 0)"])
        #expect(try count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND status = 'answered'") == 2)
        let log = (try? String(contentsOfFile: "\(dir)/gateway.log", encoding: .utf8)) ?? ""
        #expect(log.contains("recovery: resumed 2 unanswered message(s)"), "\(log.suffix(2000))")
    }

    @Test func twoProcessesOnOnePostgres() async throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let url = try pg.newDatabase()
        let dir = TestEnv.tempDir("twoproc")
        let ports = [TestEnv.freePort(), TestEnv.freePort()]
        let client = HTTPClient()
        defer { client.shutdown() }
        let procs = try await GatewayProcess.startAll(ports: ports, dir: dir, client: client) { port in
            TestEnv.config(store: url, dir: dir, listen: "127.0.0.1:\(port)", routing: "max_concurrent: 32\ninline_reply_budget: 60s", agents: """
              - name: echo
                transport: echo
                max_sessions: 1000
                config: { prefix: echo, delay_ms: 2 }
            """)
        }
        let numbers = (0..<20).map { "+1555999\(String(format: "%04d", $0))" }
        // 200 messages at once: 10 per number, alternating between the two processes.
        let results = await withTaskGroup(of: (Int, String).self) { group in
            for k in 0..<10 {
                for (j, num) in numbers.enumerated() {
                    let port = ports[(j + k) % 2]
                    group.addTask { await postSMS(port: port, from: num, to: "+15550000001", id: "\(num)-\(k)", text: "n\(j) m\(k)", client: client) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for p in procs { p.terminate() }
        #expect(results.count == 200)
        #expect(results.allSatisfy { $0.0 == 200 }, "non-200: \(results.filter { $0.0 != 200 }.prefix(3))")
        let store = try openStore(url: url, configDir: dir, lockConnections: 1) as! SQLStore
        defer { store.close() }
        try store.withConnection { c in
            for num in numbers {
                let sessions = try c.query("SELECT id FROM sessions WHERE remote = ?", [.text(num)])
                #expect(sessions.count == 1, "\(num) has \(sessions.count) sessions")
                guard let sid = sessions.first?[0].int else { continue }
                let msgs = try c.query("SELECT direction, body FROM messages WHERE session_id = ? ORDER BY id", [.int(sid)])
                #expect(msgs.count == 20)
                // Gap-free: in, out, in, out...; each reply answers the message before it and
                // saw exactly the history stored before it (default depth 20).
                for (i, m) in msgs.enumerated() {
                    #expect(m[0].text == (i % 2 == 0 ? "in" : "out"))
                    if i % 2 == 1 {
                        #expect(m[1].text == "echo: \(msgs[i - 1][1].text ?? "") (history: \(min(i - 1, 20)))")
                    }
                }
            }
            let calls = try c.one("SELECT COUNT(*) FROM messages WHERE direction = 'out'", [])?[0].int
            #expect(calls == 200)
        }
    }
}
