import Foundation
import Host
import Synchronization
import Testing
import WebChatCore

/// Tokens, origins and the mailbox on their own.
@Suite struct WebChatCoreTests {
    @Test func tokensAreSignedPerVisitorAndExpire() {
        let t = VisitorToken(secret: WC.secret)
        let v = VisitorToken.newVisitorId()
        #expect(v.count == 32 && v != VisitorToken.newVisitorId())
        let token = t.issue(visitor: v, expires: 2_000)
        #expect(t.verify(token, now: 1_000) == .valid(visitor: v, expires: 2_000))
        #expect(t.verify(token, now: 2_000) == .expired)
        // Another visitor's id, a later expiry, another secret, garbage: invalid.
        let other = VisitorToken.newVisitorId()
        #expect(t.verify(token.replacingOccurrences(of: v, with: other), now: 1_000) == .invalid)
        #expect(t.verify(token.replacingOccurrences(of: ".2000.", with: ".9000."), now: 1_000) == .invalid)
        #expect(VisitorToken(secret: WC.secret + "!").verify(token, now: 1_000) == .invalid)
        for junk in ["", "v1", "v1.\(v).2000", "v2.\(v).2000.\(token.split(separator: ".")[3])", token + "0"] {
            #expect(t.verify(junk, now: 1_000) == .invalid, "\(junk)")
        }
    }

    @Test func originsOtherThanOursAndTheAllowedAreRefused() {
        let p = OriginPolicy(allowed: ["https://shop.example.com"])
        #expect(p.check(origin: nil, host: "gw:8080") == .sameOrigin)
        #expect(p.check(origin: "http://gw:8080", host: "gw:8080") == .sameOrigin)
        #expect(p.check(origin: "https://shop.example.com", host: "gw:8080") == .cors("https://shop.example.com"))
        #expect(p.check(origin: "https://evil.example.com", host: "gw:8080") == .refused)
        #expect(p.check(origin: "https://shop.example.com.evil.net", host: "gw:8080") == .refused)
        #expect(p.check(origin: "null", host: "gw:8080") == .refused)
        #expect(OriginPolicy(allowed: ["*"]).check(origin: "https://any.example", host: "gw") == .cors("https://any.example"))
    }

    @Test func mailboxWakesALongPollAndTimesOut() async {
        let box = Mailbox(keep: 3, idleSeconds: 60)
        let started = Date()
        let empty = await box.wait("v", after: 0, timeoutMs: 200)
        #expect(empty.isEmpty && Date().timeIntervalSince(started) >= 0.19)
        async let got = box.wait("v", after: 0, timeoutMs: 5_000)
        try? await Task.sleep(nanoseconds: 100_000_000)
        box.append("v", role: "assistant", text: "hi")
        let woke = await got
        #expect(woke.map(\.text) == ["hi"] && Date().timeIntervalSince(started) < 3)
        for i in 0..<5 { box.append("v", role: "user", text: "\(i)") }
        #expect(box.entries("v", after: 0).map(\.seq) == [4, 5, 6])
        #expect(box.entries("other", after: 0).isEmpty)
    }
}

/// The hand-written readers and writers of the message path: the POST body, the answers,
/// the token's byte-level checks, with odd inputs.
@Suite struct WebChatReaderTests {
    func post(_ body: String, max: Int = 20) throws -> WebChatPost { try WebChatPost.parse(Array(body.utf8), maxLength: max) }
    func problem(_ body: String, max: Int = 20) -> WebChatPost.Problem? {
        do { _ = try post(body, max: max); return nil } catch let p as WebChatPost.Problem { return p } catch { return nil }
    }

