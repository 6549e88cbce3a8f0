import Foundation
import PluginAPI
import Testing
@testable import Host

/// Loads the C plugin and the Swift plugins from a config and calls every operation
/// through the ABI.
@Suite struct ABIRoundTripTests {
    static let yaml = TestSupport.yaml(plugins: """
          - id: c-echo
            library: c-echo-agent
          - id: swift-echo
            library: swift-echo-agent
            config: { greeting: hi }
          - id: all
            library: \(TestSupport.library("fixture-swift-all"))
            config: { path: /fixture/in, fail_sends_to: "+15559999999" }
        """, agents: """
          - name: c-bot
            transport: c-echo
            config: { prefix: C }
          - name: c-slow
            transport: c-echo
            config: { prefix: slow, delay_ms: 50 }
          - name: c-down
            transport: c-echo
            config: { fail: true }
          - name: swift-bot
            transport: swift-echo
            config: { style: upper }
          - name: fixture-bot
            transport: all
          - name: fixture-down
            transport: all
            config: { fail: true }
        """)

    func withPlugins(_ body: (PluginSet) async throws -> Void) async throws {
        let set = try PluginSet.start(try TestSupport.config(Self.yaml), runtime: HostRuntime(logLevel: .error))
        defer { set.shutdown() }
        try await body(set)
    }

