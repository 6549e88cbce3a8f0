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
