import Foundation
import Testing
@testable import Host
#if canImport(Glibc)
import Glibc
#endif

/// The `mcp` transport over stdio against the official Python MCP SDK server
/// (Fixtures/mcp_test_server.py), started as the agent's child process.
@Suite(.serialized, .enabled(if: Env.pythonMCP, "skipped: python3 cannot import the MCP SDK (pip install mcp; see scripts/test-deps.sh)"))
struct MCPStdioTests {
    static func yaml(tool: String = "chat", proto: String = "auto", extra: String = "") -> String {
        """
        plugins:
          - id: mcp
            library: mcp
        agents:
          - name: py
            transport: mcp
            config:
              command: \(Env.python3)
              args: ["\(Env.fixtures)/mcp_test_server.py", "stdio"]
              tool: \(tool)
              protocol: "\(proto)"
        \(extra)
        """
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func handshakeArgumentsAndHistory() async throws {
        try #require(Env.pluginsBuilt, "run `swift build` first: plugins missing in \(Env.buildDir)")
        let g = try await Loaded.start(yaml: Self.yaml())
        defer { g.stop() }
        let out = try await g.call("py", "hi there", history: [("user", "first"), ("assistant", "reply one")])
        #expect(out.status == 0, "\(out.error)")
        let got = try Self.json(out.text)
        #expect(got["message"] as? String == "hi there")
        #expect(got["session_id"] as? String == "s1")
        #expect(got["to"] as? String == "+15550002222")
        #expect(got["channel"] as? String == "twilio")
        let history = try #require(got["history"] as? [[String: Any]])
        #expect(history.count == 2)
        #expect(history.first?["role"] as? String == "user")
        #expect(history.first?["content"] as? String == "first")
        #expect(history.last?["content"] as? String == "reply one")
        #expect(history.first?["timestamp"] as? String == "2023-11-14T22:13:20.000Z")
        #expect(history.last?["timestamp"] as? String == "2023-11-14T22:13:21.000Z")
        let probe = await g.set.agents[0].transport.probe(g.set.agents[0])
        #expect(probe.status == 0, "\(probe.error)")
    }

    /// `auto` finds 2026-07-28 with server/discover; `handshake` negotiates 2025-11-25.
    @Test(arguments: [("auto", "2026-07-28"), ("handshake", "2025-11-25")])
    func protocolEra(proto: String, expected: String) async throws {
        try #require(Env.pluginsBuilt)
        let g = try await Loaded.start(yaml: Self.yaml(tool: "version", proto: proto))
        defer { g.stop() }
        let out = try await g.call("py", "v")
        #expect(out.text == expected, "\(out.error)")
        let a = try g.agent("py")
        #expect(await a.transport.probe(a).status == 0)
    }

    @Test func handshakeEraArgumentsAndIsError() async throws {
        try #require(Env.pluginsBuilt)
        let g = try await Loaded.start(yaml: Self.yaml(proto: "handshake"))
        defer { g.stop() }
        let out = try await g.call("py", "old era", history: [("user", "a")])
        #expect(out.status == 0, "\(out.error)")
        #expect(out.text.contains("\"old era\"") && out.text.contains("\"content\": \"a\""), "\(out.text)")
        let f = try await Loaded.start(yaml: Self.yaml(tool: "fail", proto: "handshake"))
        defer { f.stop() }
        #expect(try await f.call("py", "z").error.contains("the agent refused: z"))
    }

    @Test func structuredContentReply() async throws {
        try #require(Env.pluginsBuilt)
        let g = try await Loaded.start(yaml: Self.yaml(tool: "structured"))
        defer { g.stop() }
        let out = try await g.call("py", "abc")
        #expect(out.status == 0, "\(out.error)")
        #expect(out.text == "structured: abc")
    }

    @Test func isErrorIsAPermanentAgentError() async throws {
        try #require(Env.pluginsBuilt)
        let g = try await Loaded.start(yaml: Self.yaml(tool: "fail"))
        defer { g.stop() }
        let out = try await g.call("py", "nope")
        #expect(out.status == -1)   // DS_ERR_FAILED: not retryable
        #expect(!out.isRetryable)
        #expect(out.error.contains("the agent refused: nope"), "\(out.error)")
    }

    @Test func missingToolFailsStartupNamingTheTools() async throws {
        try #require(Env.pluginsBuilt)
        let e = await #expect(throws: StartupErrors.self) { _ = try await Loaded.start(yaml: Self.yaml(tool: "nosuchtool")) }
        let text = e?.description ?? ""
        #expect(text.contains("offers no tool 'nosuchtool'"), "\(text)")
        #expect(text.contains("chat"))
        #expect(text.contains("agent 'py'"))
    }

    @Test func requiredArgumentTheGatewayCannotSupplyIsAConfigError() async throws {
        try #require(Env.pluginsBuilt)
        let e = await #expect(throws: StartupErrors.self) { _ = try await Loaded.start(yaml: Self.yaml(tool: "needs_account")) }
        #expect(e?.description.contains("requires 'account'") == true, "\(e?.description ?? "")")
    }

    @Test func killedChildIsRestartedAndAnswers() async throws {
        try #require(Env.pluginsBuilt)
        let g = try await Loaded.start(yaml: Self.yaml(tool: "pid"))
        defer { g.stop() }
        let first = try await g.call("py", "x")
        let pid1 = try #require(Int32(first.text), "\(first.error)")
        #expect(kill(pid1, SIGKILL) == 0)
        var pid2: Int32?
        let until = Date().addingTimeInterval(15)
        while pid2 == nil && Date() < until {
            let out = try await g.call("py", "x")
            if out.status == 0 { pid2 = Int32(out.text) } else {
                #expect(out.isRetryable, "a call while restarting must be retryable: \(out.error)")
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(pid2 != nil && pid2 != pid1)
    }

    @Test func timeoutSendsNotificationsCancelled() async throws {
        try #require(Env.pluginsBuilt)
        let marker = NSTemporaryDirectory() + "mcp-cancel-\(UUID().uuidString)"
        let yaml = Self.yaml(tool: "slow").replacingOccurrences(of: "      tool: slow", with: """
              tool: slow
              timeout: 1
              env: {MCP_TEST_CANCEL_FILE: "\(marker)"}
        """)
        let g = try await Loaded.start(yaml: yaml)
        defer { g.stop(); try? FileManager.default.removeItem(atPath: marker) }
        let started = Date()
        let out = try await g.call("py", "20")
        #expect(out.status == -5, "\(out.status) \(out.error)")   // DS_ERR_TIMEOUT
        #expect(Date().timeIntervalSince(started) < 5)
        let until = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: marker) && Date() < until { try await Task.sleep(for: .milliseconds(50)) }
        #expect(FileManager.default.fileExists(atPath: marker), "the server never saw notifications/cancelled")
    }
}

/// The bundled example agent (Swift, no Python needed) through the `mcp` transport,
/// with `command` resolved next to the running executable.
@Suite struct ExampleAgentTests {
    @Test func answersOutOfTheBox() async throws {
        try #require(Env.pluginsBuilt, "run `swift build` first: plugins missing in \(Env.buildDir)")
        let g = try await Loaded.start(yaml: """
        plugins:
          - id: mcp
            library: mcp
        agents:
          - name: assistant
            transport: mcp
            config:
              command: darkspere-example-agent
        """)
        defer { g.stop() }
        let help = try await g.call("assistant", "help")
        #expect(help.text.contains("DarkSpere example agent"), "\(help.error)")
        let count = try await g.call("assistant", "count", history: [("user", "a"), ("assistant", "b"), ("user", "c")])
        #expect(count.text == "We have exchanged 3 earlier message(s); you sent 2 before this one.")
        let echo = try await g.call("assistant", "pizza tonight?")
        #expect(echo.text == "You said: pizza tonight?")
    }

    @Test func handshakeOnlyServerFallsBackOrFailsWhenPerRequestIsRequired() async throws {
        try #require(Env.pluginsBuilt)
        // protocol: auto (default) already fell back in answersOutOfTheBox; requiring
        // 2026-07-28 of a server that only has the handshake is an open error.
        let e = await #expect(throws: StartupErrors.self) {
            _ = try await Loaded.start(yaml: "plugins:\n  - id: mcp\n    library: mcp\nagents:\n  - name: a\n    transport: mcp\n    config: {command: darkspere-example-agent, protocol: '2026-07-28'}\n")
        }
        #expect(e?.description.contains("server/discover") == true, "\(e?.description ?? "")")
        let bad = await #expect(throws: StartupErrors.self) {
            _ = try await Loaded.start(yaml: "plugins:\n  - id: mcp\n    library: mcp\nagents:\n  - name: a\n    transport: mcp\n    config: {command: darkspere-example-agent, protocol: '2024'}\n")
        }
        #expect(bad?.description.contains("protocol: must be auto, handshake or 2026-07-28") == true)
    }

