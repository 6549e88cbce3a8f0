import Foundation
import Testing
@testable import Host
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What the fixture agent saw last (GET /requests).
func lastRequest(_ port: Int) async throws -> [String: Any] {
    let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/requests")!)
    return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
}

/// The `http-agent` transport against a local agent (Fixtures/agent_http_server.py).
@Suite(.serialized) struct HTTPAgentTests {
    static func yaml(_ port: Int, path: String = "/chat", extra: String = "") -> String {
        """
        plugins:
          - id: http
            library: http-agent
        agents:
          - name: h
            transport: http
            config:
              url: http://127.0.0.1:\(port)\(path)
              health_url: http://127.0.0.1:\(port)/health
        \(extra)
        """
    }

    @Test func envelopeAndSessionStateRoundTrip() async throws {
        try #require(Env.pluginsBuilt, "run `swift build` first: plugins missing in \(Env.buildDir)")
        let agent = try ChildServer.agentHTTP()
        defer { agent.stop() }
        let g = try await Loaded.start(yaml: Self.yaml(agent.port))
        defer { g.stop() }
        let first = try await g.call("h", "hello", history: [("user", "old")])
        #expect(first.status == 0, "\(first.error)")
        #expect(first.text == "got: hello (history 1)")
        let seen = try await lastRequest(agent.port)
        let body = try #require(seen["body"] as? [String: Any])
        #expect(body["type"] as? String == "chat.request")
        #expect(body["phone_number"] as? String == "+15550001111")
        #expect(body["session_id"] as? String == "s1")
        #expect((body["message_id"] as? String)?.isEmpty == false)
        #expect((body["timestamp"] as? String)?.hasSuffix("Z") == true)
        #expect((body["metadata"] as? [String: Any])?["platform"] as? String == "sms")
        #expect((body["metadata"] as? [String: Any])?["channel"] as? String == "twilio")
        let ctx = try #require(body["context"] as? [String: Any])
        #expect((ctx["conversation_history"] as? [[String: Any]])?.first?["content"] as? String == "old")
        #expect((ctx["conversation_history"] as? [[String: Any]])?.first?["timestamp"] as? String == "2023-11-14T22:13:20.000Z")
        // The agent's session_state comes back in the outcome's data...
        let data = try #require(JSONSerialization.jsonObject(with: Data(first.data.utf8)) as? [String: Any])
        let state = try #require(data["session_state"] as? [String: Any])
        #expect(state["turns"] as? Int == 1)
        // ...and sent with the next request, where the agent builds on it.
        let stateText = String(decoding: try JSONSerialization.data(withJSONObject: state), as: UTF8.self)
        let second = try await g.call("h", "again", sessionState: stateText)
        let data2 = try #require(JSONSerialization.jsonObject(with: Data(second.data.utf8)) as? [String: Any])
        #expect((data2["session_state"] as? [String: Any])?["turns"] as? Int == 2)
        let a = try g.agent("h")
        #expect(await a.transport.probe(a).status == 0)
    }

    @Test func apiKeyIsSentAsBearer() async throws {
        try #require(Env.pluginsBuilt)
        let agent = try ChildServer.agentHTTP()
        defer { agent.stop() }
        let ok = try await Loaded.start(yaml: Self.yaml(agent.port, path: "/secure").replacingOccurrences(of: "      health_url", with: "      api_key: sekret\n      health_url"))
        defer { ok.stop() }
        #expect(try await ok.call("h", "x").status == 0)
        let refused = try await Loaded.start(yaml: Self.yaml(agent.port, path: "/secure"))
        defer { refused.stop() }
        let out = try await refused.call("h", "x")
        #expect(out.status == -3 && !out.error.contains("sekret"), "\(out.error)")   // DS_ERR_AUTH
    }

    @Test func timeoutsAnd5xxAreRetryableBadAnswersAreNot() async throws {
        try #require(Env.pluginsBuilt)
        let agent = try ChildServer.agentHTTP()
        defer { agent.stop() }
        let slow = try await Loaded.start(yaml: Self.yaml(agent.port, path: "/slow").replacingOccurrences(of: "      health_url", with: "      timeout: 0.5\n      health_url"))
        defer { slow.stop() }
        let t = try await slow.call("h", "x")
        #expect(t.status == -5, "\(t.status) \(t.error)")
        let fail = try await Loaded.start(yaml: Self.yaml(agent.port, path: "/fail"))
        defer { fail.stop() }
        let f = try await fail.call("h", "x")
        #expect(f.status == -6 && f.isRetryable, "\(f.status) \(f.error)")
        let bad = try await Loaded.start(yaml: Self.yaml(agent.port, path: "/bad"))
        defer { bad.stop() }
        let b = try await bad.call("h", "x")
        #expect(b.status == -1 && !b.isRetryable, "\(b.error)")
        #expect(b.error.contains("chat.response"))
    }

