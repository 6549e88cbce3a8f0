import Foundation
import Logging
import Testing
@testable import Host

/// The same agent moved from `mcp` to `http-agent` in plugins.yaml: restart (a new
/// plugin set from the edited file), no rebuild, and messages flow through the router.
@Suite struct SwapTests {
    /// One message through the store-backed router (a fresh SQLite store) to the set's agents.
    func submit(_ set: PluginSet, _ file: String, _ text: String) async throws -> SubmitOutcome {
        let config = try ConfigLoader().load(path: file)
        let store = try openStore(url: "sqlite:\(NSTemporaryDirectory())swap-\(UUID().uuidString).sqlite", configDir: "/", lockConnections: 4)
        try store.syncAgents(config.agents)
        let router = ConversationRouter(store: store, agents: set.agents, config: config, metrics: MetricsRegistry(), logger: Logger(label: "swap"))
        defer { router.shutdown(); store.close() }
        return await withCheckedContinuation { c in
            router.submit(Inbound(channel: "twilio", channelMessageId: UUID().uuidString, from: "+15550001111", to: "+15550002222", text: text)) {
                c.resume(returning: $0)
            }
        }
    }

    @Test func sameAgentNameMovesFromMCPToHTTP() async throws {
        try #require(Env.pluginsBuilt, "run `swift build` first: plugins missing in \(Env.buildDir)")
        let file = NSTemporaryDirectory() + "swap-\(UUID().uuidString).yaml"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let agent = try ChildServer.agentHTTP()
        defer { agent.stop() }
        let common = "plugin_path: [\(Env.buildDir)]\nplugins:\n  - id: mcp\n    library: mcp\n  - id: http\n    library: http-agent\n"
        try (common + "agents:\n  - name: assistant\n    transport: mcp\n    config: {command: darkspere-example-agent}\n")
            .write(toFile: file, atomically: true, encoding: .utf8)

        let runtime1 = HostRuntime(logLevel: .warning)
        let set1 = try await offPool { try PluginSet.start(try ConfigLoader().load(path: file), runtime: runtime1) }
        #expect(try await submit(set1, file, "hello") == .reply("Hello! I am the DarkSpere example agent. Try: help, time, count, reverse <text>, about. Anything else I echo back."))
        set1.shutdown(); runtime1.shutdown()

        try (common + "agents:\n  - name: assistant\n    transport: http\n    config: {url: 'http://127.0.0.1:\(agent.port)/chat'}\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let runtime2 = HostRuntime(logLevel: .warning)
        let set2 = try await offPool { try PluginSet.start(try ConfigLoader().load(path: file), runtime: runtime2) }
        defer { set2.shutdown(); runtime2.shutdown() }
        #expect(set2.agents.map(\.name) == ["assistant"])
        #expect(try await submit(set2, file, "hello") == .reply("got: hello (history 0)"))
    }
}