    /// open() blocks its caller until the handshake ends. Called straight from test
    /// tasks (threads of the cooperative pool), several at once, it must still finish:
    /// the handshake runs on the plugin's own executor, not on the pool.
    @Test func openFromTasksDoesNotNeedTheCooperativePool() async throws {
        try #require(Env.pluginsBuilt)
        let yaml = "plugins:\n  - id: mcp\n    library: mcp\nagents:\n  - name: a\n    transport: mcp\n    config: {command: darkspere-example-agent}\n"
        let n = ProcessInfo.processInfo.activeProcessorCount + 2
        let replies = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<n {
                group.addTask {
                    let g = try Loaded(yaml: yaml)   // blocking, on a pool thread
                    defer { g.stop() }
                    return try await g.call("a", "hello").text
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(replies.count == n && replies.allSatisfy { $0.hasPrefix("Hello!") })
    }

    @Test func unknownCommandIsAClearConfigError() async throws {
        try #require(Env.pluginsBuilt)
        let e = await #expect(throws: StartupErrors.self) {
            _ = try await Loaded.start(yaml: "plugins:\n  - id: mcp\n    library: mcp\nagents:\n  - name: a\n    transport: mcp\n    config: {command: no-such-agent-binary}\n")
        }
        #expect(e?.description.contains("'no-such-agent-binary' not found") == true, "\(e?.description ?? "")")
    }

    @Test func commandAndURLTogetherIsAConfigError() async throws {
        try #require(Env.pluginsBuilt)
        let e = await #expect(throws: StartupErrors.self) {
            _ = try await Loaded.start(yaml: "plugins:\n  - id: mcp\n    library: mcp\nagents:\n  - name: a\n    transport: mcp\n    config: {command: x, url: 'http://127.0.0.1:1/mcp'}\n")
        }
        #expect(e?.description.contains("set only one") == true, "\(e?.description ?? "")")
    }
}