    @Test func connectionRefusedIsUnavailable() async throws {
        try #require(Env.pluginsBuilt)
        let g = try await Loaded.start(yaml: Self.yaml(Env.freePort()))
        defer { g.stop() }
        let out = try await g.call("h", "x")
        #expect(out.status == -6, "\(out.status) \(out.error)")
        let a = try g.agent("h")
        #expect(await a.transport.probe(a).status != 0)
    }

    @Test func badConfigNamesTheField() async throws {
        try #require(Env.pluginsBuilt)
        let e = await #expect(throws: StartupErrors.self) {
            _ = try await Loaded.start(yaml: "plugins:\n  - id: http\n    library: http-agent\nagents:\n  - name: h\n    transport: http\n    config: {url: 'ftp://x'}\n")
        }
        #expect(e?.description.contains("url: must be an absolute http") == true, "\(e?.description ?? "")")
    }
}

/// The `openai` transport against a local OpenAI-compatible fixture.
@Suite(.serialized) struct OpenAITests {
    static func yaml(_ port: Int, base: String = "/v1", extra: String = "") -> String {
        """
        plugins:
          - id: oa
            library: openai
        agents:
          - name: o
            transport: oa
            config:
              url: http://127.0.0.1:\(port)\(base)
              model: tiny-model
              system_prompt: be brief
              api_key_env: DS_TEST_OPENAI_KEY
        \(extra)
        """
    }

    @Test func messagesModelAndKeyFromEnvironment() async throws {
        try #require(Env.pluginsBuilt, "run `swift build` first: plugins missing in \(Env.buildDir)")
        setenv("DS_TEST_OPENAI_KEY", "k-test-123", 1)
        let agent = try ChildServer.agentHTTP()
        defer { agent.stop() }
        let g = try await Loaded.start(yaml: Self.yaml(agent.port))
        defer { g.stop() }
        let out = try await g.call("o", "hello", history: [("user", "a"), ("assistant", "b")])
        #expect(out.status == 0, "\(out.error)")
        #expect(out.text == "model=tiny-model n=4 last=hello system=be brief")
        let seen = try await lastRequest(agent.port)
        #expect(seen["path"] as? String == "/v1/chat/completions")
        #expect((seen["headers"] as? [String: Any])?["authorization"] as? String == "Bearer k-test-123")
        let msgs = try #require((seen["body"] as? [String: Any])?["messages"] as? [[String: Any]])
        #expect(msgs.map { $0["role"] as? String ?? "" } == ["system", "user", "assistant", "user"])
        let a = try g.agent("o")
        #expect(await a.transport.probe(a).status == 0)
    }

    @Test func errorsAreClassified() async throws {
        try #require(Env.pluginsBuilt)
        setenv("DS_TEST_OPENAI_KEY", "k-test-123", 1)
        let agent = try ChildServer.agentHTTP()
        defer { agent.stop() }
        let e500 = try await Loaded.start(yaml: Self.yaml(agent.port, base: "/v1-500"))
        defer { e500.stop() }
        let a = try await e500.call("o", "x")
        #expect(a.status == -6, "\(a.status) \(a.error)")
        let e429 = try await Loaded.start(yaml: Self.yaml(agent.port, base: "/v1-429"))
        defer { e429.stop() }
        let b = try await e429.call("o", "x")
        #expect(b.status == -4 && b.retryAfterMs == 7000, "\(b.status) \(b.retryAfterMs)")
        let slow = try await Loaded.start(yaml: Self.yaml(agent.port, base: "/v1-slow").replacingOccurrences(of: "      model:", with: "      timeout: 0.5\n      model:"))
        defer { slow.stop() }
        let c = try await slow.call("o", "x")
        #expect(c.status == -5, "\(c.status) \(c.error)")
        #expect(!a.error.contains("k-test-123") && !b.error.contains("k-test-123"))
    }

    @Test func missingKeyVariableIsAConfigError() async throws {
        try #require(Env.pluginsBuilt)
        unsetenv("DS_TEST_OPENAI_MISSING")
        let e = await #expect(throws: StartupErrors.self) {
            _ = try await Loaded.start(yaml: Self.yaml(1).replacingOccurrences(of: "DS_TEST_OPENAI_KEY", with: "DS_TEST_OPENAI_MISSING"))
        }
        #expect(e?.description.contains("DS_TEST_OPENAI_MISSING is not set") == true, "\(e?.description ?? "")")
    }
}
