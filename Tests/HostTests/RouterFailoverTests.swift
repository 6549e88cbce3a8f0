import Foundation
import Testing
@testable import Host

/// Failover with history, the circuit breaker and probes.
@Suite(.serialized) struct RouterFailoverTests {
    @Test func failoverCarriesHistoryToTheNextAgent() async throws {
        let dir = TestEnv.tempDir("failover")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: """
          - name: first
            transport: flaky
            config: { prefix: first, fail_file: \(dir)/first-fail }
          - name: second
            transport: echo
            config: { prefix: second }
        """), dir: dir)
        #expect(await g.reply(from: "+15556660001", id: "f1", text: "one") == "first: one (history: 0)")
        #expect(await g.reply(from: "+15556660001", id: "f2", text: "two") == "first: two (history: 2)")
        FileManager.default.createFile(atPath: "\(dir)/first-fail", contents: Data())
        // first fails (and its retry); the session moves to second, which gets the 4 earlier messages.
        #expect(await g.reply(from: "+15556660001", id: "f3", text: "three") == "second: three (history: 4)")
        #expect(await g.reply(from: "+15556660001", id: "f4", text: "four") == "second: four (history: 6)")
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 1)
        let row = try g.store.withConnection { try $0.one("SELECT old_agent, new_agent, reason FROM failovers", []) }
        #expect(row?[0].text == "first")
        #expect(row?[1].text == "second")
        #expect(row?[2].text?.contains("call failed") == true)
        await g.stop()
    }

    @Test func breakerOpensThenRecoversThroughHalfOpen() async throws {
        let dir = TestEnv.tempDir("breaker")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir,
                                                           routing: "breaker_cooldown: 1s\nno_agent_reply: later\nmin_health: 0", agents: """
          - name: solo
            transport: flaky
            config: { prefix: solo, fail_file: \(dir)/solo-fail }
        """), dir: dir)
        let health = g.router.agents[0].health
        #expect(await g.reply(from: "+15556660002", id: "b0", text: "hello") == "solo: hello (history: 0)")
        FileManager.default.createFile(atPath: "\(dir)/solo-fail", contents: Data())
        // Each message (a new number each, so a new session; min_health 0 keeps the agent
        // eligible): a call and one retry, both failing -> the user still gets an answer.
        for i in 1...3 { #expect(await g.reply(from: "+1555666010\(i)", id: "b\(i)", text: "m\(i)") == "later") }
        #expect(health.breaker == .open)
        #expect(health.score == 0)
        // Open: no call is even tried.
        #expect(!health.allowCall())
        try FileManager.default.removeItem(atPath: "\(dir)/solo-fail")
        try await Task.sleep(nanoseconds: 1_200_000_000)
        #expect(health.breaker == .halfOpen)
        // The trial call succeeds and closes the breaker; the first session kept its history.
        #expect(await g.reply(from: "+15556660002", id: "b9", text: "back") == "solo: back (history: 2)")
        #expect(health.breaker == .closed)
        await g.stop()
    }

    @Test func failedProbesTakeAnAgentOutOfRotationUntilTheySucceed() async throws {
        let dir = TestEnv.tempDir("probes")
        FileManager.default.createFile(atPath: "\(dir)/p-fail", contents: Data())
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir,
                                                           routing: "probe_interval: 100ms", agents: """
          - name: probed
            transport: flaky
            config: { prefix: p, fail_file: \(dir)/p-fail }
          - name: steady
            transport: echo
            config: { prefix: steady }
        """, extraPlugins: """
          - id: events
            library: file-sink
            config: { path: \(dir)/events.jsonl, fsync: always }
        """), dir: dir)
        let health = g.router.agents[0].health
        var deadline = Date().addingTimeInterval(5)
        while health.inRotation && Date() < deadline { try await Task.sleep(nanoseconds: 50_000_000) }
        #expect(!health.inRotation)
        #expect(await g.reply(from: "+15556660003", id: "p1", text: "x") == "steady: x (history: 0)")
        try FileManager.default.removeItem(atPath: "\(dir)/p-fail")
        deadline = Date().addingTimeInterval(5)
        while !health.inRotation && Date() < deadline { try await Task.sleep(nanoseconds: 50_000_000) }
        #expect(health.inRotation)
        await g.stop()
        // Both changes were reported as events: out of rotation, then back.
        let changes = try String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONValue.parse(String($0)) }.filter { $0["type"] == .string("agent.health_changed") && $0["agent"] == .string("probed") }
        #expect(changes.contains { $0["in_rotation"] == .bool(false) })
        #expect(changes.last?["in_rotation"] == .bool(true))
    }

    @Test func healthUnitRules() {
        nonisolated(unsafe) var now = 0.0
        let h = AgentHealth(name: "u", cooldown: 10, slowMs: 1000, clock: { now })
        for _ in 0..<4 { h.record(success: false, latencyMs: 5) }
        #expect(h.breaker == .closed)
        h.record(success: false, latencyMs: 5)
        #expect(h.breaker == .open)
        #expect(!h.allowCall())
        now = 11
        #expect(h.allowCall())          // the one trial
        #expect(!h.allowCall())         // not two
        h.record(success: false, latencyMs: 5)
        #expect(h.breaker == .open)     // trial failed: open again
        now = 22
        #expect(h.allowCall())
        h.record(success: true, latencyMs: 500)
        #expect(h.breaker == .closed)
        #expect(h.latencyScore == 50)
        for _ in 0..<3 { h.recordProbe(ok: false) }
        #expect(!h.inRotation)
        #expect(h.score == 0)
        h.recordProbe(ok: true)
        #expect(h.inRotation)
    }

    /// The readers use a published snapshot and a clean agent's successes take the mutex
    /// only if it is free: the snapshot must still follow every change, from any thread.
    @Test func healthSnapshotFollowsChangesUnderConcurrency() {
        let h = AgentHealth(name: "c", cooldown: 1000, slowMs: 1000)
        h.record(success: true, latencyMs: 100)
        #expect(h.latencyScore == 90)   // a clean agent's success still moves the latency
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<5_000 {
                h.record(success: true, latencyMs: 100)
                #expect(h.allowCall())
                #expect(h.breaker == .closed)
                #expect(h.score == 100)
            }
        }
        #expect(h.latencyScore == 90)
        // Failures from several threads at once: the fifth in a row opens the breaker.
        DispatchQueue.concurrentPerform(iterations: 5) { _ in h.record(success: false, latencyMs: 100) }
        #expect(h.breaker == .open)
        #expect(h.score == 0)
        #expect(!h.allowCall())
        // Not clean any more: a success is recorded under the mutex (never dropped), and
        // recovery is visible to the lock-free readers.
        h.recordProbe(ok: true)
        #expect(h.inRotation)
        #expect(h.breaker == .open)   // the cooldown has not passed
    }
}
