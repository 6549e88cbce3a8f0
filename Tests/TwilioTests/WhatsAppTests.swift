import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Host
import Testing
import TestPeers
import TwilioCore

/// WhatsApp through Twilio (issue 17, item 1): a `whatsapp: true` instance of the twilio
/// plugin — whatsapp:+E164 addresses, inbound media, signatures exactly as for SMS (the
/// official twilio library as peer), opt-out keywords, status callbacks, and the 24-hour
/// customer-service window (free-form inside, an approved template outside, refused with
/// a message.rejected event without one). A fake Twilio REST API and a real HTTP agent.
@Suite(.serialized) struct WhatsAppTests {
    static let sender = "+14155238886"
    static let template = "HX0123456789abcdef0123456789abcdef"
    static let opToken = "op-token-0123456789abcdef"

    static func yaml(twilioPort: Int, agentPort: Int, dir: String) -> String {
        """
        server:
          listen: 127.0.0.1:0
          public_url: \(Support.publicURL)
        store:
          url: "sqlite:\(dir)/ds.sqlite"
        routing:
          inline_reply_budget: 800ms
        plugin_path: [\(Support.buildDir)]
        admin:
          listen: 127.0.0.1:0
          tokens:
            - { name: olivia, token: "\(opToken)", role: operator }
        plugins:
          - id: whatsapp
            library: twilio
            config:
              account_sid: \(Support.accountSid)
              auth_token: "\(Support.authToken)"
              from: "\(sender)"
              whatsapp: true
              webhook_path: /twilio/whatsapp
              status_path: /twilio/whatsapp-status
              window_file: \(dir)/whatsapp-window.json
              api_base: http://127.0.0.1:\(twilioPort)
          - id: http
            library: http-agent
          - id: events
            library: file-sink
            config: { path: \(dir)/events.jsonl, fsync: always }
        agents:
          - name: media
            transport: http
            config:
              url: http://127.0.0.1:\(agentPort)/chat
        """
    }

    static func params(from: String = "whatsapp:+15551234567", body: String, media: [(String, String)] = [], sid: String? = nil) -> [(String, String)] {
        let s = sid ?? Support.newSid()
        var p: [(String, String)] = [("SmsMessageSid", s), ("NumMedia", String(media.count)), ("ProfileName", "Ada"),
                                     ("WaId", String(from.dropFirst("whatsapp:+".count))), ("From", from), ("To", "whatsapp:\(sender)"),
                                     ("Body", body), ("MessageSid", s), ("AccountSid", Support.accountSid), ("ApiVersion", "2010-04-01")]
        for (i, m) in media.enumerated() { p.append(("MediaUrl\(i)", m.0)); p.append(("MediaContentType\(i)", m.1)) }
        return p
    }

    func post(_ port: Int, _ p: [(String, String)], path: String = "/twilio/whatsapp", signature: String? = nil) async throws -> Support.Response {
        let signed = Support.signedForm(p, path: path)
        return try await Support.post(port: port, path: path, body: signed.body, headers: ["X-Twilio-Signature": signature ?? signed.signature])
    }

