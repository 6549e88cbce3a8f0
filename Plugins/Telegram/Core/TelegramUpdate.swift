import Foundation

/// One Telegram `Update` (https://core.telegram.org/bots/api#update), as the channel
/// uses it. Parsed from the webhook body or one element of getUpdates' result.
/// A value type; parsing is pure and thread-safe.
public struct TelegramUpdate: Sendable, Equatable {
    /// A photo (the largest size Telegram offers) or an image document.
    public struct Attachment: Sendable, Equatable {
        public var fileId: String
        public var contentType: String
    }

    /// What the update means to the channel.
    public enum Kind: Sendable, Equatable {
        /// A message for the agent (or a compliance command mapped to the router's keyword).
        case message(chatId: Int64, messageId: Int64, text: String, attachments: [Attachment], metadata: String)
        /// The user blocked the bot (`my_chat_member`, status "kicked"): an opt-out.
        case blocked(chatId: Int64)
        /// Nothing for us (edits, channel posts, service messages...): acknowledged, not submitted.
        case ignored(String)
    }

    public var updateId: Int64
    public var kind: Kind

    /// The chat the update belongs to, if any (updates of one chat are handled in order).
    public var chatId: Int64? {
        switch kind {
        case .message(let c, _, _, _, _), .blocked(let c): return c
        case .ignored: return nil
        }
    }

    /// The router's dedupe key: `<chat id>:<message id>` for messages (stable across webhook
    /// redeliveries, getUpdates re-fetches and a switch between the two modes), `u<update id>`
    /// for the rest.
    public var channelMessageId: String {
        if case .message(let c, let m, _, _, _) = kind { return "\(c):\(m)" }
        return "u\(updateId)"
    }

    /// Parses an update from JSON text (the webhook body).
    public static func parse(json: [UInt8]) throws -> TelegramUpdate {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] else {
            throw TelegramError(description: "body is not a JSON object")
        }
        return try parse(o)
    }

    /// Parses one decoded update object.
    public static func parse(_ o: [String: Any]) throws -> TelegramUpdate {
        guard let updateId = int64(o["update_id"]) else { throw TelegramError(description: "update_id: missing or not an integer") }
        if let m = o["message"] as? [String: Any] {
            return TelegramUpdate(updateId: updateId, kind: try message(m))
        }
        if let cm = o["my_chat_member"] as? [String: Any] {
            guard let chat = cm["chat"] as? [String: Any], let chatId = int64(chat["id"]) else {
                throw TelegramError(description: "my_chat_member.chat.id: missing")
            }
            let status = (cm["new_chat_member"] as? [String: Any])?["status"] as? String
            return TelegramUpdate(updateId: updateId, kind: status == "kicked" ? .blocked(chatId: chatId) : .ignored("my_chat_member \(status ?? "?")"))
        }
        let known = ["edited_message", "channel_post", "edited_channel_post", "callback_query", "inline_query", "chat_member"]
        return TelegramUpdate(updateId: updateId, kind: .ignored(known.first { o[$0] != nil } ?? "unsupported update"))
    }

    static func message(_ m: [String: Any]) throws -> Kind {
        guard let chat = m["chat"] as? [String: Any], let chatId = int64(chat["id"]) else { throw TelegramError(description: "message.chat.id: missing") }
        guard let messageId = int64(m["message_id"]) else { throw TelegramError(description: "message.message_id: missing") }
        if let from = m["from"] as? [String: Any], from["is_bot"] as? Bool == true { return .ignored("message from a bot") }
        var text = (m["text"] as? String) ?? (m["caption"] as? String) ?? ""
        var attachments: [Attachment] = []
        if let sizes = m["photo"] as? [[String: Any]], !sizes.isEmpty {
            // Telegram lists sizes smallest first; the agent gets the largest.
            let best = sizes.max { (int64($0["width"]) ?? 0) * (int64($0["height"]) ?? 0) < (int64($1["width"]) ?? 0) * (int64($1["height"]) ?? 0) }!
            guard let id = best["file_id"] as? String, !id.isEmpty else { throw TelegramError(description: "message.photo.file_id: missing") }
            attachments.append(Attachment(fileId: id, contentType: "image/jpeg"))
        } else if let doc = m["document"] as? [String: Any], let mime = doc["mime_type"] as? String, mime.hasPrefix("image/"),
                  let id = doc["file_id"] as? String, !id.isEmpty {
            attachments.append(Attachment(fileId: id, contentType: mime))
        }
        if text.isEmpty && attachments.isEmpty { return .ignored("message without text or photo") }
        if let keyword = complianceKeyword(text) { text = keyword }
        var meta: [String: Any] = ["chat_type": (chat["type"] as? String) ?? "", "message_id": messageId]
        if let from = m["from"] as? [String: Any] {
            if let n = from["first_name"] as? String { meta["first_name"] = n }
            if let u = from["username"] as? String { meta["username"] = u }
            if let l = from["language_code"] as? String { meta["language_code"] = l }
        }
        if let d = int64(m["date"]) { meta["date"] = d }
        let metadata = String(decoding: (try? JSONSerialization.data(withJSONObject: meta, options: [])) ?? Data("{}".utf8), as: UTF8.self)
        return .message(chatId: chatId, messageId: messageId, text: text, attachments: attachments, metadata: metadata)
    }

    /// `/start` (with or without a deep-link payload or @botname) becomes START, `/stop`
    /// becomes STOP, `/help` HELP: the router's opt-in/opt-out ledger and help reply
    /// handle them like the SMS keywords. Anything else: nil.
    public static func complianceKeyword(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("/") else { return nil }
        let command = trimmed.dropFirst().prefix { !$0.isWhitespace }.split(separator: "@", maxSplits: 1).first.map { $0.lowercased() }
        switch command {
        case "start": return "START"
        case "stop": return "STOP"
        case "help": return "HELP"
        default: return nil
        }
    }

    static func int64(_ v: Any?) -> Int64? {
        // JSON booleans decode as NSNumber too ("c" type): they are not ids.
        guard let n = v as? NSNumber, n.objCType.pointee != CChar(UInt8(ascii: "c")) else { return nil }
        let d = n.doubleValue
        return d == d.rounded() && abs(d) < 9.0e15 ? n.int64Value : nil
    }
}
