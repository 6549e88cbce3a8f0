import Foundation
import PluginAPI
import Testing
@testable import Host

/// A plugin that breaks the completion contract (Tests/Fixtures/contract-breaker) costs only
/// its own calls: every extra completion or response is dropped, counted in
/// darkspere_plugin_contract_violations_total{plugin,kind} and logged once per plugin.
@Suite(.serialized) struct ContractViolationTests {
    static let library = TestSupport.library("fixture-contract-breaker")

    static func yaml(requestTimeout: String = "20s") -> String {
        TestSupport.yaml(plugins: """
              - id: breaker
                library: \(library)
            """, agents: """
              - name: twice
                transport: breaker
                config: { mode: twice }
              - name: twice-async
                transport: breaker
                config: { mode: twice-async }
              - name: refuse-after
                transport: breaker
                config: { mode: refuse-after }
              - name: after-cancel
                transport: breaker
                config: { mode: after-cancel }
              - name: after-destroy
                transport: breaker
                config: { mode: after-destroy }
              - name: ok
                transport: breaker
                config: { mode: ok }
            """).replacingOccurrences(of: "request_timeout: 20s", with: "request_timeout: \(requestTimeout)")
    }

    static func violations(_ runtime: HostRuntime, _ kind: String) -> Double {
        runtime.metrics.metric(.counter, "darkspere_plugin_contract_violations_total",
                               labels: [("plugin", "breaker"), ("kind", kind)])?.current ?? -1
    }

    /// Polls until `kind` reached `count` (violations from plugin threads arrive later).
    static func waitFor(_ runtime: HostRuntime, _ kind: String, _ count: Double) async -> Double {
        for _ in 0..<250 where violations(runtime, kind) < count { try? await Task.sleep(for: .milliseconds(20)) }
        return violations(runtime, kind)
    }

    func call(_ text: String, timeoutMs: UInt32 = 15_000) -> AgentCall {
        var c = AgentCall()
        c.text = text
        c.timeoutMs = timeoutMs
        return c
    }

