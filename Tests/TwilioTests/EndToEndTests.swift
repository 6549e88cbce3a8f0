import Foundation
import Host
import PluginAPI
import Synchronization
import Testing
import SMSText
import TwilioCore

/// Records what reaches the router (and passes it on), so tests can tell that a
/// refused webhook submitted nothing and that status callbacks were reported.
final class RecordingRouter: InboundRouter, @unchecked Sendable {
    let inner: any InboundRouter
    let submitted = Mutex<[Inbound]>([])
    let statuses = Mutex<[(String, String, String, Int32)]>([])
    init(_ inner: any InboundRouter) { self.inner = inner }
    func submit(_ m: Inbound, completion: @escaping @Sendable (SubmitOutcome) -> Void) {
        submitted.withLock { $0.append(m) }
        inner.submit(m, completion: completion)
    }
    func reportStatus(channel: String, providerMessageId: String, status: String, errorCode: Int32) -> Bool {
        statuses.withLock { $0.append((channel, providerMessageId, status, errorCode)) }
        return true
    }
    var submittedTexts: [String] { submitted.withLock { $0.map(\.text) } }
}

/// The real gateway with the twilio plugin (libds-twilio.so) and the C echo agent, over HTTP.
@Suite(.serialized) struct EndToEndTests {
    func post(_ port: Int, _ params: [(String, String)], path: String = "/twilio/sms", signature: String? = nil) async throws -> Support.Response {
        let signed = Support.signedForm(params, path: path)
        return try await Support.post(port: port, path: path, body: signed.body, headers: ["X-Twilio-Signature": signature ?? signed.signature])
    }

    @Test func signedWebhookGetsTheAgentsReplyAsTwiML() async throws {
        try await Support.withGateway(Support.gatewayYAML()) { g, port in
            let rec = RecordingRouter(g.router!); g.runtime.router = rec
            let r = try await post(port, Support.smsParams(body: "hello <world> & co", sid: "SMe2e1"))
            #expect(r.status == 200)
            #expect(r.headers["content-type"]?.hasPrefix("text/xml") == true)
            #expect(try Support.etreeMessages(r.body) == ["echo: hello <world> & co (history: 0)"])
            let second = try await post(port, Support.smsParams(body: "again"))
            #expect(TwiML.messages(in: second.body) == ["echo: again (history: 2)"])
            let m = try #require(rec.submitted.withLock { $0.first })
            #expect(m.channel == "twilio" && m.channelMessageId == "SMe2e1" && m.from == "+15551234567" && m.to == "+15557654321")
            #expect(m.metadata.contains("AccountSid"))
            // The official library's signature is accepted by the running gateway too.
            let params = Support.smsParams(body: "official", sid: "SMofficial")
            let sig = try Support.officialSignatures([(Support.authToken, Support.publicURL + "/twilio/sms", Dictionary(uniqueKeysWithValues: params), nil)])[0]
            let o = try await Support.post(port: port, path: "/twilio/sms", body: FormEncoding.encode(params), headers: ["X-Twilio-Signature": sig])
            #expect(o.status == 200 && TwiML.messages(in: o.body).first?.hasPrefix("echo: official") == true)
        }
    }

    @Test func badSignaturesAndMalformedRequestsAreRefusedAndSubmitNothing() async throws {
        try await Support.withGateway(Support.gatewayYAML()) { g, port in
            let rec = RecordingRouter(g.router!); g.runtime.router = rec
            let p = Support.smsParams(body: "hi")
            let body = FormEncoding.encode(p)
            let good = Support.signedForm(p).signature
            // Missing, wrong, other token, tampered body, signed for another URL.
            #expect(try await Support.post(port: port, path: "/twilio/sms", body: body).status == 403)
            #expect(try await Support.post(port: port, path: "/twilio/sms", body: body, headers: ["X-Twilio-Signature": "AAAA"]).status == 403)
            #expect(try await post(port, p, signature: Support.signedForm(p, token: "another-token-another-token-1234").signature).status == 403)
            #expect(try await Support.post(port: port, path: "/twilio/sms", body: body + "&Extra=1", headers: ["X-Twilio-Signature": good]).status == 403)
            let otherURL = TwilioSignature(authToken: Support.authToken).compute(url: "https://evil.example.com/twilio/sms", params: p)
            #expect(try await post(port, p, signature: otherURL).status == 403)
            // Malformed form; missing From / To / MessageSid (correctly signed).
            #expect(try await Support.post(port: port, path: "/twilio/sms", body: "From=%zz", headers: ["X-Twilio-Signature": good]).status == 400)
            for field in ["From", "To", "MessageSid"] {
                let missing = p.filter { $0.0 != field && !(field == "MessageSid" && $0.0 == "SmsMessageSid") }
                let r = try await post(port, missing)
                #expect(r.status == 400, "without \(field)")
                #expect(r.body.contains(field))
            }
            #expect(rec.submittedTexts.isEmpty)
            // The same request, correctly signed, goes through.
            #expect(try await post(port, p).status == 200)
            #expect(rec.submittedTexts == ["hi"])
        }
    }