    func agent(_ set: PluginSet, _ name: String) throws -> AgentHandle { try #require(set.agents.first { $0.name == name }) }

    func call(_ text: String, history: Int = 0, state: String = "") -> AgentCall {
        var c = AgentCall()
        c.text = text
        c.sessionId = "s1"
        c.history = (0..<history).map { (role: $0 % 2 == 0 ? "user" : "assistant", text: "m\($0)", timeMs: Int64($0)) }
        c.sessionState = state
        c.timeoutMs = 15_000   // generous: the whole suite shares two cores
        return c
    }

    @Test func cAgentCallsProbesAndCompletesAsynchronously() async throws {
        try await withPlugins { set throws in
            let a = try agent(set, "c-bot")
            let r = await a.transport.call(a, call("hello", history: 3))
            #expect(r.status == DS_OK && r.text == "C: hello (history: 3)")
            #expect(await a.transport.probe(a).status == DS_OK)
            // delay_ms: the plugin returns DS_PENDING and completes from a host timer thread.
            let slow = try agent(set, "c-slow")
            let s = await slow.transport.call(slow, call("later"))
            #expect(s.status == DS_OK && s.text == "slow: later (history: 0)")
            let down = try agent(set, "c-down")
            let d = await down.transport.call(down, call("x"))
            #expect(d.status == DS_ERR_UNAVAILABLE && d.isRetryable && d.error == "configured to fail")
            #expect(await down.transport.probe(down).status == DS_ERR_UNAVAILABLE)
        }
    }

    @Test func hostTimesOutASlowAgentCall() async throws {
        try await withPlugins { set throws in
            let slow = try agent(set, "c-slow")
            var c = call("late")
            c.timeoutMs = 5
            let r = await slow.transport.call(slow, c)
            #expect(r.status == DS_ERR_TIMEOUT)
        }
    }

    @Test func swiftAgentsThroughPluginKit() async throws {
        try await withPlugins { set throws in
            let a = try agent(set, "swift-bot")
            let r = await a.transport.call(a, call("hello", history: 2))
            #expect(r.status == DS_OK && r.text == "hi: HELLO (history: 2)")
            let f = try agent(set, "fixture-bot")
            let fr = await f.transport.call(f, call("x", history: 1, state: #"{"k":1}"#))
            #expect(fr.text == #"fixture-bot: x [h=1] [state={"k":1}]"#)
            #expect(fr.data == #"{"session_state":{"turns":1}}"#)
            let down = try agent(set, "fixture-down")
            let dr = await down.transport.call(down, call("x"))
            #expect(dr.status == DS_ERR_UNAVAILABLE && dr.error == "agent down")
            #expect(await down.transport.probe(down).status == DS_ERR_UNAVAILABLE)
            // Cancellation: the host times out, tells the plugin, and PluginKit cancels the task.
            var c = call("sleep")
            c.timeoutMs = 50
            let started = Date()
            #expect(await f.transport.call(f, c).status == DS_ERR_TIMEOUT)
            #expect(Date().timeIntervalSince(started) < 2)
        }
    }

    @Test func channelSendMapsResultsAndErrors() async throws {
        try await withPlugins { set throws in
            let ch = try #require(set.channel("all"))
            let ok = await ch.send(messageId: "m1", correlationId: "c1", to: "+15551234567", from: "", text: "hi")
            #expect(ok.status == DS_OK && ok.text == "SM-m1" && ok.data == #"{"segments":2}"#)
            let limited = await ch.send(messageId: "m2", correlationId: "c2", to: "+15559999999", from: "", text: "hi")
            #expect(limited.status == DS_ERR_RATE_LIMITED && limited.retryAfterMs == 1500 && limited.detailCode == 20429 && limited.error == "slow down")
        }
    }

    @Test func billingAuthorizeAndRecord() async throws {
        try await withPlugins { set throws in
            let b = try #require(set.billing.first)
            let allowed = await b.authorize(UsageRecord(accountId: "a", kind: "sms_inbound", quantity: 1, idempotencyKey: "k1"))
            #expect(allowed.status == DS_OK)
            let denied = await b.authorize(UsageRecord(accountId: "a", kind: "blocked", quantity: 1, idempotencyKey: "k2"))
            #expect(denied.status == DS_ERR_DENIED && denied.error == "tier exhausted")
            #expect(await b.record(UsageRecord(accountId: "a", kind: "sms_inbound", quantity: 1, idempotencyKey: "k3")).status == DS_OK)
            #expect(await b.record(UsageRecord(accountId: "a", kind: "sms_inbound", quantity: -1, idempotencyKey: "k4")).status == DS_ERR_INVALID)
        }
    }

    @Test func logSinkWriteRetryAndFlush() async throws {
        try await withPlugins { set throws in
            let s = try #require(set.sinks.first)
            #expect(await s.write([#"{"id":"1"}"#]).status == DS_OK)
            let r = await s.write([#"{"id":"2","type":"retry"}"#])
            #expect(r.status == DS_RETRY && r.error == "backend down")
            #expect(await s.flush().status == DS_OK)
        }
    }

    @Test func twoSwiftPluginsShareOnePluginKit() throws {
        try withExtendedLifetime(try PluginSet.start(try TestSupport.config(Self.yaml), runtime: HostRuntime(logLevel: .error))) { set in
            defer { set.shutdown() }
            let maps = String(decoding: try #require(FileHandle(forReadingAtPath: "/proc/self/maps")).readDataToEndOfFile(), as: UTF8.self)
            let kits = Set(maps.split(separator: "\n").compactMap { line -> String? in
                guard let p = line.split(separator: " ", omittingEmptySubsequences: true).last, p.hasSuffix("/libPluginKit.so") else { return nil }
                return String(p)
            })
            #expect(kits.count == 1, "libPluginKit.so mapped from \(kits)")
            #expect(maps.contains("libds-swift-echo-agent.so") && maps.contains("libfixture-swift-all.so"))
            // Neither plugin embeds PluginKit: its symbols are undefined (U) in both, defined in libPluginKit.so.
            for lib in ["ds-swift-echo-agent", "fixture-swift-all"] {
                let (_, out, _) = try TestSupport.run("/usr/bin/nm", ["-D", "--defined-only", TestSupport.library(lib)])
                #expect(!out.contains("PluginExport"), "\(lib) defines PluginKit symbols")
                let (_, needed, _) = try TestSupport.run("/usr/bin/readelf", ["-d", TestSupport.library(lib)])
                #expect(needed.contains("[libPluginKit.so]"))
            }
        }
    }
}
