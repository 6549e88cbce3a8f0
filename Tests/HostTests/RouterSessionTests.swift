import Foundation
import Testing
@testable import Host

/// Sessions, routes, agent selection and the no-agent reply, on the SQLite store
/// (and the sticky/dedupe basics on PostgreSQL too).
@Suite(.serialized) struct RouterSessionTests {
    static let twoEchoes = """
      - name: alpha
        transport: echo
        max_sessions: 10
        config: { prefix: alpha }
      - name: beta
        transport: echo
        max_sessions: 10
        config: { prefix: beta }
    """

    func start(_ name: String, store: String? = nil, routing: String = "", agents: String = twoEchoes, routes: String = "") async throws -> TestGateway {
        let dir = TestEnv.tempDir(name)
        return try await TestGateway(yaml: TestEnv.config(store: store ?? "sqlite:\(dir)/ds.sqlite", dir: dir, routing: routing, agents: agents, routes: routes), dir: dir)
    }

    @Test func stickySessionCarriesHistory() async throws {
        let g = try await start("sticky")
        #expect(await g.reply(from: "+15551110001", id: "m1", text: "hi") == "alpha: hi (history: 0)")
        #expect(await g.reply(from: "+15551110001", id: "m2", text: "again") == "alpha: again (history: 2)")
        #expect(await g.reply(from: "+15551110001", id: "m3", text: "third") == "alpha: third (history: 4)")
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 1)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE session_id IS NOT NULL") == 6)
        // History entries carry role and order: user, assistant, user, ...
        let h = try g.store.history(sessionId: 1, limit: 20)
        #expect(h.map(\.role) == ["user", "assistant", "user", "assistant", "user", "assistant"])
        #expect(h.first?.text == "hi")
        await g.stop()
    }

    @Test func sessionTimesOut() async throws {
        let dir = TestEnv.tempDir("timeout")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: "session_timeout: 1s",
                                                           agents: Self.twoEchoes, extraPlugins: """
          - id: events
            library: file-sink
            config: { path: \(dir)/events.jsonl, fsync: always }
        """), dir: dir)
        #expect(await g.reply(from: "+15551110002", id: "m1", text: "one") == "alpha: one (history: 0)")
        try await Task.sleep(nanoseconds: 1_300_000_000)
        let second = await g.reply(from: "+15551110002", id: "m2", text: "two")
        #expect(second == "alpha: two (history: 0)")
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 2)
        try await Task.sleep(nanoseconds: 300_000_000)
        await g.stop()
        // The first session's expiry was reported once, as an event; the second has not expired yet.
        let expired = try String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONValue.parse(String($0)) }.filter { $0["type"] == .string("session.expired") }
        #expect(expired.map { $0["session"] } == [.string("1")])
        #expect(expired.first?["agent"] == .string("alpha"))
    }

    @Test func historyDepthPerAgent() async throws {
        let g = try await start("depth", agents: """
          - name: alpha
            transport: echo
            history_depth: 5
            config: { prefix: alpha }
        """)
        for i in 0..<5 { _ = await g.reply(from: "+15551110003", id: "d\(i)", text: "m\(i)") }
        #expect(await g.reply(from: "+15551110003", id: "d9", text: "last") == "alpha: last (history: 5)")
        await g.stop()
    }

    @Test func routesByKeywordAndNumber() async throws {
        let g = try await start("routes", routes: """
        routes:
          - keyword: sales
            agent: beta
          - to: "+15559990000"
            pool: [beta]
        """)
        #expect(await g.reply(from: "+15552220001", id: "r1", text: "SALES please") == "beta: SALES please (history: 0)")
        #expect(await g.reply(from: "+15552220002", to: "+15559990000", id: "r2", text: "hello") == "beta: hello (history: 0)")
        #expect(await g.reply(from: "+15552220003", id: "r3", text: "hello") == "alpha: hello (history: 0)")
        await g.stop()
    }

    @Test func selectionPrefersFreeCapacityThenOrder() async throws {
        let g = try await start("select", agents: """
          - name: alpha
            transport: echo
            max_sessions: 2
            config: { prefix: alpha }
          - name: beta
            transport: echo
            max_sessions: 2
            config: { prefix: beta }
        """)
        // Equal health and latency: alpha (listed first); then alpha is 50% used, beta wins; then tie again -> alpha; then beta; then full.
        #expect(await g.reply(from: "+15553330001", id: "s1", text: "x").hasPrefix("alpha:"))
        #expect(await g.reply(from: "+15553330002", id: "s2", text: "x").hasPrefix("beta:"))
        #expect(await g.reply(from: "+15553330003", id: "s3", text: "x").hasPrefix("alpha:"))
        #expect(await g.reply(from: "+15553330004", id: "s4", text: "x").hasPrefix("beta:"))
        let full = await g.reply(from: "+15553330005", id: "s5", text: "x")
        #expect(full == RoutingConfig().noAgentReply)
        // The message is kept.
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE status = 'no_agent' AND body = 'x'") == 1)
        await g.stop()
    }

    @Test func unhealthyAgentIsNotChosen() async throws {
        let g = try await start("minhealth", routing: "min_health: 70")
        let alpha = g.router.agents[0]
        alpha.health.record(success: false, latencyMs: 1)   // 70
        alpha.health.record(success: false, latencyMs: 1)   // 49 < 70
        #expect(alpha.health.score < 70)
        #expect(await g.reply(from: "+15553330010", id: "h1", text: "x").hasPrefix("beta:"))
        await g.stop()
    }

    @Test func noAgentReplyIsConfigurable() async throws {
        let g = try await start("noagent", routing: "no_agent_reply: \"later, please\"", agents: """
          - name: broken
            transport: echo
            config: { fail: true }
        """)
        #expect(await g.reply(from: "+15553330020", id: "n1", text: "hello") == "later, please")
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND body = 'hello'") == 1)
        await g.stop()
    }

    @Test func dedupeAnswersTheSameReplyWithOneAgentCall() async throws {
        let g = try await start("dedupe")
        async let a = g.reply(from: "+15554440001", id: "dup-1", text: "hello")
        async let b = g.reply(from: "+15554440001", id: "dup-1", text: "hello")
        let (ra, rb) = await (a, b)
        #expect(ra == "alpha: hello (history: 0)")
        #expect(rb == ra)
        #expect(await g.reply(from: "+15554440001", id: "dup-1", text: "hello") == ra)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'out'") == 1)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'in'") == 1)
        await g.stop()
    }

    @Test func aTurnThatDiedBeforeItsReplyIsResumedOnRetry() async throws {
        let g = try await start("resume")
        // As if a process stored the message and died before the agent answered.
        _ = try g.store.beginTurn(TurnStart(channel: "test", channelMessageId: "crashed-1", remote: "+15554440009", local: "+15550000001",
                                            text: "are you there", nowMs: nowMillis(), sessionId: nil, newAgent: "beta"))
        // The webhook retry reaches the session's agent once and gets the reply.
        #expect(await g.reply(from: "+15554440009", id: "crashed-1", text: "are you there") == "beta: are you there (history: 0)")
        #expect(await g.reply(from: "+15554440009", id: "crashed-1", text: "are you there") == "beta: are you there (history: 0)")
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'out'") == 1)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'in'") == 1)
        await g.stop()
    }

    @Test func complianceKeywordsNeverReachAnAgent() async throws {
        let g = try await start("stop")
        let r = RoutingConfig()
        #expect(await g.reply(from: "+15554440002", id: "c1", text: " stop ") == r.optOutReply)
        #expect(await g.reply(from: "+15554440002", id: "c2", text: "are you there?") == "")
        #expect(await g.reply(from: "+15554440002", id: "c3", text: "HELP") == r.helpReply)
        #expect(await g.reply(from: "+15554440002", id: "c4", text: "Start") == r.optInReply)
        #expect(await g.reply(from: "+15554440002", id: "c5", text: "back") == "alpha: back (history: 0)")
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND agent IS NOT NULL") == 1)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE status = 'opted_out'") == 1)
        await g.stop()
    }

    @Test func readyzChecksTheStore() async throws {
        let g = try await start("ready")
        #expect(g.gateway.isReady())
        await g.stop()
    }

    @Test func readyzFailsWhenTheStoreStopsAnswering() async throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let url = try pg.newDatabase()
        let g = try await start("pg-ready", store: url)
        let client = HTTPClient()
        defer { client.shutdown() }
        func readyz() async -> Int {
            await withCheckedContinuation { c in
                let e = client.request(method: "GET", url: "http://127.0.0.1:\(g.port)/readyz", headers: [], body: [], timeoutMs: 5000) { r in
                    if case .success(let resp) = r { c.resume(returning: resp.status) } else { c.resume(returning: -1) }
                }
                if e != nil { c.resume(returning: -1) }
            }
        }
        #expect(await readyz() == 200)
        let admin = try PostgresConnection(url: "postgres://postgres@127.0.0.1:\(pg.port)/postgres")
        try admin.execute("DROP DATABASE \(url.split(separator: "/").last!) WITH (FORCE)")
        #expect(await readyz() == 503)
        await g.stop()
    }

    @Test func postgresStickyAndDedupe() async throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let g = try await start("pg-basic", store: try pg.newDatabase())
        #expect(g.store.backend == "postgres")
        #expect(await g.reply(from: "+15555550001", id: "p1", text: "hi") == "alpha: hi (history: 0)")
        #expect(await g.reply(from: "+15555550001", id: "p2", text: "again") == "alpha: again (history: 2)")
        #expect(await g.reply(from: "+15555550001", id: "p2", text: "again") == "alpha: again (history: 2)")
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 1)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages") == 4)
        #expect(g.gateway.isReady())
        await g.stop()
    }
}