    @Test func stopStartHelpGoThroughTheRoutersDurableLedger() async throws {
        // Default (handle_keywords: false): keywords reach the router, whose opt-out ledger is in the store.
        let yaml = Support.gatewayYAML().replacingOccurrences(of: "store:\n  url: \"sqlite::memory:\"", with: """
            store:
              url: "sqlite::memory:"
            routing:
              opt_out_reply: You are unsubscribed.
              opt_in_reply: You are subscribed again.
              help_reply: Help is here.
            """)
        try await Support.withGateway(yaml) { g, port in
            let user = "+15552220000"
            #expect(TwiML.messages(in: try await post(port, Support.smsParams(from: user, body: "HELP")).body) == ["Help is here."])
            #expect(TwiML.messages(in: try await post(port, Support.smsParams(from: user, body: "stop.")).body) == ["You are unsubscribed."])
            #expect(try g.store.isOptedOut(channel: "twilio", remote: user))
            let quiet = try await post(port, Support.smsParams(from: user, body: "are you there?"))
            #expect(quiet.status == 200 && TwiML.messages(in: quiet.body).isEmpty)
            #expect(TwiML.messages(in: try await post(port, Support.smsParams(from: user, body: "Unstop")).body) == ["You are subscribed again."])
            #expect(try !g.store.isOptedOut(channel: "twilio", remote: user))
            // The agent saw none of the keywords or the opted-out message: its history is empty.
            #expect(TwiML.messages(in: try await post(port, Support.smsParams(from: user, body: "hello")).body) == ["echo: hello (history: 0)"])
        }
    }

    @Test func keywordOptionsOfTheChannelAreGoneAndTheStatusCallbackIsLearned() async throws {
        // STOP/START/HELP have one implementation, the router's (durable ledger): the
        // channel's own keyword options were removed and are refused as unknown keys.
        let refused = try await Support.withGatewayError(Support.gatewayYAML(twilio: "handle_keywords: true"))
        #expect(refused.contains("handle_keywords"), "\(refused)")
        let fake = try Support.FakeTwilio()
        defer { fake.stop() }
        try await Support.withGateway(Support.gatewayYAML(apiBase: fake.base)) { g, port in
            let user = "+15551110000"
            #expect(TwiML.messages(in: try await post(port, Support.smsParams(from: user, body: "hello")).body) == ["echo: hello (history: 0)"])
            // No public_url in this config: the StatusCallback base was learned from the webhooks.
            let channel = try #require(g.plugins!.channel("twilio"))
            let sent = await channel.send(messageId: "m-cb", correlationId: "c", to: user, from: "", text: "back")
            #expect(sent.status == DS_OK)
            let form = try #require(try await fake.requests().last?["form"] as? [String: String])
            #expect(form["StatusCallback"] == Support.publicURL + "/twilio/status")
        }
    }

