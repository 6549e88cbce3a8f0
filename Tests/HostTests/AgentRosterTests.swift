import Foundation
import Synchronization
import Testing
@testable import Host

/// The router's mutable agent set (`AgentRoster`): drain, disable, remove, add and replace
/// agents on a running gateway (real router, real SQLite store, the C echo agent).
@Suite(.serialized) struct AgentRosterTests {
    static func twoAgents(_ dir: String) -> String {
        TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: """
          - name: a
            transport: echo
            config: { prefix: a }
          - name: b
            transport: echo
            config: { prefix: b }
        """)
    }

    func failoverReasons(_ g: TestGateway) throws -> [String] {
        try g.store.withConnection { try $0.query("SELECT old_agent || '>' || new_agent || ':' || reason FROM failovers ORDER BY id", []) }
            .compactMap { $0[0].text }
    }

    @Test func drainingKeepsSessionsButTakesNoNewOnes() async throws {
        let dir = TestEnv.tempDir("roster-drain")
        let g = try await TestGateway(yaml: Self.twoAgents(dir), dir: dir)
        #expect(await g.reply(from: "+15557770001", id: "d1", text: "one") == "a: one (history: 0)")
        #expect(g.router.setAgentState("a", .draining))
        #expect(!g.router.setAgentState("nobody", .draining))
        // The existing session stays with a; a new number goes to b.
        #expect(await g.reply(from: "+15557770001", id: "d2", text: "two") == "a: two (history: 2)")
        #expect(await g.reply(from: "+15557770002", id: "d3", text: "new") == "b: new (history: 0)")
        #expect(g.router.setAgentState("a", .active))
        #expect(await g.reply(from: "+15557770003", id: "d4", text: "again") == "a: again (history: 0)")
        #expect(try failoverReasons(g).isEmpty)
        await g.stop()
    }

    @Test func disabledAgentsSessionsFailOverWithHistory() async throws {
        let dir = TestEnv.tempDir("roster-disable")
        let g = try await TestGateway(yaml: Self.twoAgents(dir), dir: dir)
        #expect(await g.reply(from: "+15557770011", id: "x1", text: "one") == "a: one (history: 0)")
        g.router.setAgentState("a", .disabled)
        #expect(await g.reply(from: "+15557770011", id: "x2", text: "two") == "b: two (history: 2)")
        #expect(await g.reply(from: "+15557770012", id: "x3", text: "new") == "b: new (history: 0)")
        #expect(try failoverReasons(g) == ["a>b:agent disabled"])
        // Nobody left: the no-agent reply, nothing lost.
        g.router.setAgentState("b", .disabled)
        #expect(await g.reply(from: "+15557770013", id: "x4", text: "none") == g.router.routing.noAgentReply)
        await g.stop()
    }

    @Test func removedAgentsSessionsMoveWithHistory() async throws {
        let dir = TestEnv.tempDir("roster-remove")
        let g = try await TestGateway(yaml: Self.twoAgents(dir), dir: dir)
        #expect(await g.reply(from: "+15557770021", id: "r1", text: "one") == "a: one (history: 0)")
        #expect(await g.reply(from: "+15557770021", id: "r2", text: "two") == "a: two (history: 2)")
        let handle = g.router.agent(named: "a")!.handle
        #expect(g.router.removeAgent("a"))
        #expect(!g.router.removeAgent("a"))
        #expect(g.router.agents.map(\.name) == ["b"])
        #expect(await g.reply(from: "+15557770021", id: "r3", text: "three") == "b: three (history: 4)")
        #expect(try failoverReasons(g) == ["a>b:agent removed"])
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 1)
        // The removed agent's transport handle is closed (no call held it).
        let deadline = Date().addingTimeInterval(5)
        while g.gateway.plugins.agents.contains(where: { $0 === handle }) && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(!g.gateway.plugins.agents.contains { $0 === handle })
        await g.stop()
    }

    /// A message stored but never answered (its turn died) whose session's agent was then
    /// removed: the repeated webhook resumes it with another agent, with the history.
    @Test func unansweredMessageOfARemovedAgentResumesElsewhere() async throws {
        let dir = TestEnv.tempDir("roster-resume")
        let g = try await TestGateway(yaml: Self.twoAgents(dir), dir: dir)
        #expect(await g.reply(from: "+15557770041", id: "u1", text: "one") == "a: one (history: 0)")
        let sid = try g.scalar("SELECT id FROM sessions")
        // The turn of u2 stored its message and died before the agent answered.
        _ = try g.store.beginTurn(TurnStart(channel: "test", channelMessageId: "u2", remote: "+15557770041", local: "+15550000001",
                                            text: "two", nowMs: nowMillis(), sessionId: sid, newAgent: nil))
        #expect(g.router.removeAgent("a"))
        // The channel retries the webhook: b answers it, with the history before it.
        #expect(await g.reply(from: "+15557770041", id: "u2", text: "two") == "b: two (history: 2)")
        #expect(try failoverReasons(g) == ["a>b:agent removed"])
        await g.stop()
    }

    @Test func runtimeAgentsCanBeAddedAndReplaced() async throws {
        let dir = TestEnv.tempDir("roster-add")
        let g = try await TestGateway(yaml: Self.twoAgents(dir), dir: dir)
        let c = AgentEntry(name: "c", transport: "echo", configJSON: #"{"prefix":"c"}"#)
        #expect(g.router.putAgent(handle: try g.gateway.plugins.openAgent(c), entry: c, source: .runtime) == .added)
        #expect(g.router.agents.map(\.name) == ["a", "b", "c"])
        g.router.setAgentState("a", .draining)
        g.router.setAgentState("b", .draining)
        #expect(await g.reply(from: "+15557770031", id: "n1", text: "hi") == "c: hi (history: 0)")
        // Same name, new config: the session continues with the new agent, history kept.
        let old = g.router.agent(named: "c")!
        let c2 = AgentEntry(name: "c", transport: "echo", configJSON: #"{"prefix":"c2"}"#)
        #expect(g.router.putAgent(handle: try g.gateway.plugins.openAgent(c2), entry: c2, source: .runtime) == .replaced)
        #expect(old.isRetired)
        #expect(g.router.agents.map(\.name) == ["a", "b", "c"])
        #expect(g.router.agent(named: "c")?.index == old.index)
        #expect(await g.reply(from: "+15557770031", id: "n2", text: "again") == "c2: again (history: 2)")
        // Putting the running agent again changes nothing (it is not retired).
        let current = try #require(g.router.agent(named: "c"))
        #expect(g.router.roster.put(current) == .replaced)
        #expect(!current.isRetired)
        // A transport that is not one, or a config the agent schema refuses: clear errors, nothing opened.
        #expect(throws: StartupErrors.self) { try g.gateway.plugins.openAgent(AgentEntry(name: "d", transport: "nope")) }
        #expect(g.gateway.plugins.agentProblems(AgentEntry(name: "d", transport: "nope")).first?.contains("not a plugin offering") == true)
        await g.stop()
    }

    /// A retired agent's handle is closed only once no call or probe holds it.
    @Test func retiredHandleClosesAfterTheLastCall() async throws {
        let dir = TestEnv.tempDir("roster-pin")
        let g = try await TestGateway(yaml: Self.twoAgents(dir), dir: dir)
        let real = g.router.agent(named: "a")!
        let closed = Atomic<Int>(0)
        let a = RoutedAgent(handle: real.handle, entry: real.entry, health: real.health, index: 9, maxInFlight: 2, metrics: real.metrics,
                            source: .runtime, closer: { _ in closed.add(1, ordering: .relaxed) })
        #expect(a.reserveCall())
        #expect(a.pin())
        a.retire()
        #expect(!a.reserveCall())    // no new call once retired
        #expect(!a.pin())
        #expect(!a.takesNewSessions)
        a.endCall()
        try await Task.sleep(nanoseconds: 100_000_000)
        #expect(closed.load(ordering: .relaxed) == 0)   // the probe still holds it
        a.unpin()
        let deadline = Date().addingTimeInterval(5)
        while closed.load(ordering: .relaxed) == 0 && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(closed.load(ordering: .relaxed) == 1)
        a.retire()
        try await Task.sleep(nanoseconds: 100_000_000)
        #expect(closed.load(ordering: .relaxed) == 1)   // once
        await g.stop()
    }
}
