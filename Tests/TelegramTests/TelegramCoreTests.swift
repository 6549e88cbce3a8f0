import Foundation
import TelegramCore
import Testing

/// The pure Bot API logic: update parsing, answers, splitting, the polling state file.
@Suite struct TelegramCoreTests {
    @Test func updatesParseIntoMessagesKeywordsAndIgnoredKinds() throws {
        func parse(_ o: [String: Any]) throws -> TelegramUpdate { try TelegramUpdate.parse(json: Array(try JSONSerialization.data(withJSONObject: o))) }
        let u = try parse(TG.update(5, chat: -100, message: 9, text: "hi"))
        #expect(u.channelMessageId == "-100:9" && u.chatId == -100)
        guard case .message(_, _, let text, let att, let meta) = u.kind else { Issue.record("not a message"); return }
        #expect(text == "hi" && att.isEmpty && meta.contains("\"chat_type\":\"private\""))
        for (cmd, kw) in [("/start", "START"), ("/start@my_bot abc", "START"), ("/STOP", "STOP"), ("/help", "HELP")] {
            guard case .message(_, _, let t, _, _) = try parse(TG.update(1, chat: 1, text: cmd)).kind else { Issue.record("\(cmd) is not a message"); continue }
            #expect(t == kw, "\(cmd)")
        }
        guard case .message(_, _, let plain, _, _) = try parse(TG.update(1, chat: 1, text: "/stopwatch please")).kind else { return }
        #expect(plain == "/stopwatch please")
        #expect(try parse(["update_id": 3, "edited_message": [:]]).kind == .ignored("edited_message"))
        #expect(throws: TelegramError.self) { try parse(["update_id": true, "message": [:]]) }
        #expect(throws: TelegramError.self) { try TelegramUpdate.parse(json: Array("[1]".utf8)) }
    }