    /// The per-number limit is the host's (`abuse.per_sender`, counted in the store): the
    /// plugin submits every signed message; the old plugin keys load but are ignored.
    @Test func perNumberRateLimitGetsOnePoliteReply() async throws {
        let yaml = Support.gatewayYAML(twilio: "rate_limit_per_minute: 1") + "\nabuse:\n  per_sender: 2\n  rate_limit_reply: Slow down please.\n"
        try await Support.withGateway(yaml) { g, port in
            let rec = RecordingRouter(g.router!); g.runtime.router = rec
            var answers: [[String]] = []
            for i in 0..<4 { answers.append(TwiML.messages(in: try await post(port, Support.smsParams(from: "+15552220000", body: "m\(i)")).body)) }
            #expect(answers[0] == ["echo: m0 (history: 0)"] && answers[1] == ["echo: m1 (history: 2)"])
            #expect(answers[2] == ["Slow down please."])
            #expect(answers[3] == [])
            // Another number is not affected.
            #expect(TwiML.messages(in: try await post(port, Support.smsParams(from: "+15553330000", body: "x")).body) == ["echo: x (history: 0)"])
            #expect(rec.submittedTexts == ["m0", "m1", "m2", "m3", "x"])
        }
    }

    @Test func longRepliesAreSplitIntoSeveralMessages() async throws {
        try await Support.withGateway(Support.gatewayYAML()) { _, port in
            let text = (0..<300).map { "w\($0)" }.joined(separator: " ")   // ~1,400 chars: the echo is longer than 1600
            let long = String(repeating: text + " ", count: 1).trimmingCharacters(in: .whitespaces) + " " + String(repeating: "z ", count: 150)
            let r = try await post(port, Support.smsParams(body: String(long.prefix(1600))))
            let parts = try Support.etreeMessages(r.body)
            #expect(parts.count == 2)
            #expect(parts.allSatisfy { $0.count <= 1600 })
            #expect(parts.joined(separator: " ").hasPrefix("echo: w0 w1"))
        }
    }

    @Test func sendThroughTheRESTAPI() async throws {
        let fake = try Support.FakeTwilio()
        defer { fake.stop() }
        let yaml = Support.gatewayYAML(twilio: "public_url: https://sms.example.com", apiBase: fake.base)
        try await Support.withGateway(yaml) { g, _ in
            let channel = try #require(g.plugins!.channel("twilio"))
            // Success: the provider id, segments, and what Twilio received.
            let ok = await channel.send(messageId: "m1", correlationId: "c1", to: "+15551234567", from: "", text: "Hello €")
            #expect(ok.status == DS_OK && ok.text.hasPrefix("SM") && ok.data == #"{"segments":1}"#)
            var reqs = try await fake.requests()
            let form = try #require(reqs.last?["form"] as? [String: String])
            #expect(reqs.last?["auth_ok"] as? Bool == true)
            #expect(form == ["To": "+15551234567", "From": "+15557654321", "Body": "Hello €", "StatusCallback": "https://sms.example.com/twilio/status"])
            #expect(reqs.last?["path"] as? String == "/2010-04-01/Accounts/\(Support.accountSid)/Messages.json")

            // 429 with Retry-After, then success on the host's retry.
            let limited = await channel.send(messageId: "m2", correlationId: "c2", to: "+15550000429", from: "", text: "hi")
            #expect(limited.status == DS_ERR_RATE_LIMITED && limited.retryAfterMs == 2000 && limited.detailCode == 20429)
            let retried = await channel.send(messageId: "m2", correlationId: "c2", to: "+15550000429", from: "", text: "hi")
            #expect(retried.status == DS_OK && retried.text.hasPrefix("SM"))

            // 5xx: retryable, honouring Retry-After.
            let down = await channel.send(messageId: "m3", correlationId: "c3", to: "+15550000503", from: "", text: "hi")
            #expect(down.status == DS_ERR_UNAVAILABLE && down.retryAfterMs == 1000 && down.isRetryable)

            // Permanent 400 with Twilio's code.
            let bad = await channel.send(messageId: "m4", correlationId: "c4", to: "+15550000400", from: "", text: "hi")
            #expect(bad.status == DS_ERR_INVALID && bad.detailCode == 21211 && !bad.isRetryable)
            #expect(bad.error.contains("21211"))

            // 21610: opted out, reported as such (the host records it in its durable ledger;
            // the channel keeps no list of its own).
            let stopped = await channel.send(messageId: "m5", correlationId: "c5", to: "+15550021610", from: "", text: "hi")
            #expect(stopped.status == DS_ERR_OPTED_OUT && stopped.detailCode == 21610 && !stopped.isRetryable)

            // Not a phone number: refused before any call.
            #expect(await channel.send(messageId: "m7", correlationId: "c7", to: "nobody", from: "", text: "hi").status == DS_ERR_INVALID)

            // A long text: several API calls at word boundaries, segments summed (UCS-2 here).
            let long = (0..<400).map { "ж\($0)" }.joined(separator: " ")   // ~2,000 chars
            reqs = try await fake.requests()
            let n0 = reqs.count
            let multi = await channel.send(messageId: "m8", correlationId: "c8", to: "+15551234567", from: "", text: long)
            reqs = try await fake.requests()
            let bodies = reqs[n0...].compactMap { ($0["form"] as? [String: String])?["Body"] }
            #expect(multi.status == DS_OK && bodies.count == 2)
            #expect(bodies.joined(separator: " ") == long)
            let expectedSegments = bodies.map(SMSSegments.count).reduce(0, +)
            #expect(multi.data == #"{"segments":\#(expectedSegments)}"#)

            // A multi-part send failing half-way: the host's retry (same message id)
            // sends only the part Twilio has not accepted yet.
            let n1 = try await fake.requests().count
            let half = await channel.send(messageId: "m9", correlationId: "c9", to: "+15550000777", from: "", text: long)
            #expect(half.status == DS_ERR_UNAVAILABLE)
            let whole = await channel.send(messageId: "m9", correlationId: "c9", to: "+15550000777", from: "", text: long)
            #expect(whole.status == DS_OK)
            let sent = try await fake.requests()[n1...].compactMap { ($0["form"] as? [String: String])?["Body"] }
            #expect(sent.count == 3 && sent[1] == sent[2] && sent[0] != sent[1])
            #expect(sent[0] + " " + sent[2] == long)
        }
    }

