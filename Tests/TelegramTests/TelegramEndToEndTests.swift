import Foundation
import Host
import PluginAPI
import Synchronization
import Testing

/// Records what reaches the router (and passes it on), so a test can tell that a refused
/// webhook submitted nothing and what the channel submitted (addresses, media).
final class RecordingRouter: InboundRouter, @unchecked Sendable {
    let inner: any InboundRouter
    let submitted = Mutex<[Inbound]>([])
    init(_ inner: any InboundRouter) { self.inner = inner }
    func submit(_ m: Inbound, completion: @escaping @Sendable (SubmitOutcome) -> Void) {
        submitted.withLock { $0.append(m) }
        inner.submit(m, completion: completion)
    }
    func reportStatus(channel: String, providerMessageId: String, status: String, errorCode: Int32) -> Bool {
        inner.reportStatus(channel: channel, providerMessageId: providerMessageId, status: status, errorCode: errorCode)
    }
}

/// The real gateway with libds-telegram.so and the C echo agent against the fake Bot API.
@Suite(.serialized) struct TelegramEndToEndTests {
    @Test func webhookRepliesWithHistoryAndDedupe() async throws {
        let fake = try TG.FakeBotAPI()
        defer { fake.stop() }
        try await TG.withGateway(TG.gatewayYAML(api: fake.base)) { g, port in
            let rec = RecordingRouter(g.router!); g.runtime.router = rec
            do { let status = try await TG.deliver(port, TG.update(1, chat: 111, text: "hello")).status; #expect(status == 200) }
            do { let status = try await TG.deliver(port, TG.update(2, chat: 111, text: "again")).status; #expect(status == 200) }
            #expect(try await fake.sent(to: 111) == ["echo: hello (history: 0)", "echo: again (history: 2)"])
            // Telegram redelivers update 1 (e.g. our 200 was lost): the agent does not see it again.
            do { let status = try await TG.deliver(port, TG.update(1, chat: 111, text: "hello")).status; #expect(status == 200) }
            do { let status = try await TG.deliver(port, TG.update(3, chat: 111, text: "third")).status; #expect(status == 200) }
            let sent = try await fake.sent(to: 111)
            #expect(sent.last == "echo: third (history: 4)")
            let m = try #require(rec.submitted.withLock { $0.first })
            #expect(m.channel == "telegram" && m.from == "telegram:111" && m.to == "telegram:123456789" && m.channelMessageId == "111:1")
            #expect(m.metadata.contains("\"username\":\"ada\""))
            // setWebhook registered our URL with the secret; an instant reply needs no "typing…".
            let set = try #require(try await fake.requests("setWebhook").first?["params"] as? [String: Any])
            #expect(set["url"] as? String == "\(TG.publicURL)/telegram/webhook" && set["secret_token"] as? String == TG.secret)
            #expect(try await fake.requests("sendChatAction").isEmpty)
        }
    }

    @Test func typingWhileTheAgentWorksAndTheReplyInTheWebhookAnswer() async throws {
        let fake = try TG.FakeBotAPI()
        defer { fake.stop() }
        let yaml = TG.gatewayYAML(api: fake.base, agentConfig: "prefix: slow\n      delay_ms: 1600", replyInWebhook: true)
        try await TG.withGateway(yaml) { _, port in
            let r = try await TG.deliver(port, TG.update(1, chat: 777, text: "think"))
            #expect(r.status == 200)
            let call = try #require(r.json as [String: Any]?)
            #expect(call["method"] as? String == "sendMessage" && (call["chat_id"] as? NSNumber)?.int64Value == 777
                    && call["text"] as? String == "slow: think (history: 0)")
            // The reply went out in the webhook's answer, not as a request; "typing…" was shown meanwhile.
            #expect(try await fake.requests("sendMessage").isEmpty)
            let typing = try await fake.requests("sendChatAction").map { $0["params"] as! [String: Any] }
            #expect(typing.count == 1 && (typing[0]["chat_id"] as? NSNumber)?.int64Value == 777 && typing[0]["action"] as? String == "typing")
        }
    }

    @Test func forgedOrMissingSecretIs403AndNothingIsStored() async throws {
        let fake = try TG.FakeBotAPI()
        defer { fake.stop() }
        try await TG.withGateway(TG.gatewayYAML(api: fake.base)) { g, port in
            let rec = RecordingRouter(g.router!); g.runtime.router = rec
            let u = TG.update(7, chat: 222, text: "let me in")
            do { let status = try await TG.deliver(port, u, secret: nil).status; #expect(status == 403) }
            do { let status = try await TG.deliver(port, u, secret: "wrong-secret").status; #expect(status == 403) }
            do { let status = try await TG.deliver(port, u, secret: TG.secret + "x").status; #expect(status == 403) }
            do { let status = try await TG.deliver(port, u, secret: "").status; #expect(status == 403) }
            // Right secret, malformed bodies: 400.
            do { let status = try await TG.post(url: "http://127.0.0.1:\(port)/telegram/webhook", body: Data("not json".utf8),
                                      headers: ["X-Telegram-Bot-Api-Secret-Token": TG.secret]).status; #expect(status == 400) }
            do { let status = try await TG.deliver(port, ["message": ["text": "no update id"]]).status; #expect(status == 400) }
            do { let status = try await TG.deliver(port, ["update_id": 9, "message": ["message_id": 1, "text": "no chat"]]).status; #expect(status == 400) }
            #expect(rec.submitted.withLock { $0.isEmpty })
            #expect(try g.store.isOptedOut(channel: "telegram", remote: "telegram:222") == false)
            #expect(try await fake.requests("sendMessage").isEmpty)
            // The same update with the right secret goes through.
            do { let status = try await TG.deliver(port, u).status; #expect(status == 200) }
            #expect(try await fake.sent(to: 222) == ["echo: let me in (history: 0)"])
        }
    }

    @Test func startStopAndBlockingUseTheRoutersOptOutLedger() async throws {
        let fake = try TG.FakeBotAPI()
        defer { fake.stop() }
        try await TG.withGateway(TG.gatewayYAML(api: fake.base)) { g, port in
            let chat: Int64 = 333
            do { let status = try await TG.deliver(port, TG.update(1, chat: chat, text: "/stop")).status; #expect(status == 200) }
            #expect(try g.store.isOptedOut(channel: "telegram", remote: "telegram:333"))
            do { let status = try await TG.deliver(port, TG.update(2, chat: chat, text: "anyone?")).status; #expect(status == 200) }
            do { let status = try await TG.deliver(port, TG.update(3, chat: chat, text: "/start deep-link-payload")).status; #expect(status == 200) }
            #expect(try !g.store.isOptedOut(channel: "telegram", remote: "telegram:333"))
            do { let status = try await TG.deliver(port, TG.update(4, chat: chat, text: "hi")).status; #expect(status == 200) }
            // The opted-out message reached no agent and got no answer; keywords were answered by the router.
            #expect(try await fake.sent(to: chat) == ["You are unsubscribed.", "Welcome!", "echo: hi (history: 0)"])
            // Blocking the bot (my_chat_member: kicked) opts out; nothing can be sent to the user then.
            let kicked: [String: Any] = ["update_id": 5, "my_chat_member": ["chat": ["id": chat, "type": "private"], "date": 1,
                                         "from": ["id": chat, "is_bot": false, "first_name": "Ada"],
                                         "old_chat_member": ["status": "member", "user": ["id": 1, "is_bot": true, "first_name": "b"]],
                                         "new_chat_member": ["status": "kicked", "user": ["id": 1, "is_bot": true, "first_name": "b"], "until_date": 0]]]
            do { let status = try await TG.deliver(port, kicked).status; #expect(status == 200) }
            #expect(try g.store.isOptedOut(channel: "telegram", remote: "telegram:333"))
            #expect(try await fake.sent(to: chat).count == 3)
        }
    }

    @Test func longRepliesSplitAt4096AndRateLimitsAreHonoured() async throws {
        let fake = try TG.FakeBotAPI()
        defer { fake.stop() }
        try await TG.withGateway(TG.gatewayYAML(api: fake.base)) { g, _ in
            let channel = try #require(g.plugins!.channel("telegram"))
            let long = String(repeating: "word ", count: 1000) + String(repeating: "é", count: 3000)   // 8000 characters
            // Chat 429429: the 2nd sendMessage answers 429 retry_after 1: the host is told to wait 1 s.
            let first = await channel.send(messageId: "m-long", correlationId: "c", to: "telegram:429429", from: "", text: long)
            #expect(first.status == DS_ERR_RATE_LIMITED && first.retryAfterMs == 1000)
            let second = await channel.send(messageId: "m-long", correlationId: "c", to: "telegram:429429", from: "", text: long)
            #expect(second.status == DS_OK)
            let calls = try await fake.sent(to: 429429)
            // Part 1 accepted once (not re-sent on the retry), the 429'd part 2 sent again, all within 4096.
            #expect(calls.count == 3 && calls[1] == calls[2] && calls[0] != calls[1])
            let parts = [calls[0], calls[2]]
            #expect(parts.allSatisfy { $0.utf16.count <= 4096 })
            #expect(parts.joined(separator: " ").filter { !$0.isWhitespace } == long.filter { !$0.isWhitespace })
            // A blocked user: opted out with Telegram's 403 as detail.
            let blocked = await channel.send(messageId: "m-b", correlationId: "c", to: "telegram:403403", from: "", text: "hi")
            #expect(blocked.status == DS_ERR_OPTED_OUT && blocked.detailCode == 403)
            let bad = await channel.send(messageId: "m-x", correlationId: "c", to: "+15551234567", from: "", text: "hi")
            #expect(bad.status == DS_ERR_INVALID)
        }
    }

    @Test func inlineReplyWaitsOutA429() async throws {
        let fake = try TG.FakeBotAPI()
        defer { fake.stop() }
        try await TG.withGateway(TG.gatewayYAML(api: fake.base)) { _, port in
            do { let status = try await TG.deliver(port, TG.update(1, chat: 429429, text: "one")).status; #expect(status == 200) }
            do { let status = try await TG.deliver(port, TG.update(2, chat: 429429, text: "two")).status; #expect(status == 200) }
            let calls = try await fake.requests("sendMessage")
            #expect(try await fake.sent(to: 429429) == ["echo: one (history: 0)", "echo: two (history: 2)", "echo: two (history: 2)"])
            // The retry came no sooner than retry_after (1 s) after the 429.
            let t = calls.compactMap { ($0["t"] as? NSNumber)?.doubleValue }
            #expect(t.count == 3 && t[2] - t[1] >= 0.99)
        }
    }

    @Test func photosReachTheAgentAsSignedLinks() async throws {
        let fake = try TG.FakeBotAPI()
        defer { fake.stop() }
        try await TG.withGateway(TG.gatewayYAML(api: fake.base).replacingOccurrences(of: "public_url: \(TG.publicURL)\n      ", with: "public_url: http://127.0.0.1:1\n      ")) { g, port in
            let rec = RecordingRouter(g.router!); g.runtime.router = rec
            let photo: [String: Any] = ["update_id": 1, "message": ["message_id": 5, "date": 1, "caption": "look",
                "chat": ["id": 444, "type": "private"], "from": ["id": 444, "is_bot": false, "first_name": "A"],
                "photo": [["file_id": "small-id", "file_unique_id": "s", "width": 90, "height": 90],
                          ["file_id": "big+id/1", "file_unique_id": "b", "width": 1280, "height": 960]]]]
            do { let status = try await TG.deliver(port, photo).status; #expect(status == 200) }
            let m = try #require(rec.submitted.withLock { $0.first })
            #expect(m.text == "look" && m.media.count == 1 && m.media[0].contentType == "image/jpeg")
            let url = m.media[0].url
            #expect(url.hasPrefix("http://127.0.0.1:1/telegram/file?id=big%2Bid%2F1&sig=") && !url.contains(TG.token))
            let local = url.replacingOccurrences(of: "http://127.0.0.1:1", with: "http://127.0.0.1:\(port)")
            let got = try await TG.get(local)
            #expect(got.status == 200 && got.body == Data([0xff, 0xd8, 0xff, 0xe0] + Array("fake-jpeg-bytes".utf8)))
            // A link to another file with this signature, or a made-up signature: 403.
            do { let status = try await TG.get(local.replacingOccurrences(of: "big%2Bid%2F1", with: "small-id")).status; #expect(status == 403) }
            do { let status = try await TG.get("http://127.0.0.1:\(port)/telegram/file?id=small-id&sig=00000000000000000000000000000000").status; #expect(status == 403) }
        }
    }

    @Test func webhookModeWithoutASecretIsAConfigError() async throws {
        let yaml = TG.gatewayYAML(api: "http://127.0.0.1:9").replacingOccurrences(of: "secret_token: \(TG.secret)", with: "set_webhook: false")
        let g = Gateway(config: try ConfigLoader().load(yaml: yaml), logger: .init(label: "t"))
        do {
            _ = try await g.start()
            await g.stop()
            Issue.record("started without secret_token")
        } catch {
            #expect("\(error)".contains("secret_token"))
            #expect(!"\(error)".contains("AAHfake"))
        }
    }
}
