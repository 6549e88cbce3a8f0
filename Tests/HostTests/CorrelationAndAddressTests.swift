import Foundation
import PluginAPI
import Testing
@testable import Host

/// One correlation id value everywhere ("<channel>:<id>"), and ABI 1.2's address rule on
/// submitted messages.
@Suite(.serialized) struct CorrelationAndAddressTests {
    func gateway(_ dir: String, budget: String = "60s", delayMs: Int = 0) async throws -> TestGateway {
        try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: "inline_reply_budget: \(budget)", agents: """
              - name: bot
                transport: echo
                config: { prefix: bot, delay_ms: \(delayMs) }
            """, extraPlugins: """
              - id: corr
                library: fixture-test-channel
                config: { route: /corr/sms, correlations_file: \(dir)/correlations.txt }
            """), dir: dir)
    }

    /// A deferred reply reaches the channel's send with the same correlation id the agent
    /// request and the events carry (it used to be the bare channel message id).
    @Test func aDeferredReplyCarriesTheChannelQualifiedCorrelationId() async throws {
        let dir = TestEnv.tempDir("correlation")
        let g = try await gateway(dir, budget: "100ms", delayMs: 400)
        #expect(await g.submit(from: "+15557770001", id: "m-200", text: "hi", channel: "corr") == .deferred)
        let file = "\(dir)/correlations.txt"
        for _ in 0..<200 where (try? String(contentsOfFile: file, encoding: .utf8)) == nil { try await Task.sleep(nanoseconds: 50_000_000) }
        let lines = (try? String(contentsOfFile: file, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        #expect(lines == ["reply:corr:m-200\tcorr:m-200"])
        await g.stop()
    }

    @Test func aSubmittedMessageWithABadAddressIsRefusedNamingTheField() async throws {
        let dir = TestEnv.tempDir("address")
        let g = try await gateway(dir)
        let client = HTTPClient()
        defer { client.shutdown() }
        let bad = await postSMS(port: g.port, from: "5551230000", to: "+15550000001", id: "a1", text: "hi", client: client)
        #expect(bad.0 == 400 && bad.1.hasPrefix("error -7: from: not an address"), "\(bad)")
        let badTo = await postSMS(port: g.port, from: "+15551230000", to: "our number", id: "a2", text: "hi", client: client)
        #expect(badTo.0 == 400 && badTo.1.hasPrefix("error -7: to: not an address"), "\(badTo)")
        // Both kinds pass.
        let phone = await postSMS(port: g.port, from: "+15551230000", to: "+15550000001", id: "a3", text: "hi", client: client)
        #expect(phone.0 == 200 && phone.1 == "bot: hi (history: 0)", "\(phone)")
        let scoped = await postSMS(port: g.port, from: "telegram:123456", to: "telegram:bot-1", id: "a4", text: "yo", client: client)
        #expect(scoped.0 == 200 && scoped.1 == "bot: yo (history: 0)", "\(scoped)")
        await g.stop()
    }
}
