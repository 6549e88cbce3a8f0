import Foundation
import Testing
@testable import Host

/// What an independent hostile run found in the router (issue 12, item 10): replies lost
/// after a missed inline budget, one hanging agent stalling the others, and the
/// `max_sessions` default turning away distinct numbers.
@Suite(.serialized) struct RouterIsolationTests {
    static func sends(_ dir: String) -> [String] { RouterDeliveryTests.sendsLines(dir) }

    static func waitFor(_ seconds: Double, _ cond: () throws -> Bool) async rethrows {
        let deadline = Date().addingTimeInterval(seconds)
        while try !cond() && Date() < deadline { try? await Task.sleep(nanoseconds: 50_000_000) }
    }

    /// One slot for turns, a 100 ms budget: the first user's slow call holds the slot, so
    /// the others' budgets pass while they wait. Then the second finds no agent (its only
    /// agent is full) and the third sends STOP: both replies were decided after the channel
    /// was told "deferred", so they must go out through the outbox, not be stored as
    /// answered inline and never sent.
    @Test func replyDecidedAfterTheBudgetGoesThroughTheOutbox() async throws {
        let dir = TestEnv.tempDir("lostreply")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir,
                                                           routing: "max_concurrent: 1\ninline_reply_budget: 100ms\nno_agent_reply: busy", agents: """
          - name: slow
            transport: echo
            max_sessions: 1
            config: { prefix: slow, delay_ms: 700 }
        """), dir: dir)
        async let a = g.submit(from: "+15552220001", id: "l1", text: "first")
        try await Task.sleep(nanoseconds: 50_000_000)
        async let b = g.submit(from: "+15552220002", id: "l2", text: "second")
        async let c = g.submit(from: "+15552220003", id: "l3", text: "STOP")
        let (ra, rb, rc) = await (a, b, c)
        #expect(ra == .deferred)
        #expect(rb == .deferred)
        #expect(rc == .deferred)
        try await Self.waitFor(10) { Self.sends(dir).count >= 3 }
        try await Task.sleep(nanoseconds: 500_000_000)
        let lines = Self.sends(dir)
        #expect(lines.contains("reply:test:l1\t+15552220001\tslow: first (history: 0)"), "\(lines)")
        #expect(lines.contains { $0.hasSuffix("\t+15552220002\tbusy") }, "\(lines)")
        #expect(lines.contains { $0.hasSuffix("\t+15552220003\t\(RoutingConfig().optOutReply)") }, "\(lines)")
        #expect(lines.count == 3, "\(lines)")
        // Nothing is stored as answered inline that the channel never got.
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status = 'replied_inline'") == 0)
        await g.stop()
    }

    /// A hanging agent A next to a healthy B, each with its own number and pool, four turn
    /// slots in all. A's hung calls may hold only A's share of them (default `max_in_flight`:
    /// `max_concurrent` / number of agents = 2): A's further users are told at once that the
    /// agents are busy, and B's users are answered inline, promptly, while A's calls hang.
    @Test func aHangingAgentCostsOnlyItsOwnConversations() async throws {
        let dir = TestEnv.tempDir("hang")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir,
                                                           routing: "max_concurrent: 4\ninline_reply_budget: 6s\nno_agent_reply: busy", agents: """
          - name: hanging
            transport: echo
            config: { prefix: hanging, delay_ms: 9000 }
          - name: healthy
            transport: echo
            config: { prefix: healthy }
        """, routes: """
        routes:
          - to: "+15550000011"
            pool: [hanging]
          - to: "+15550000022"
            pool: [healthy]
        """), dir: dir)
        let hung = Task {
            await withTaskGroup(of: SubmitOutcome.self) { group in
                for i in 0..<6 { group.addTask { await g.submit(from: "+1555300000\(i)", to: "+15550000011", id: "h\(i)", text: "x") } }
                return await group.reduce(into: [SubmitOutcome]()) { $0.append($1) }
            }
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        let started = Date()
        for i in 0..<5 {
            #expect(await g.reply(from: "+1555400000\(i)", to: "+15550000022", id: "ok\(i)", text: "hi") == "healthy: hi (history: 0)")
        }
        let took = Date().timeIntervalSince(started)
        // Behind the hung calls they would wait 9 s (and be deferred at the 6 s budget); a
        // loose bound, for a loaded test machine.
        #expect(took < 4, "the healthy agent's users waited \(took) s behind the hanging agent")
        let outcomes = await hung.value
        // Two hung calls (deferred after the budget), the other four told at once.
        #expect(outcomes.filter { $0 == .reply("busy") }.count == 4, "\(outcomes)")
        #expect(outcomes.filter { $0 == .deferred }.count == 2, "\(outcomes)")
        await g.stop()
    }

    /// With the default config (no `max_sessions`) an agent serves any number of distinct
    /// numbers; the old default of 100 sessions turned the 101st number away.
    @Test func defaultConfigServesManyDistinctNumbers() async throws {
        let dir = TestEnv.tempDir("manynumbers")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: """
          - name: solo
            transport: echo
            config: { prefix: solo }
        """), dir: dir)
        var answered = 0
        for i in 0..<150 {
            if await g.reply(from: "+1555600\(String(format: "%04d", i))", id: "u\(i)", text: "hi") == "solo: hi (history: 0)" { answered += 1 }
        }
        #expect(answered == 150)
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 150)
        await g.stop()
    }

    /// Two numbers routed to two pools; pool A's agents all fail. A's users get
    /// `no_agent_reply` (on failover after a failed call, and when a session's agent is
    /// unusable before the call); B's agent is never called for them.
    @Test func failoverStaysInTheSessionsRoutePool() async throws {
        let dir = TestEnv.tempDir("pools")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir,
                                                           routing: "no_agent_reply: busy\nmin_health: 0", agents: """
          - name: a1
            transport: flaky
            config: { prefix: a1, fail_file: \(dir)/a-fail }
          - name: a2
            transport: flaky
            config: { prefix: a2, fail_file: \(dir)/a-fail }
          - name: b
            transport: echo
            config: { prefix: b }
        """, routes: """
        routes:
          - to: "+15550000011"
            pool: [a1, a2]
          - to: "+15550000022"
            pool: [b]
        """), dir: dir)
        #expect(await g.reply(from: "+15557000001", to: "+15550000011", id: "p1", text: "one") == "a1: one (history: 0)")
        #expect(await g.reply(from: "+15557000002", to: "+15550000022", id: "p2", text: "one") == "b: one (history: 0)")
        FileManager.default.createFile(atPath: "\(dir)/a-fail", contents: Data())
        // The session's agent fails (and its retry): failover to a2, which fails too: no agent left in the pool.
        #expect(await g.reply(from: "+15557000001", to: "+15550000011", id: "p3", text: "two") == "busy")
        // Until a1's breaker opens, each message tries the pool again; then the session's
        // agent is unusable before any call: the same failover path, the same pool.
        for i in 0..<4 { #expect(await g.reply(from: "+15557000001", to: "+15550000011", id: "p4-\(i)", text: "more") == "busy") }
        #expect(g.router.agents[0].health.breaker == .open)
        #expect(await g.reply(from: "+15557000001", to: "+15550000011", id: "p5", text: "again") == "busy")
        // A new user of pool A too.
        #expect(await g.reply(from: "+15557000003", to: "+15550000011", id: "p6", text: "new") == "busy")
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND agent = 'b'") == 1)
        #expect(try g.scalar("SELECT COUNT(*) FROM failovers WHERE new_agent = 'b'") == 0)
        // B's user is still served by b.
        #expect(await g.reply(from: "+15557000002", to: "+15550000022", id: "p7", text: "two") == "b: two (history: 2)")
        await g.stop()
    }

    /// Every message the gateway sends is an event: a no-agent reply (here after a failed
    /// call and a deferred answer, so it goes out through the channel's `send`) emits
    /// `message.sent`.
    @Test func noAgentReplyEmitsMessageSent() async throws {
        let dir = TestEnv.tempDir("noagentevent")
        
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir,
                                                           routing: "no_agent_reply: busy\nmin_health: 0\ninline_reply_budget: 0s", agents: """
          - name: slowfail
            transport: echo
            config: { prefix: x, fail: true }
        """, extraPlugins: """
          - id: events
            library: file-sink
            config: { path: \(dir)/events.jsonl, fsync: always }
        """), dir: dir)
        #expect(await g.submit(from: "+15558000001", id: "e1", text: "hello") == .deferred)
        try await Self.waitFor(10) { Self.sends(dir).count >= 1 }
        #expect(Self.sends(dir) == ["reply:test:e1\t+15558000001\tbusy"])
        func events() -> [JSONValue] {
            ((try? String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap { try? JSONValue.parse(String($0)) }.filter { $0["correlation_id"] == .string("test:e1") }
        }
        try await Self.waitFor(5) { events().contains { $0["type"] == .string("message.sent") } }
        let sent = events().filter { $0["type"] == .string("message.sent") }
        #expect(sent.count == 1, "\(events())")
        #expect(sent.first?["reply"] == .string("no_agent"))
        await g.stop()
    }
}