    func agent(_ set: PluginSet, _ name: String) throws -> AgentHandle { try #require(set.agents.first { $0.name == name }) }

    @Test func anAgentCompletingTwiceGetsTheFirstOutcomeAndIsCounted() async throws {
        let runtime = HostRuntime(logLevel: .error)
        let set = try PluginSet.start(try TestSupport.config(Self.yaml()), runtime: runtime)
        defer { set.shutdown() }
        let a = try agent(set, "twice")
        let r = await a.transport.call(a, call("x"))
        #expect(r.status == DS_OK && r.text == "first")
        #expect(Self.violations(runtime, "completed_twice") == 1)
        // From a plugin thread, after the operation function returned.
        let b = try agent(set, "twice-async")
        let r2 = await b.transport.call(b, call("y"))
        #expect(r2.status == DS_OK && r2.text == "first")
        #expect(await Self.waitFor(runtime, "completed_twice", 2) == 2)
        // probe() completes twice in every mode.
        #expect(await a.transport.probe(a).status == DS_OK)
        #expect(Self.violations(runtime, "completed_twice") == 3)
        // The well-behaved agent of the same instance still works and adds nothing.
        let ok = try agent(set, "ok")
        #expect(await ok.transport.call(ok, call("z")).text == "ok")
        #expect(Self.violations(runtime, "completed_twice") == 3)
        // Logged once per plugin, not once per violation.
        #expect(runtime.contractViolatorsLogged == 1)
        #expect(ok.transport.handle.violationsLoggedCount.load(ordering: .relaxed) == 1)
    }

    /// Many double completions from several tasks at once: the op is never released twice
    /// (with the op's address as ds_op *, this crashed with a reference-count underflow).
    @Test func manyConcurrentDoubleCompletionsDoNotCrashTheHost() async throws {
        let runtime = HostRuntime(logLevel: .error)
        let set = try PluginSet.start(try TestSupport.config(Self.yaml()), runtime: runtime)
        defer { set.shutdown() }
        let a = try agent(set, "twice"), b = try agent(set, "twice-async")
        let texts = await withTaskGroup(of: String.self) { group in
            for i in 0..<400 {
                group.addTask { let h = i % 4 == 0 ? b : a; return await h.transport.call(h, call("x")).text }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(texts.count == 400 && texts.allSatisfy { $0 == "first" })
        #expect(await Self.waitFor(runtime, "completed_twice", 400) == 400)
    }

    @Test func aCompletionFollowedByARefusalIsCounted() async throws {
        let runtime = HostRuntime(logLevel: .error)
        let set = try PluginSet.start(try TestSupport.config(Self.yaml()), runtime: runtime)
        defer { set.shutdown() }
        let a = try agent(set, "refuse-after")
        let r = await a.transport.call(a, call("x"))
        #expect(r.status == DS_OK && r.text == "completed, then refused")
        #expect(Self.violations(runtime, "refused_after_complete") == 1)
    }

    @Test func aSecondCompletionAfterCancelIsCountedButTheFirstIsNot() async throws {
        let runtime = HostRuntime(logLevel: .error)
        let set = try PluginSet.start(try TestSupport.config(Self.yaml()), runtime: runtime)
        defer { set.shutdown() }
        let a = try agent(set, "after-cancel")
        let r = await a.transport.call(a, call("x", timeoutMs: 30))
        #expect(r.status == DS_ERR_TIMEOUT)
        // cancel() completes once (the contract) and once more (a violation).
        #expect(await Self.waitFor(runtime, "completed_twice", 1) == 1)
        try await Task.sleep(for: .milliseconds(100))
        #expect(Self.violations(runtime, "completed_twice") == 1)
    }

    @Test func aCompletionAfterDestroyIsDroppedAndCounted() async throws {
        let runtime = HostRuntime(logLevel: .error)
        let set = try PluginSet.start(try TestSupport.config(Self.yaml()), runtime: runtime)
        let a = try agent(set, "after-destroy")
        let r = await a.transport.call(a, call("x", timeoutMs: 30))
        #expect(r.status == DS_ERR_TIMEOUT)
        set.shutdown()   // destroy(): the plugin completes the held op 150 ms later
        #expect(await Self.waitFor(runtime, "completed_after_destroy", 1) == 1)
    }

    @Test func aChannelCompletingASendTwiceIsCounted() async throws {
        let runtime = HostRuntime(logLevel: .error)
        let set = try PluginSet.start(try TestSupport.config(Self.yaml()), runtime: runtime)
        defer { set.shutdown() }
        let ch = try #require(set.channel("breaker"))
        let r = await ch.send(messageId: "m1", correlationId: "breaker:1", to: "+15551230000", from: "", text: "hi")
        #expect(r.status == DS_OK && r.text == "SM1")
        #expect(Self.violations(runtime, "completed_twice") == 1)
    }

    @Test func aRouteRespondingTwiceSendsOneResponse() async throws {
        let runtime = HostRuntime(logLevel: .error)
        let g = Gateway(config: try TestSupport.config(Self.yaml(requestTimeout: "100ms")), logger: TestSupport.logger, runtime: runtime)
        let port = try await g.start()
        let r = try await TestSupport.post(port, "/breaker/twice", "")
        #expect(r.status == 200 && r.text == "first")
        #expect(await Self.waitFor(runtime, "responded_twice", 1) == 1)
        // The host answers 503 at server.request_timeout; the plugin's late answer is then
        // allowed (dropped, not counted); its second one is counted.
        let late = try await TestSupport.post(port, "/breaker/late", "")
        #expect(late.status == 503)
        #expect(await Self.waitFor(runtime, "responded_twice", 2) == 2)
        // The connection still serves requests.
        #expect(try await TestSupport.get(port, "/livez").status == 200)
        await g.stop()
    }
}
