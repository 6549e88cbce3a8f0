import Foundation
@testable import Host
import Synchronization
import Testing
import TestPeers
import TwilioCore
#if canImport(Glibc)
import Glibc
#endif

/// How many threads one message crosses (issue #12, "fewer hand-offs"): the real gateway
/// with the twilio plugin, one signed webhook, the steps of its turn recorded with their
/// threads by `HopProbe` (debug builds), from the HTTP read on the event loop to the HTTP
/// write. Targets: at most 4 thread changes for a synchronous in-process agent (the C echo
/// agent), at most 6 for an asynchronous one (the HTTP JSON agent against a loopback server,
/// whose answer arrives on the HTTP client's thread).
@Suite(.serialized) struct ThreadHopTests {
    /// A budget no message reaches, and no health probes in the record.
    static let routing = ["inline_reply_budget: 60s", "probe_interval: 60s"]

    /// Posts a signed webhook for `sid` with the probe armed for it; returns the TwiML
    /// messages and the recorded steps.
    func probed(_ port: Int, sid: String, body: String, agentURL: String? = nil) async throws -> ([String], [HopProbe.Hop]) {
        HopProbe.arm(correlation: "twilio:\(sid)", port: port, path: "/twilio/sms", agentURL: agentURL)
        let signed = Support.signedForm(Support.smsParams(body: body, sid: sid))
        let r = try await Support.post(port: port, path: "/twilio/sms", body: signed.body, headers: ["X-Twilio-Signature": signed.signature])
        // The HTTP write is recorded on the event loop before the response is written, so
        // every step is in once the client has the response.
        let hops = HopProbe.disarm()
        #expect(r.status == 200)
        return (TwiML.messages(in: r.body), hops)
    }

    /// Sends two warm-up messages (the first opens the session; the second is a sticky
    /// session's message, as most are), then the probed third.
    /// `before` runs just before each probed message is sent. `raced`: the record shows a
    /// race the measurement is not about (two concurrent branches of the message interleave
    /// in it); then another message is probed, up to `attempts` in all, and the last record
    /// is returned (raced or not: the caller's bounds then judge it).
    func measure(_ port: Int, agentURL: String? = nil, attempts: Int = 1, raced: ([HopProbe.Hop]) -> Bool = { _ in false },
                 before: () -> Void = {}, expect reply: (String) -> Bool) async throws -> [HopProbe.Hop] {
        for i in 0..<2 {
            let signed = Support.signedForm(Support.smsParams(body: "warm \(i)", sid: Support.newSid()))
            let r = try await Support.post(port: port, path: "/twilio/sms", body: signed.body, headers: ["X-Twilio-Signature": signed.signature])
            #expect(r.status == 200 && TwiML.messages(in: r.body).count == 1, "\(r.body)")
        }
        var hops: [HopProbe.Hop] = []
        for attempt in 1...max(1, attempts) {
            before()
            let (messages, recorded) = try await probed(port, sid: Support.newSid(), body: "hop", agentURL: agentURL)
            hops = recorded
            #expect(messages.count == 1 && reply(messages[0]), "\(messages)")
            print("thread hops (\(HopProbe.changes(hops)) changes): \(hops.map(\.description).joined(separator: " → "))")
            guard raced(hops) else { break }
            print("thread hops: attempt \(attempt) raced, probing another message")
        }
        return hops
    }

    @Test func synchronousAgentTakesAtMostFourThreadChanges() async throws {
        let yaml = Support.gatewayYAML(routing: Self.routing)
        let hops = try await Support.withGateway(yaml) { _, port in
            try await measure(port) { $0.hasPrefix("echo: hop") }
        }
        let steps = hops.map(\.step)
        #expect(steps.first == "http.read" && steps.last == "http.write", "\(hops)")
        #expect(steps.contains("agent.call") && steps.contains("channel.answer"), "\(hops)")
        #expect(steps.contains { $0.hasPrefix("store.") }, "\(hops)")
        #expect(HopProbe.changes(hops) <= 4, "\(hops)")
    }

    @Test func asynchronousAgentTakesAtMostSixThreadChanges() async throws {
        let agent = try AgentServer()
        defer { agent.stop() }
        let url = "http://127.0.0.1:\(agent.port)/chat"
        let yaml = Support.gatewayYAML(routing: Self.routing, agent: """
              - id: http
                library: http-agent
            agents:
              - name: h
                transport: http
                config:
                  url: \(url)
                  health_url: http://127.0.0.1:\(agent.port)/health
            """)
        let hops = try await Support.withGateway(yaml) { g, port in
            // The router's fast path for agents that answered inside `call` (store the inbound
            // message while the call runs) is taken when a completion happened to win the race
            // with `call`'s return; its two concurrent branches would interleave in the
            // record. The usual asynchronous path is measured: the hint is cleared.
            // Another race: on a loaded machine the agent's response can arrive (on the HTTP
            // client's thread) before the plugin's task, preempted between starting the
            // request and suspending, has suspended; the task then simply goes on where it
            // runs (the thread of the call), with no hand-off, but the record interleaves the
            // two threads: the client's thread between the call's steps. Another message is
            // measured then. A change that really continued completions on the calling pool
            // would look like this every time, and fail the bound below after 5 attempts.
            try await measure(port, agentURL: url, attempts: 5, raced: { hops in
                let thread = { (step: String) in hops.first { $0.step == step }?.thread }
                return thread("agent.completion") != nil && thread("agent.completion") == thread("plugin.http_request")
            }, before: {
                g.conversations.agent(named: "h")?.answersInline.store(false, ordering: .relaxed)
            }) { $0.hasPrefix("got: hop") }
        }
        let steps = hops.map(\.step)
        #expect(steps.first == "http.read" && steps.last == "http.write", "\(hops)")
        #expect(steps.contains("plugin.http_request") && steps.contains("plugin.http_response") && steps.contains("agent.completion"), "\(hops)")
        #expect(steps.contains("store.finish_turn") || steps.contains("store.answered_turn"), "\(hops)")
        #expect(HopProbe.changes(hops) <= 6, "\(hops)")
    }
}

/// The HTTP JSON test agent (Tests/TransportTests/Fixtures/agent_http_server.py) on a free
/// loopback port; `stop` kills it.
final class AgentServer: @unchecked Sendable {
    let process = Process()
    let port: Int

    init() throws {
        port = TestPeers.freePort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Support.repoRoot.path + "/Tests/TransportTests/Fixtures/agent_http_server.py", "\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Waits for the condition "the port accepts a connection" (generous: a loaded machine).
        let until = Date().addingTimeInterval(60)
        while !TestPeers.canConnect(port) {
            guard Date() < until, process.isRunning else {
                stop()
                throw Support.ProcessFailure(description: "agent_http_server.py did not listen on \(port)")
            }
            usleep(20_000)
        }
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
