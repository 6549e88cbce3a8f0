import Foundation
import Testing
import SMSText
import TwilioCore

/// TwiML output: escaping of hostile text (checked with python's xml.etree), splitting.
@Suite struct TwiMLTests {
    static let hostile = [
        #"</Message><Redirect>https://evil.example/x</Redirect><Message>"#,
        #"<![CDATA[ x ]]> & &amp; &lt; "quoted" 'single' > <!-- c --> <?pi x?>"#,
        "line1\r\nline2\rline3\ttab",
        "<Response><Dial>+15550000000</Dial></Response>",
        "emoji 🤖 and ünïcödé and NUL\u{0} and bell\u{7}",
        "]]>",
    ]

    @Test func hostileTextParsesAsXMLAndRoundTrips() throws {
        for text in Self.hostile {
            let doc = TwiML.response(messages: [text])
            let parsed = try Support.etreeMessages(doc)
            let expected = text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}").replacingOccurrences(of: "\u{7}", with: "\u{FFFD}")
            #expect(parsed == [expected], "\(text.debugDescription)")
            #expect(TwiML.messages(in: doc) == [expected])
            #expect(!doc.contains("<Redirect>") && !doc.contains("<Dial>"))
        }
    }

    /// Found by fuzzing: a reply starting with a combining mark (U+0745) formed one Character
    /// with the tag's `>`, and the reader (used by `darkspere sms`) found no message.
    @Test func aReplyStartingWithACombiningMarkIsRead() {
        for text in ["\u{0745}abc", "\u{0301}", "x\u{0301}", "\u{0745}<b>"] {
            #expect(TwiML.messages(in: TwiML.response(messages: [text])) == [text], "\(text.debugDescription)")
        }
        #expect(TwiML.messages(in: TwiML.response(messages: ["a", "\u{0745}b"])) == ["a", "\u{0745}b"])
    }

    /// Found by fuzzing (fuzz/form/corpus/regression-entity-combining-mark): a combining mark
    /// right after an escaped character (`&` then U+07A6) formed one Character with the
    /// entity's `;`, and the reader left "&amp;" undecoded.
    @Test func aCombiningMarkAfterAnEscapedCharacterIsRead() {
        for text in ["a&\u{07A6}b", "<\u{0301}>\u{0301}", "'\u{0745}\"\u{0745}", "x\r\u{0301}"] {
            #expect(TwiML.messages(in: TwiML.response(messages: [text])) == [text], "\(text.debugDescription)")
        }
        #expect(TwiML.unescape("&amp;\u{07A6}&#x41;\u{0301}") == "&\u{07A6}A\u{0301}")
    }

    @Test func charactersXMLForbidsAreReplaced() throws {
        #expect(TwiML.escape("a\u{FFFE}b\u{FFFF}c\u{F000}d\u{FFFD}") == "a\u{FFFD}b\u{FFFD}c\u{F000}d\u{FFFD}")
        #expect(try Support.etreeMessages(TwiML.response(messages: ["x\u{FFFE}\u{1B}y"])) == ["x\u{FFFD}\u{FFFD}y"])
    }

    @Test func emptyAndMultipleMessages() throws {
        #expect(try Support.etreeMessages(TwiML.empty) == [])
        #expect(TwiML.reply("") == TwiML.empty)
        let long = (0..<500).map { "word\($0)" }.joined(separator: " ")  // ~3,900 characters
        let doc = TwiML.reply(long)
        let parts = try Support.etreeMessages(doc)
        #expect(parts.count == 3)
        #expect(parts.allSatisfy { $0.count <= 1600 })
        #expect(parts.joined(separator: " ") == long)
    }

    @Test func splitterBreaksAtWordBoundaries() {
        #expect(MessageSplitter.split("short") == ["short"])
        #expect(MessageSplitter.split("") == [""])
        #expect(MessageSplitter.split("aaa bbb ccc", maxCharacters: 7) == ["aaa bbb", "ccc"])
        #expect(MessageSplitter.split("aaa bbbb ccc", maxCharacters: 7) == ["aaa", "bbbb", "ccc"])
        #expect(MessageSplitter.split("abcdefghij", maxCharacters: 4) == ["abcd", "efgh", "ij"])
        #expect(MessageSplitter.split("ab   \n  cd", maxCharacters: 3) == ["ab", "cd"])
        let text = String(repeating: "x", count: 1600) + " tail"
        #expect(MessageSplitter.split(text) == [String(repeating: "x", count: 1600), "tail"])
        #expect(MessageSplitter.split(String(repeating: "é ", count: 800)).count == 1)
    }
}