    func events(_ dir: String) -> [JSONValue] {
        ((try? String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
    }

    func waitFor<T>(_ what: String, _ probe: () async throws -> T?) async throws -> T {
        for _ in 0..<200 {
            if let v = try await probe() { return v }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Support.ProcessFailure(description: "timed out waiting for \(what)")
    }

    @Test func whatsappConversationWindowAndTemplates() async throws {
        let twilio = try Support.FakeTwilio()
        defer { twilio.stop() }
        let agent = try TestPeers.PythonServer(script: Support.testsDir.appendingPathComponent("media_agent.py").path)
        defer { agent.stop() }
        let dir = NSTemporaryDirectory() + "ds-whatsapp-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try await Support.withGateway(Self.yaml(twilioPort: twilio.port, agentPort: agent.port, dir: dir)) { g, port in
            let admin = try #require(g.adminPort)
            // Signatures exactly as for SMS: the official library's is accepted, a forged one is 403.
            let photo = ("https://api.twilio.com/2010-04-01/Accounts/\(Support.accountSid)/Messages/MM9/Media/ME9", "image/jpeg")
            let p = Self.params(body: "a picture of my order", media: [photo])
            let official = try Support.officialSignatures([(Support.authToken, Support.publicURL + "/twilio/whatsapp", Dictionary(uniqueKeysWithValues: p), nil)])[0]
            #expect(try await post(port, p, signature: "AAAA" + official.dropFirst(4)).status == 403)
            let first = try await post(port, p, signature: official)
            #expect(first.status == 200)
            #expect(TwiML.messages(in: first.body) == ["got: a picture of my order media=1 history_media=0"])
            #expect(TwiML.mediaURLs(in: first.body) == ["https://cdn.example.com/cat.png"])
            let seen = try #require(try await MediaTests.agentRequests(agent.port).last)
            #expect(seen["phone_number"] as? String == "whatsapp:+15551234567")
            #expect(MediaTests.media(seen["media"]) == ["\(photo.0) image/jpeg"])
            #expect((seen["metadata"] as? [String: Any])?["to"] as? String == "whatsapp:\(Self.sender)")

            // Inside the window: a deferred reply is free-form, from whatsapp:<sender> to whatsapp:<user>.
            #expect(TwiML.messages(in: try await post(port, Self.params(body: "slow please")).body).isEmpty)
            let late = try await waitFor("the deferred WhatsApp reply") {
                try await twilio.requests().first { (($0["form"] as? [String: String])?["Body"] ?? "").hasPrefix("got: slow please") }
            }
            let lateForm = try #require(late["form"] as? [String: String])
            #expect(lateForm["To"] == "whatsapp:+15551234567" && lateForm["From"] == "whatsapp:\(Self.sender)" && lateForm["ContentSid"] == nil)

            // Outside the window (a number that never wrote): a proactive message without a
            // template is refused by the channel with a clear error and a message.rejected event...
            func proactive(_ body: String) async throws -> (Int, JSONValue?) {
                let r = try await Support.post(port: admin, path: "/api/v1/messages", body: body,
                                               headers: ["Authorization": "Bearer \(Self.opToken)"], contentType: "application/json")
                return (r.status, try? JSONValue.parse(r.body))
            }
            let (st1, _) = try await proactive(#"{"to":"whatsapp:+15550009999","text":"Your order shipped"}"#)
            #expect(st1 == 202)
            let rejected = try await waitFor("message.rejected for the window") {
                events(dir).first { $0["type"] == .string("message.rejected") && $0["reason"] == .string("refused_by_channel") }
            }
            #expect(rejected["error"]?.stringValue?.contains("outside the 24-hour customer-service window") == true, "\(rejected)")
            #expect(rejected["detail_code"] == .number(63016))
            #expect(try await twilio.requests().allSatisfy { ($0["form"] as? [String: String])?["To"] != "whatsapp:+15550009999" })
            // ...and with an approved template it goes out as ContentSid + ContentVariables, no Body.
            let (st2, _) = try await proactive(##"{"to":"whatsapp:+15550008888","text":"Your order shipped","template":{"content_sid":"\##(Self.template)","content_variables":{"1":"Ada","2":"#1234"}}}"##)
            #expect(st2 == 202)
            let templated = try await waitFor("the template send") {
                try await twilio.requests().first { ($0["form"] as? [String: String])?["To"] == "whatsapp:+15550008888" }
            }
            let tf = try #require(templated["form"] as? [String: String])
            #expect(tf["ContentSid"] == Self.template && tf["Body"] == nil && tf["From"] == "whatsapp:\(Self.sender)")
            #expect(tf["ContentVariables"] == ##"{"1":"Ada","2":"#1234"}"##)
            // The window survives in the state file (a restart keeps it).
            #expect((try? String(contentsOfFile: "\(dir)/whatsapp-window.json", encoding: .utf8))?.contains("whatsapp:+15551234567") == true)

            // Opt-out keywords as on SMS; status callbacks on the instance's status path.
            let stop = try await post(port, Self.params(body: "STOP"))
            #expect(stop.status == 200 && !TwiML.messages(in: stop.body).isEmpty)
            let (st3, refused) = try await proactive(#"{"to":"whatsapp:+15551234567","text":"Sale!"}"#)
            #expect(st3 == 409 && refused?["error"]?["code"] == .string("opted_out"))
            let status = try await post(port, [("MessageSid", "SM0123456789abcdef0123456789abcdef"), ("MessageStatus", "delivered"), ("AccountSid", Support.accountSid),
                                               ("From", "whatsapp:\(Self.sender)"), ("To", "whatsapp:+15551234567")], path: "/twilio/whatsapp-status")
            #expect(status.status == 200)
        }
    }
}
