import Foundation
import Testing
@testable import Host

/// Protocol details against a hand-written stdio server (Fixtures/raw_mcp_server.py,
/// plain Python, no SDK): pagination, version negotiation, server-to-client requests.
@Suite struct MCPProtocolTests {
    static func yaml(version: String, pages: Int) -> String {
        """
        plugins:
          - id: mcp
            library: mcp
        agents:
          - name: raw
            transport: mcp
            config:
              command: \(Env.python3)
              args: ["\(Env.fixtures)/raw_mcp_server.py", "\(version)", "\(pages)"]
              startup_timeout: 10
        """
    }

    @Test(arguments: ["2025-11-25", "2025-06-18"])
    func paginatedToolsAndServerPing(version: String) async throws {
        try #require(Env.pluginsBuilt, "run `swift build` first: plugins missing in \(Env.buildDir)")
        let g = try await Loaded.start(yaml: Self.yaml(version: version, pages: 3))
        defer { g.stop() }
        // `chat` is only on the third page; the server pings us mid-call and waits.
        let out = try await g.call("raw", "hi")
        #expect(out.status == 0, "\(out.error)")
        #expect(out.text == "pong-ok from=+15550001111 keys=from,message")
    }

    @Test func unsupportedVersionFailsOpenNamingBoth() async throws {
        try #require(Env.pluginsBuilt)
        let e = await #expect(throws: StartupErrors.self) { _ = try await Loaded.start(yaml: Self.yaml(version: "2024-11-05", pages: 1)) }
        let text = e?.description ?? ""
        #expect(text.contains("2024-11-05") && text.contains("2025-11-25, 2025-06-18"), "\(text)")
    }
}