/// SMS segments, phone numbers, forms, rate limits, REST outcomes.
@Suite struct ChannelLogicTests {
    @Test func gsm7AndUcs2Segments() {
        #expect(SMSSegments.encoding(of: "Hello @ £ $ ¥ è") == .gsm7)
        #expect(SMSSegments.count("") == 1)
        #expect(SMSSegments.count(String(repeating: "a", count: 160)) == 1)
        #expect(SMSSegments.count(String(repeating: "a", count: 161)) == 2)
        #expect(SMSSegments.count(String(repeating: "a", count: 306)) == 2)
        #expect(SMSSegments.count(String(repeating: "a", count: 307)) == 3)
        // Extension characters count twice: 80 × '€' = 160 septets (1 segment), 81 = 162 (2).
        #expect(SMSSegments.encoding(of: "€[]{}") == .gsm7)
        #expect(SMSSegments.count(String(repeating: "€", count: 80)) == 1)
        #expect(SMSSegments.count(String(repeating: "€", count: 81)) == 2)
        // 152 septets + '€' does not fit in a 153-septet part: the escape pair moves on.
        #expect(SMSSegments.count(String(repeating: "a", count: 152) + "€" + String(repeating: "a", count: 152)) == 3)
        #expect(SMSSegments.encoding(of: "hi 🤖") == .ucs2)
        #expect(SMSSegments.encoding(of: "ça") == .ucs2)   // ç is not GSM-7 (only Ç is)
        #expect(SMSSegments.count(String(repeating: "ж", count: 70)) == 1)
        #expect(SMSSegments.count(String(repeating: "ж", count: 71)) == 2)
        #expect(SMSSegments.count(String(repeating: "ж", count: 134)) == 2)
        #expect(SMSSegments.count(String(repeating: "ж", count: 135)) == 3)
        #expect(SMSSegments.count(String(repeating: "🤖", count: 35)) == 1)   // 70 UTF-16 units
        #expect(SMSSegments.count(String(repeating: "🤖", count: 36)) == 2)
    }

    @Test func phoneNumbers() {
        #expect(PhoneNumber.e164("+15551234567") == "+15551234567")
        #expect(PhoneNumber.e164("+1 (555) 123-4567") == "+15551234567")
        #expect(PhoneNumber.e164("0044 20 7946 0958") == "+442079460958")
        #expect(PhoneNumber.e164("tel:+15551234567") == "+15551234567")
        #expect(PhoneNumber.e164("15551234567") == "+15551234567")
        #expect(PhoneNumber.e164("+1555") == nil)
        #expect(PhoneNumber.e164("+1234567890123456") == nil)
        #expect(PhoneNumber.e164("whatsapp:+15551234567") == nil)
        #expect(PhoneNumber.e164("+1555abc4567") == nil)
        #expect(PhoneNumber.shortCode("12345") == "12345")
        #expect(PhoneNumber.masked("+15551234567") == "+1********67")
    }

    @Test func forms() throws {
        let pairs = try FormEncoding.parse(Array("a=1&b=x+y&c=%C3%A9%26&&d&e=".utf8))
        #expect(pairs.map(\.0) == ["a", "b", "c", "d", "e"])
        #expect(pairs.map(\.1) == ["1", "x y", "é&", "", ""])
        #expect(throws: FormEncoding.MalformedForm.self) { try FormEncoding.parse(Array("a=%4".utf8)) }
        #expect(throws: FormEncoding.MalformedForm.self) { try FormEncoding.parse(Array("a=%FF".utf8)) }
        #expect(throws: FormEncoding.MalformedForm.self) { try FormEncoding.parse(Array("=x".utf8)) }
        let round = [("Body", "Hé & = + % 🤖"), ("To", "+1555")]
        #expect(try FormEncoding.parse(Array(FormEncoding.encode(round).utf8)).map { [$0.0, $0.1] } == round.map { [$0.0, $0.1] })
    }