    @Test func botAPIAnswersMapToOutcomes() {
        func o(_ s: Int, _ body: String) -> TelegramBotAPI.Outcome { TelegramBotAPI.outcome(status: s, body: Array(body.utf8)) }
        #expect(o(200, #"{"ok":true,"result":{"message_id":7}}"#) == .ok(result: #"{"message_id":7}"#))
        #expect(o(429, #"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#)
                == .rateLimited(retryAfterSeconds: 7, description: "Too Many Requests: retry after 7"))
        #expect(o(403, #"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#) == .forbidden(description: "Forbidden: bot was blocked by the user"))
        #expect(o(401, #"{"ok":false,"error_code":401,"description":"Unauthorized"}"#) == .unauthorized(code: 401, description: "Unauthorized"))
        #expect(o(409, #"{"ok":false,"error_code":409,"description":"Conflict"}"#) == .conflict(description: "Conflict"))
        #expect(o(400, #"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#) == .rejected(code: 400, description: "Bad Request: chat not found"))
        #expect(o(502, "<html>bad gateway</html>") == .unavailable(code: 502, description: "HTTP 502: not a Bot API answer"))
    }

    @Test func splittingKeepsEveryPartWithin4096UTF16Units() {
        #expect(TelegramBotAPI.split("short") == ["short"])
        let emoji = String(repeating: "😀", count: 3000)   // 6000 UTF-16 units, 3000 characters
        let parts = TelegramBotAPI.split(emoji)
        #expect(parts.count == 2 && parts.allSatisfy { $0.utf16.count <= 4096 } && parts.joined() == emoji)
        let words = String(repeating: "abc ", count: 2000)
        let wordParts = TelegramBotAPI.split(words)
        #expect(wordParts.count == 2 && wordParts.allSatisfy { $0.utf16.count <= 4096 } && !wordParts[0].hasSuffix(" "))
    }

    @Test func pollStateAdvancesOverHandledIdsAndSurvivesReload() throws {
        let path = TG.tempDir() + "/state.json"
        let s = try PollState(path: path)
        #expect(s.offset == 0)
        let batch: [Int64] = [5, 6, 8]
        try s.markHandled(6, batch: batch)
        #expect(s.offset == 0 && s.isHandled(6) && !s.isHandled(5))
        try s.markHandled(5, batch: batch)
        #expect(s.offset == 7)
        let reloaded = try PollState(path: path)
        #expect(reloaded.offset == 7 && !reloaded.isHandled(8) && reloaded.isHandled(6))
        try "garbage".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: TelegramError.self) { try PollState(path: path) }
    }

    @Test func configErrorsNameTheFieldAndHideSecrets() throws {
        #expect(throws: TelegramError.self) { try TelegramConfig.parse(json: #"{"bot_token":"nocolon"}"#) }
        do { _ = try TelegramConfig.parse(json: #"{"bot_token":"1:SECRETVALUE","mode":"webhook","secret_token":"bad secret!"}"#) } catch {
            #expect("\(error)".contains("secret_token") && !"\(error)".contains("SECRETVALUE") && !"\(error)".contains("bad secret"))
        }
        let c = try TelegramConfig.parse(json: #"{"bot_token":"42:SECRETVALUE"}"#)
        #expect(c.mode == .polling && c.botAddress == "telegram:42" && !c.description.contains("SECRETVALUE"))
        #expect(TelegramAddress.chatId("telegram:-1001") == -1001 && TelegramAddress.chatId("web:1") == nil)
    }
}

/// The hand-written Update reader with what Telegram (or a forger) may send.
@Suite struct TelegramUpdateReaderTests {
    func parse(_ text: String) throws -> TelegramUpdate { try TelegramUpdate.parse(json: Array(text.utf8)) }

    @Test func bigIdsEscapesAndUnicodeSurvive() throws {
        let u = try parse(#"""
        {"update_id":987654321012,"message":{"message_id":2147483648,"date":1767000000,
         "text":"caf\u00e9 \ud83d\ude00 \"quoted\"\nline2 עברית",
         "from":{"id":-1001234567890123,"is_bot":false,"first_name":"Zo\u00eb \"Z\"","username":"zoe","language_code":"fr"},
         "chat":{"id":-1001234567890123,"type":"supergroup","title":"t"},"entities":[{"type":"bold","offset":0,"length":4}]}}
        """#)
        #expect(u.updateId == 987_654_321_012 && u.chatId == -1_001_234_567_890_123 && u.channelMessageId == "-1001234567890123:2147483648")
        guard case .message(_, _, let text, _, let meta) = u.kind else { Issue.record("not a message"); return }
        #expect(text == "café 😀 \"quoted\"\nline2 עברית")
        // The metadata is JSON that Foundation reads back, with the escaped name intact.
        let m = try #require(try JSONSerialization.jsonObject(with: Data(meta.utf8)) as? [String: Any])
        #expect(m["first_name"] as? String == "Zoë \"Z\"" && m["username"] as? String == "zoe" && m["language_code"] as? String == "fr")
        #expect(m["chat_type"] as? String == "supergroup" && (m["message_id"] as? NSNumber)?.int64Value == 2_147_483_648
                && (m["date"] as? NSNumber)?.int64Value == 1_767_000_000)
    }

    @Test func missingOrWrongFieldsAreErrorsOrIgnored() throws {
        for bad in ["", "null", "[]", #""update""#, "{", #"{"message":{"message_id":1,"chat":{"id":1},"text":"x"}}"#,
                    #"{"update_id":"5","message":{}}"#, #"{"update_id":1.5}"#, #"{"update_id":1,"message":{"message_id":1,"text":"no chat"}}"#,
                    #"{"update_id":1,"message":{"chat":{"id":1},"text":"no id"}}"#, #"{"update_id":1,"message":{"message_id":1,"chat":{"id":"1"},"text":"x"}}"#,
                    #"{"update_id":1,"message":{"message_id":1,"chat":{"id":1},"photo":[{"width":1,"height":1}]}}"#,
                    #"{"update_id":1,"my_chat_member":{"new_chat_member":{"status":"kicked"}}}"#,
                    #"{"update_id":1,"message":{"message_id":1,"chat":{"id":1},"text":"x"}} trailing"#] {
            #expect(throws: TelegramError.self, "\(bad)") { try parse(bad) }
        }
        #expect(try parse(#"{"update_id":1,"message":5}"#).kind == .ignored("unsupported update"))
        #expect(try parse(#"{"update_id":1,"callback_query":{}}"#).kind == .ignored("callback_query"))
        #expect(try parse(#"{"update_id":1,"message":{"message_id":1,"chat":{"id":1},"text":"hi","from":{"id":9,"is_bot":true}}}"#).kind
                == .ignored("message from a bot"))
        #expect(try parse(#"{"update_id":1,"message":{"message_id":1,"chat":{"id":1},"sticker":{}}}"#).kind == .ignored("message without text or photo"))
        #expect(try parse(#"{"update_id":7,"my_chat_member":{"chat":{"id":42},"new_chat_member":{"status":"kicked"}}}"#).kind == .blocked(chatId: 42))
        #expect(try parse(#"{"update_id":7,"my_chat_member":{"chat":{"id":42},"new_chat_member":{"status":"member"}}}"#).kind == .ignored("my_chat_member member"))
        // Integral doubles are ids (as JSONSerialization read them); ids past 2^63 are not.
        #expect(try parse(#"{"update_id":5.0,"edited_message":{}}"#).updateId == 5)
        #expect(throws: TelegramError.self) { try parse(#"{"update_id":99999999999999999999,"edited_message":{}}"#) }
    }

    @Test func photosPickTheLargestAndDocumentsNeedAnImageType() throws {
        let u = try parse(#"""
        {"update_id":1,"message":{"message_id":3,"chat":{"id":5,"type":"private"},"caption":"look",
         "photo":[{"file_id":"small","width":90,"height":60},{"file_id":"big","width":1280,"height":853},{"file_id":"mid","width":320,"height":213}]}}
        """#)
        guard case .message(_, _, let text, let att, _) = u.kind else { Issue.record("not a message"); return }
        #expect(text == "look" && att.map(\.fileId) == ["big"] && att.map(\.contentType) == ["image/jpeg"])
        let d = try parse(#"{"update_id":1,"message":{"message_id":3,"chat":{"id":5},"document":{"file_id":"f","mime_type":"image/png"}}}"#)
        guard case .message(_, _, _, let datt, _) = d.kind else { Issue.record("not a message"); return }
        #expect(datt.map(\.fileId) == ["f"] && datt.map(\.contentType) == ["image/png"])
        #expect(try parse(#"{"update_id":1,"message":{"message_id":3,"chat":{"id":5},"document":{"file_id":"f","mime_type":"application/pdf"}}}"#).kind
                == .ignored("message without text or photo"))
    }

    @Test func commandsWithWhitespaceAndUnicode() {
        #expect(TelegramUpdate.complianceKeyword("  /start payload") == "START")
        #expect(TelegramUpdate.complianceKeyword("\n/Stop@my_bot") == "STOP")
        #expect(TelegramUpdate.complianceKeyword("\u{00A0}/help") == "HELP")
        #expect(TelegramUpdate.complianceKeyword("hello /stop") == nil)
        #expect(TelegramUpdate.complianceKeyword("😀 /stop") == nil)
        #expect(TelegramUpdate.complianceKeyword("") == nil && TelegramUpdate.complianceKeyword("   ") == nil)
    }
}
