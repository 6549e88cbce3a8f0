import Foundation
import Testing
@testable import Host

/// Media (ABI 1.2) through the MCP and OpenAI transports: the new message's and the
/// history's attachments reach the agent in each transport's form, and an MCP answer's
/// resource link comes back as the outcome's `{"media": [...]}`.
@Suite(.serialized) struct MediaTransportTests {
    static func call(_ text: String) -> AgentCall {
        var c = AgentCall()
        c.messageId = UUID().uuidString
        c.sessionId = "s1"
        c.channel = "twilio"
        c.from = "+15550001111"
        c.to = "+15550002222"
        c.text = text
        c.history = [("user", "earlier", 1_700_000_000_000), ("assistant", "ok", 1_700_000_001_000)]
        c.historyMedia = [(0, "https://media.example.com/old.jpg", "image/jpeg")]
        c.media = [("https://media.example.com/new.png", "image/png"), ("https://media.example.com/doc.pdf", "application/pdf")]
        c.timeoutMs = 10_000
        c.timeMs = Int64(Date().timeIntervalSince1970 * 1000)
        return c
    }

    @Test(.enabled(if: Env.pythonMCP, "skipped: python3 cannot import the MCP SDK"))
    func mcpGetsMediaArgumentsAndAnswersWithAResourceLink() async throws {
        try #require(Env.pluginsBuilt, "run `swift build` first: plugins missing in \(Env.buildDir)")
        let g = try await Loaded.start(yaml: MCPStdioTests.yaml(tool: "picture"))
        defer { g.stop() }
        let a = try g.agent("py")
        let out = await a.transport.call(a, Self.call("look"))
        #expect(out.status == 0, "\(out.error)")
        #expect(out.text == "media=2 history_media=1 first=https://media.example.com/new.png")
        let data = try #require(JSONSerialization.jsonObject(with: Data(out.data.utf8)) as? [String: Any])
        let media = try #require(data["media"] as? [[String: Any]])
        #expect(media.count == 1 && media[0]["url"] as? String == "https://cdn.example.com/cat.png" && media[0]["content_type"] as? String == "image/png")
    }

    @Test func openAIGetsImageContentParts() async throws {
        try #require(Env.pluginsBuilt, "run `swift build` first: plugins missing in \(Env.buildDir)")
        setenv("DS_TEST_OPENAI_KEY", "k-test-123", 1)
        let agent = try ChildServer.agentHTTP()
        defer { agent.stop() }
        let g = try await Loaded.start(yaml: OpenAITests.yaml(agent.port))
        defer { g.stop() }
        let a = try g.agent("o")
        let out = await a.transport.call(a, Self.call("what is this?"))
        #expect(out.status == 0, "\(out.error)")
        let seen = try await lastRequest(agent.port)
        let messages = try #require((seen["body"] as? [String: Any])?["messages"] as? [[String: Any]])
        // system, user (with its picture), assistant, user (text + image + the pdf named in text).
        #expect(messages.count == 4)
        let old = try #require(messages[1]["content"] as? [[String: Any]])
        #expect(old.map { $0["type"] as? String ?? "" } == ["text", "image_url"])
        #expect((old[1]["image_url"] as? [String: Any])?["url"] as? String == "https://media.example.com/old.jpg")
        #expect(messages[2]["content"] as? String == "ok")
        let new = try #require(messages[3]["content"] as? [[String: Any]])
        #expect(new.map { $0["type"] as? String ?? "" } == ["text", "image_url", "text"])
        #expect(new[0]["text"] as? String == "what is this?")
        #expect((new[1]["image_url"] as? [String: Any])?["url"] as? String == "https://media.example.com/new.png")
        #expect((new[2]["text"] as? String)?.contains("https://media.example.com/doc.pdf") == true)
    }
}