    @Test func inboundNormalisation() throws {
        var p = Support.smsParams(from: "+1 555 123 4567", body: "hi", sid: "SMabc")
        p += [("NumMedia", "2"), ("MediaUrl0", "https://api.twilio.com/m0"), ("MediaContentType0", "image/jpeg"),
              ("MediaUrl1", "https://api.twilio.com/m1"), ("MediaContentType1", "image/png")]
        p.removeAll { $0 == ("NumMedia", "0") }
        let m = try TwilioWebhook.inbound(p)
        #expect(m.from == "+15551234567" && m.to == "+15557654321" && m.messageSid == "SMabc" && m.body == "hi")
        #expect(m.media == [.init(url: "https://api.twilio.com/m0", contentType: "image/jpeg"), .init(url: "https://api.twilio.com/m1", contentType: "image/png")])
        #expect(m.metadataJSON.contains(#""AccountSid":"\#(Support.accountSid)""#))
        var odd = Support.smsParams(body: "x")
        odd.append(("FromCity", "Q\"uo\\te\n\u{1}é🤖"))
        let meta = try JSONSerialization.jsonObject(with: Data(try TwilioWebhook.inbound(odd).metadataJSON.utf8)) as! [String: String]
        #expect(meta["FromCity"] == "Q\"uo\\te\n\u{1}é🤖" && meta["AccountSid"] == Support.accountSid && meta["Body"] == nil)
        let long = try TwilioWebhook.inbound(Support.smsParams(body: String(repeating: "y", count: 2000)))
        #expect(long.body.count == 2000 && !long.metadataJSON.contains("BodyTruncated"))
        #expect(throws: TwilioWebhook.Rejection.badRequest("missing From")) { try TwilioWebhook.inbound(p.filter { $0.0 != "From" }) }
        #expect(throws: TwilioWebhook.Rejection.badRequest("missing To")) { try TwilioWebhook.inbound(p.filter { $0.0 != "To" }) }
        #expect(throws: TwilioWebhook.Rejection.badRequest("missing MessageSid")) {
            try TwilioWebhook.inbound(p.filter { !$0.0.hasSuffix("Sid") || $0.0 == "AccountSid" })
        }
        #expect(throws: TwilioWebhook.Rejection.self) { try TwilioWebhook.inbound(p.filter { $0.0 != "MediaUrl1" }) }
    }

    @Test func statusUpdates() throws {
        func u(_ s: String, _ code: String? = nil) throws -> TwilioWebhook.StatusUpdate? {
            var p = [("MessageSid", "SM1"), ("MessageStatus", s)]
            if let code { p.append(("ErrorCode", code)) }
            return try TwilioWebhook.statusUpdate(p)
        }
        #expect(try u("queued")?.status == "queued")
        #expect(try u("sent")?.status == "sent")
        #expect(try u("delivered")?.status == "delivered")
        #expect(try u("undelivered", "30003") == .init(messageSid: "SM1", status: "undelivered", errorCode: 30003, twilioStatus: "undelivered"))
        #expect(try u("failed", "30008")?.errorCode == 30008)
        #expect(try u("received") == nil)
        #expect(throws: TwilioWebhook.Rejection.self) { try u("bogus") }
        #expect(throws: TwilioWebhook.Rejection.self) { try TwilioWebhook.statusUpdate([("MessageStatus", "sent")]) }
    }

    @Test func restOutcomes() {
        func o(_ status: Int, _ body: String, _ headers: [(String, String)] = []) -> TwilioMessagesAPI.Outcome {
            TwilioMessagesAPI.outcome(status: status, headers: headers, body: Array(body.utf8))
        }
        #expect(o(201, #"{"sid":"SM1","status":"queued"}"#) == .sent(sid: "SM1", status: "queued"))
        #expect(o(429, #"{"code":20429,"message":"Too Many Requests"}"#, [("Retry-After", "3")]) == .rateLimited(code: 20429, message: "Too Many Requests", retryAfterMs: 3000))
        #expect(o(503, "oops", [("retry-after", "1.5")]) == .unavailable(status: 503, message: "HTTP 503", retryAfterMs: 1500))
        #expect(o(400, #"{"code":21610,"message":"unsubscribed"}"#) == .optedOut(code: 21610, message: "unsubscribed"))
        #expect(o(400, #"{"code":21211,"message":"bad To"}"#) == .rejected(status: 400, code: 21211, message: "bad To"))
        #expect(o(401, #"{"code":20003,"message":"auth"}"#) == .auth(status: 401, code: 20003, message: "auth"))
        #expect(o(200, "{}") == .rejected(status: 200, code: 0, message: "Twilio answered 200 without a message sid"))
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(TwilioMessagesAPI.retryAfterMs("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == 10_000)
        #expect(TwilioMessagesAPI.retryAfterMs("soon") == 0)
    }

    @Test func configValidationNamesFieldsAndHidesToken() throws {
        let ok = #"{"account_sid":"\#(Support.accountSid)","auth_token":"s3cret-token","from":"+15557654321"}"#
        let c = try TwilioConfig.parse(json: ok)
        #expect(c.webhookPath == "/twilio/sms" && c.statusPath == "/twilio/status" && c.apiBase == "https://api.twilio.com")
        #expect(c.deprecatedKeys.isEmpty)
        // The removed limiter's keys still load (ignored with a warning at start-up), but must be well-typed.
        let old = try TwilioConfig.parse(json: ok.replacingOccurrences(of: "\"from\"", with: "\"rate_limit_per_minute\":10,\"rate_limit_text\":\"x\",\"from\""))
        #expect(old.deprecatedKeys.sorted() == ["rate_limit_per_minute", "rate_limit_text"])
        #expect(!c.description.contains("s3cret"))
        func problem(_ json: String) -> String {
            do { _ = try TwilioConfig.parse(json: json); return "" } catch { return "\(error)" }
        }
        #expect(problem(#"{"auth_token":"x","from":"+15557654321"}"#) == "missing field account_sid")
        #expect(problem(#"{"account_sid":"\#(Support.accountSid)","auth_token":"s3cret-token"}"#).hasPrefix("from or messaging_service_sid"))
        #expect(problem(#"{"account_sid":"XX","auth_token":"s3cret-token","from":"+1555"}"#).hasPrefix("account_sid"))
        #expect(problem(#"{"account_sid":"\#(Support.accountSid)","auth_token":"s3cret-token","from":"+15557654321","webhook_path":"x"}"#).hasPrefix("webhook_path"))
        for json in [#"{"account_sid":"\#(Support.accountSid)","auth_token":"s3cret-token","from":"nope"}"#, ok.replacingOccurrences(of: "\"from\"", with: "\"rate_limit_per_minute\":\"ten\",\"from\"")] {
            #expect(!problem(json).isEmpty && !problem(json).contains("s3cret"))
        }
    }
}