    @Test func wrongCredentialsArePermanentAuthErrors() async throws {
        let fake = try Support.FakeTwilio()
        defer { fake.stop() }
        let yaml = Support.gatewayYAML(apiBase: fake.base).replacingOccurrences(of: "auth_token: \"\(Support.authToken)\"", with: "auth_token: not-the-token")
        try await Support.withGateway(yaml) { g, _ in
            let channel = try #require(g.plugins!.channel("twilio"))
            let r = await channel.send(messageId: "a", correlationId: "a", to: "+15551234567", from: "", text: "x")
            #expect(r.status == DS_ERR_AUTH && r.detailCode == 20003)
            #expect(!r.error.contains("not-the-token"))
        }
    }

    @Test func statusCallbacksAreValidatedAndReported() async throws {
        try await Support.withGateway(Support.gatewayYAML()) { g, port in
            let rec = RecordingRouter(g.router!); g.runtime.router = rec
            let delivered: [(String, String)] = [("MessageSid", "SMs1"), ("MessageStatus", "delivered"), ("AccountSid", Support.accountSid)]
            let r1 = try await post(port, delivered, path: "/twilio/status")
            #expect(r1.status == 200)
            let failed: [(String, String)] = [("MessageSid", "SMs2"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")]
            let r2 = try await post(port, failed, path: "/twilio/status")
            #expect(r2.status == 200)
            // Signed for the SMS route, posted to the status route: refused.
            let r3 = try await post(port, delivered, path: "/twilio/status", signature: Support.signedForm(delivered).signature)
            #expect(r3.status == 403)
            let r4 = try await post(port, [("MessageSid", "SMs3")], path: "/twilio/status")
            #expect(r4.status == 400)
            let got = rec.statuses.withLock { $0.map { "\($0.0) \($0.1) \($0.2) \($0.3)" } }
            #expect(got == ["twilio SMs1 delivered 0", "twilio SMs2 undelivered 30003"])
        }
    }

    @Test func cliSmsPostsASignedWebhookAndPrintsTheReply() async throws {
        let yaml = Support.gatewayYAML()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("twilio-cli-\(UUID().uuidString).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        try await Support.withGateway(yaml) { g, port in
            let rec = RecordingRouter(g.router!); g.runtime.router = rec
            func cli(_ args: [String]) throws -> (Int32, String, String) {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: Support.buildDir + "/darkspere")
                p.arguments = ["sms", "--config", file.path, "--url", "http://127.0.0.1:\(port)/twilio/sms"] + args
                let out = Pipe(), err = Pipe()
                p.standardOutput = out; p.standardError = err
                try p.run()
                let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
            }
            let (code, out, _) = try cli(["--from", "+15554443333", "hi from the cli"])
            #expect(code == 0)
            #expect(out == "echo: hi from the cli (history: 0)\n")
            #expect(rec.submitted.withLock { $0.first?.from } == "+15554443333")
            let (bad, _, err) = try cli(["--from", "nope", "x"])
            #expect(bad != 0 && err.contains("--from"))
        }
    }

    /// A router that answers every message with a fixed outcome.
    final class FixedRouter: InboundRouter, @unchecked Sendable {
        let outcome: SubmitOutcome
        init(_ o: SubmitOutcome) { outcome = o }
        func submit(_ m: Inbound, completion: @escaping @Sendable (SubmitOutcome) -> Void) { completion(outcome) }
        func reportStatus(channel: String, providerMessageId: String, status: String, errorCode: Int32) -> Bool { false }
    }

    @Test func deferredRefusedAndHostileRouterAnswers() async throws {
        try await Support.withGateway(Support.gatewayYAML()) { g, port in
            g.runtime.router = FixedRouter(.deferred)
            let d = try await post(port, Support.smsParams(body: "later"))
            #expect(d.status == 200 && d.body == TwiML.empty && d.headers["content-type"]?.hasPrefix("text/xml") == true)
            g.runtime.router = FixedRouter(.rejected(DS_ERR_UNAVAILABLE, "store down"))
            #expect(try await post(port, Support.smsParams(body: "x")).status == 503)
            g.runtime.router = FixedRouter(.rejected(DS_ERR_INVALID, "bad"))
            #expect(try await post(port, Support.smsParams(body: "x")).status == 400)
            // An agent reply that tries to inject TwiML stays text.
            let hostile = #"</Message><Redirect>https://evil.example/</Redirect><Message>&amp; "q" 'a' <b>"#
            g.runtime.router = FixedRouter(.reply(hostile))
            let h = try await post(port, Support.smsParams(body: "x"))
            #expect(try Support.etreeMessages(h.body) == [hostile])
            // An empty reply sends nothing.
            g.runtime.router = FixedRouter(.reply(""))
            #expect(try await post(port, Support.smsParams(body: "x")).body == TwiML.empty)
        }
    }

    @Test func checkAndPluginsSeeTheTwilioSchema() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("twilio-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("plugins.yaml")
        // A wrong account_sid, an unknown key, no auth_token: each reported with its field.
        let bad = Support.gatewayYAML()
            .replacingOccurrences(of: "account_sid: \(Support.accountSid)", with: "account_sid: XX123\n      colour: blue")
            .replacingOccurrences(of: "auth_token: \"\(Support.authToken)\"", with: "")
        try bad.write(to: file, atomically: true, encoding: .utf8)
        let report = ConfigCheck.run(path: file.path)
        #expect(!report.ok)
        #expect(report.text.contains("plugins[0].config.account_sid"))
        #expect(report.text.contains("plugins[0].config.colour"))
        #expect(report.text.contains("plugins[0].config.auth_token: required field is missing"))
        // A good config: OK, and the effective config shows the token as ***.
        try Support.gatewayYAML().write(to: file, atomically: true, encoding: .utf8)
        let good = ConfigCheck.run(path: file.path)
        #expect(good.ok, "\(good.text)")
        #expect(!good.text.contains(Support.authToken) && good.text.contains("***"))
        let listing = PluginListing.table(configPath: file.path)
        #expect(listing.contains("twilio") && listing.contains("ds.channel/1"))
    }

    @Test func configErrorsStopTheGatewayAndHideTheToken() async throws {
        let yaml = Support.gatewayYAML().replacingOccurrences(of: "from: \"+15557654321\"", with: "from: \"not a number\"")
        do {
            let g = Gateway(config: try ConfigLoader().load(yaml: yaml), logger: .init(label: "t"))
            try await g.start()
            await g.stop()
            Issue.record("a bad `from` must fail start-up")
        } catch {
            let text = "\(error)"
            #expect(text.contains("from"))
            #expect(!text.contains(Support.authToken))
        }
    }
}