    @Test func postBodiesAreReadTrimmedAndChecked() throws {
        #expect(try post(#"{"text":"  hi there \n","id":"b1-_Z"}"#) == WebChatPost(text: "hi there", clientId: "b1-_Z"))
        #expect(try post(#"{"id":null,"text":"caf\u00e9 \ud83d\ude00","extra":[1,{"x":2}]}"#) == WebChatPost(text: "café 😀", clientId: nil))
        // 20 characters of several bytes each pass a 20-character limit; 21 do not.
        #expect(try post("{\"text\":\"\(String(repeating: "😀", count: 20))\"}").text.count == 20)
        #expect(problem("{\"text\":\"\(String(repeating: "é", count: 21))\"}")?.status == 413)
        for (body, status) in [("", 400), ("[]", 400), ("not json", 400), (#"{"text":5}"#, 400), (#"{"texts":"x"}"#, 400),
                               (#"{"text":"   \t\n"}"#, 400), (#"{"text":"\u00a0\u3000"}"#, 400), (#"{"text":"x","id":""}"#, 400),
                               (#"{"text":"x","id":"bad id!"}"#, 400), (#"{"text":"x","id":7}"#, 400),
                               ("{\"text\":\"x\",\"id\":\"\(String(repeating: "a", count: 65))\"}", 400),
                               (#"{"text":"x"} trailing"#, 400), (#"{"text":"a\x"}"#, 400)] {
            #expect(problem(body)?.status == status, "\(body)")
        }
        #expect(try post("{\"text\":\"x\",\"id\":\"\(String(repeating: "a", count: 64))\"}").clientId?.count == 64)
    }

    @Test func answersAreJSONThatBrowsersRead() throws {
        let entries = [Mailbox.Entry(seq: 1, role: "user", text: "say \"hi\"\n</script>", timeMs: 1_767_000_000_123),
                       Mailbox.Entry(seq: 2, role: "assistant", text: "😀 \u{1}", timeMs: 1_767_000_000_456)]
        let o = try #require(try JSONSerialization.jsonObject(with: Data(WebChatAnswer.messages(entries, deferred: false))) as? [String: Any])
        let list = try #require(o["messages"] as? [[String: Any]])
        #expect(o["deferred"] as? Bool == false && list.count == 2)
        #expect(list[0]["text"] as? String == "say \"hi\"\n</script>" && (list[0]["seq"] as? NSNumber)?.intValue == 1
                && list[0]["role"] as? String == "user" && (list[0]["time"] as? NSNumber)?.int64Value == 1_767_000_000_123)
        #expect(list[1]["text"] as? String == "😀 \u{1}")
        #expect(String(decoding: WebChatAnswer.messages([]), as: UTF8.self) == #"{"messages":[]}"#)
        #expect(String(decoding: WebChatAnswer.error("bad \"x\""), as: UTF8.self) == #"{"error":"bad \"x\""}"#)
        let s = try #require(try JSONSerialization.jsonObject(with: Data(WebChatAnswer.session(token: "t", visitor: "v", expires: 9, title: "Ask \"us\""))) as? [String: Any])
        #expect(s["token"] as? String == "t" && s["visitor"] as? String == "v" && (s["expires"] as? NSNumber)?.intValue == 9 && s["title"] as? String == "Ask \"us\"")
        #expect(WebChatAnswer.metadata(origin: nil, userAgent: nil) == "{}")
        let meta = try #require(try JSONSerialization.jsonObject(with: Data(WebChatAnswer.metadata(origin: "https://a.example", userAgent: String(repeating: "u", count: 300)).utf8)) as? [String: Any])
        #expect(meta["origin"] as? String == "https://a.example" && (meta["user_agent"] as? String)?.count == 200)
    }

    @Test func tokensWithOddBytesAreInvalid() {
        let t = VisitorToken(secret: WC.secret)
        let v = VisitorToken.newVisitorId()
        #expect(v.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) })
        let good = t.issue(visitor: v, expires: 5_000)
        let sig = String(good.split(separator: ".")[3])
        #expect(t.verify(good, now: 1) == .valid(visitor: v, expires: 5_000))
        // Non-ASCII "hex" digits, a dot in the expiry, an extra part, upper-case signature, a space.
        let fullwidth = "v1.\(String(repeating: "１", count: 32)).5000.\(sig)"
        for junk in [fullwidth, "v1.\(v).50.00.\(sig)", good + ".x", "v1.\(v).5000.\(sig.uppercased())", " " + good, good + " ",
                     "v1.\(v).\(sig)", "v1.\(v)..\(sig)", "v1..5000.\(sig)", String(good.dropLast())] {
            #expect(t.verify(junk, now: 1) == .invalid, "\(junk)")
        }
    }
}

/// The real gateway with libds-webchat.so and the C echo agent, over HTTP.
@Suite(.serialized) struct WebChatEndToEndTests {
    @Test func visitorsTalkToTheAgentWithHistoryAndOnlySeeTheirOwnConversation() async throws {
        try await WC.withGateway(WC.gatewayYAML()) { g, port in
            let a = try await WC.session(port), b = try await WC.session(port)
            let r1 = try await WC.say(port, a, "hello")
            #expect(r1.status == 200 && r1.texts == ["hello", "echo: hello (history: 0)"])
            #expect(try await WC.say(port, a, "again").texts == ["again", "echo: again (history: 2)"])
            // The same client id again (a retried POST): the router's dedupe answers, the agent is not called.
            #expect(try await WC.say(port, a, "once", id: "msg-1").texts.last == "echo: once (history: 4)")
            #expect(try await WC.say(port, a, "once", id: "msg-1").texts.last == "echo: once (history: 4)")
            #expect(try await WC.say(port, a, "after").texts.last == "echo: after (history: 6)")
            // A reload: the conversation comes back from /poll.
            let all = try await WC.request("GET", port, "/poll?after=0", token: a)
            #expect(all.texts.prefix(4) == ["hello", "echo: hello (history: 0)", "again", "echo: again (history: 2)"])
            // Visitor b sees nothing of a's, and its own conversation starts from scratch.
            #expect(try await WC.request("GET", port, "/poll?after=0&wait=0", token: b).texts.isEmpty)
            #expect(try await WC.say(port, b, "hi").texts == ["hi", "echo: hi (history: 0)"])
            let sessions = try g.store.activeSessionCounts(sinceMs: 0)
            #expect(sessions.values.reduce(0, +) == 2)
        }
    }

    @Test func forgedExpiredAndMissingTokensGetNothing() async throws {
        try await WC.withGateway(WC.gatewayYAML()) { g, port in
            let a = try await WC.session(port)
            _ = try await WC.say(port, a, "secret plans")
            let visitor = String(a.split(separator: ".")[1])
            let signer = VisitorToken(secret: WC.secret)
            let expired = signer.issue(visitor: visitor, expires: Int64(Date().timeIntervalSince1970) - 1)
            let forged = VisitorToken(secret: "not-the-secret-not-the-secret-not-the").issue(visitor: visitor, expires: 9_999_999_999)
            let tampered = a.replacingOccurrences(of: visitor, with: VisitorToken.newVisitorId())
            for (name, token) in [("expired", expired), ("forged", forged), ("tampered", tampered), ("missing", nil as String?)] {
                let poll = try await WC.request("GET", port, "/poll?after=0&wait=0", token: token)
                #expect(poll.status == 401 && poll.texts.isEmpty, "\(name)")
                let post = try await WC.say(port, token ?? "", "sneak in")
                #expect(post.status == 401, "\(name)")
            }
            #expect(try await WC.request("GET", port, "/poll?after=0&wait=0", token: expired).json["error"] as? String == "token expired")
            // Nothing of the refused requests reached the router: one conversation, one turn.
            #expect(try await WC.request("GET", port, "/poll?after=0&wait=0", token: a).texts == ["secret plans", "echo: secret plans (history: 0)"])
            #expect(try g.store.history(sessionId: 1, limit: 10).count == 2)
        }
    }

    @Test func otherOriginsAreRefusedAndAllowedOnesGetCORS() async throws {
        try await WC.withGateway(WC.gatewayYAML()) { g, port in
            let a = try await WC.session(port)
            let evil = try await WC.request("POST", port, "/messages", token: a, json: ["text": "hi"], headers: ["Origin": "https://evil.example.com"])
            #expect(evil.status == 403 && evil.headers["access-control-allow-origin"] == nil)
            do { let status = try await WC.request("POST", port, "/session", headers: ["Origin": "https://evil.example.com"]).status; #expect(status == 403) }
            #expect(try await WC.request("GET", port, "/poll?after=0&wait=0", token: a).texts.isEmpty)
            let pre = try await WC.request("OPTIONS", port, "/messages", headers: ["Origin": "https://shop.example.com",
                                                                                   "Access-Control-Request-Method": "POST"])
            #expect(pre.status == 204 && pre.headers["access-control-allow-origin"] == "https://shop.example.com")
            #expect(pre.headers["access-control-allow-headers"]?.contains("Authorization") == true)
            let ok = try await WC.request("POST", port, "/messages", token: a, json: ["text": "hi"], headers: ["Origin": "https://shop.example.com"])
            #expect(ok.status == 200 && ok.headers["access-control-allow-origin"] == "https://shop.example.com" && ok.texts.last == "echo: hi (history: 0)")
            // Bad bodies: 400 / 413, nothing submitted.
            do { let status = try await WC.request("POST", port, "/messages", token: a, json: ["nope": 1]).status; #expect(status == 400) }
            do { let status = try await WC.say(port, a, "   ").status; #expect(status == 400) }
            do { let status = try await WC.say(port, a, String(repeating: "x", count: 2001)).status; #expect(status == 413) }
            do { let status = try await WC.say(port, a, "x", id: "bad id!").status; #expect(status == 400) }
            #expect(try await WC.request("GET", port, "/poll?after=0&wait=0", token: a).texts == ["hi", "echo: hi (history: 0)"])
        }
    }

    @Test func perVisitorRateLimit() async throws {
        try await WC.withGateway(WC.gatewayYAML(extra: "rate_limit_per_minute: 3")) { _, port in
            let a = try await WC.session(port), b = try await WC.session(port)
            for i in 0..<3 { do { let status = try await WC.say(port, a, "m\(i)").status; #expect(status == 200) } }
            let limited = try await WC.say(port, a, "one too many")
            #expect(limited.status == 429 && limited.headers["retry-after"] == "60")
            do { let status = try await WC.say(port, b, "b is fine").status; #expect(status == 200) }
            let seen = try await WC.request("GET", port, "/poll?after=0&wait=0", token: a).texts
            #expect(!seen.contains("one too many"))
        }
    }

    @Test func deferredRepliesArriveOnAWaitingPoll() async throws {
        let yaml = WC.gatewayYAML(routing: "inline_reply_budget: 0.2s", agentConfig: "prefix: slow\n      delay_ms: 700")
        try await WC.withGateway(yaml) { _, port in
            let a = try await WC.session(port)
            let r = try await WC.say(port, a, "take your time")
            #expect(r.status == 202 && r.json["deferred"] as? Bool == true && r.texts == ["take your time"])
            let started = Date()
            let poll = try await WC.request("GET", port, "/poll?after=1", token: a)
            #expect(poll.texts == ["slow: take your time (history: 0)"])
            #expect(Date().timeIntervalSince(started) < 5)
        }
    }

    @Test func widgetAndDemoPageAreServed() async throws {
        try await WC.withGateway(WC.gatewayYAML()) { _, port in
            let js = try await WC.request("GET", port, "/widget.js")
            #expect(js.status == 200 && js.headers["content-type"]?.hasPrefix("application/javascript") == true)
            #expect(String(decoding: js.body, as: UTF8.self).contains("textContent") && !String(decoding: js.body, as: UTF8.self).contains("innerHTML"))
            let demo = try await WC.request("GET", port, "/demo")
            #expect(demo.status == 200 && String(decoding: demo.body, as: UTF8.self).contains(#"<script src="/webchat/widget.js" data-title="Ask DarkSpere""#))
        }
        try await WC.withGateway(WC.gatewayYAML().replacingOccurrences(of: "demo: true", with: "demo: false")) { _, port in
            do { let status = try await WC.request("GET", port, "/demo").status; #expect(status == 404) }
        }
    }
}

/// The demo page in real headless Chromium (Selenium): two messages and their replies,
/// a reload that resumes, a forged token that gets nothing.
@Suite(.serialized) struct WebChatBrowserTests {
    @Test func demoPageInHeadlessChromium() async throws {
        try await WC.withGateway(WC.gatewayYAML()) { _, port in
            let shot = NSTemporaryDirectory() + "webchat-demo.png"
            let out = try await Task.detached {
                try Self.run(["python3", WC.testsDir.appendingPathComponent("browser_test.py").path, "http://127.0.0.1:\(port)/webchat/demo", shot])
            }.value
            let r = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
            let conversation = ["hello there", "echo: hello there (history: 0)", "what did I say?", "echo: what did I say? (history: 2)"]
            #expect(r["first"] as? [String] == conversation)
            #expect(r["after_reload"] as? [String] == conversation)
            #expect((r["forged_poll_status"] as? [Any])?.first as? Int == 401)
            #expect(r["after_forgery"] as? [String] == [])
            #expect(FileManager.default.fileExists(atPath: shot))
        }
    }

    /// Runs a command and returns its stdout (stderr on failure in the error).
    static func run(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "browser_test", code: Int(p.terminationStatus), userInfo: [NSLocalizedDescriptionKey: String(decoding: e, as: UTF8.self)])
        }
        return String(decoding: o, as: UTF8.self)
    }
}
