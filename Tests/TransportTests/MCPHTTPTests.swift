import Foundation
import Testing
@testable import Host

/// The `mcp` transport over Streamable HTTP against the official Python MCP SDK
/// server, in JSON-response and SSE-response modes.
@Suite(.serialized, .enabled(if: Env.pythonMCP, "skipped: python3 cannot import the MCP SDK (pip install mcp; see scripts/test-deps.sh)"))
struct MCPHTTPTests {
    static func yaml(port: Int, tool: String = "chat", proto: String = "auto", extra: String = "") -> String {
        """
        plugins:
          - id: mcp
            library: mcp
        agents:
          - name: web
            transport: mcp
            config:
              url: http://127.0.0.1:\(port)/mcp
              tool: \(tool)
              protocol: "\(proto)"
              headers: {X-Test: "yes"}
        \(extra)
        """
    }

    /// Both eras in both response modes: `auto` finds 2026-07-28 with server/discover
    /// (the SDK speaks it), `handshake` runs initialize and negotiates 2025-11-25.
    @Test(arguments: [true, false], ["auto", "handshake"])
    func handshakeToolsArgumentsAndProbe(json: Bool, proto: String) async throws {
        try #require(Env.pluginsBuilt, "run `swift build` first: plugins missing in \(Env.buildDir)")
        let server = try ChildServer.mcpHTTP(json: json)
        defer { server.stop() }
        let era = try await Loaded.start(yaml: Self.yaml(port: server.port, tool: "version", proto: proto))
        defer { era.stop() }
        #expect(try await era.call("web", "v").text == (proto == "auto" ? "2026-07-28" : "2025-11-25"))
        let g = try await Loaded.start(yaml: Self.yaml(port: server.port, proto: proto))
        defer { g.stop() }
        let out = try await g.call("web", "over http", history: [("user", "earlier")])
        #expect(out.status == 0, "\(out.error)")
        let got = try #require(JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any])
        #expect(got["message"] as? String == "over http")
        #expect((got["history"] as? [[String: Any]])?.count == 1)
        let a = try g.agent("web")
        let probe = await a.transport.probe(a)
        #expect(probe.status == 0, "\(probe.error)")
        // Concurrent calls share the session.
        let texts = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<8 { group.addTask { try await g.call("web", "n\(i)").text } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(texts.count == 8 && texts.allSatisfy { $0.contains("\"message\": \"n") })
    }

    @Test(arguments: [true, false], ["auto", "handshake"])
    func isErrorAndStructured(json: Bool, proto: String) async throws {
        try #require(Env.pluginsBuilt)
        let server = try ChildServer.mcpHTTP(json: json)
        defer { server.stop() }
        let g = try await Loaded.start(yaml: Self.yaml(port: server.port, tool: "fail", proto: proto))
        defer { g.stop() }
        let out = try await g.call("web", "x")
        #expect(out.status == -1 && out.error.contains("the agent refused: x"), "\(out.error)")
        let g2 = try await Loaded.start(yaml: Self.yaml(port: server.port, tool: "structured", proto: proto))
        defer { g2.stop() }
        #expect(try await g2.call("web", "y").text == "structured: y")
    }

    @Test func lostSessionIsReinitialised() async throws {
        try #require(Env.pluginsBuilt)
        let port = Env.freePort()
        var server = try ChildServer.mcpHTTP(json: false, port: port)
        // Sessions exist only in the handshake era.
        let g = try await Loaded.start(yaml: Self.yaml(port: port, proto: "handshake"))
        defer { g.stop(); server.stop() }
        #expect(try await g.call("web", "before").status == 0)
        // A new server process knows no session: it answers 404 to our session id.
        server.stop()
        server = try ChildServer.mcpHTTP(json: false, port: port)
        let after = try await g.call("web", "after")
        #expect(after.status == 0, "\(after.error)")
        #expect(after.text.contains("\"after\""))
    }

    @Test func unreachableServerIsRetryable() async throws {
        try #require(Env.pluginsBuilt)
        let port = Env.freePort()
        let server = try ChildServer.mcpHTTP(json: true, port: port)
        let g = try await Loaded.start(yaml: Self.yaml(port: port))
        defer { g.stop() }
        server.stop()
        let out = try await g.call("web", "anyone?")
        #expect(out.isRetryable, "\(out.status) \(out.error)")
    }

    @Test func timeoutOverHTTPSendsCancelled() async throws {
        try #require(Env.pluginsBuilt)
        let marker = NSTemporaryDirectory() + "mcp-http-cancel-\(UUID().uuidString)"
        let server = try ChildServer.mcpHTTP(json: false, env: ["MCP_TEST_CANCEL_FILE": marker])
        defer { server.stop(); try? FileManager.default.removeItem(atPath: marker) }
        let g = try await Loaded.start(yaml: Self.yaml(port: server.port, tool: "slow", proto: "handshake").replacingOccurrences(of: "      tool: slow", with: "      tool: slow\n      timeout: 1"))
        defer { g.stop() }
        let out = try await g.call("web", "20")
        #expect(out.status == -5, "\(out.status) \(out.error)")
        let until = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: marker) && Date() < until { try await Task.sleep(for: .milliseconds(50)) }
        #expect(FileManager.default.fileExists(atPath: marker), "the server never saw notifications/cancelled")
    }

    @Test func unreachableAtStartupFailsOpenClearly() async throws {
        try #require(Env.pluginsBuilt)
        let e = await #expect(throws: StartupErrors.self) { _ = try await Loaded.start(yaml: Self.yaml(port: Env.freePort())) }
        #expect(e?.description.contains("MCP handshake with agent 'web' failed") == true, "\(e?.description ?? "")")
    }
}
