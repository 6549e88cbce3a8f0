import ChannelSupport

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
        let o: JSON
        do { o = try JSON.parse(json) } catch { throw TelegramError(description: "body is not a JSON object (\(error))") }
        guard o.isObject else { throw TelegramError(description: "body is not a JSON object") }
        return try parse(o)
    }

    /// Parses one decoded update object (the webhook body, or one element of getUpdates' result).
    public static func parse(_ o: JSON) throws -> TelegramUpdate {
        guard let updateId = o["update_id"]?.int64 else { throw TelegramError(description: "update_id: missing or not an integer") }
        if let m = o["message"], m.isObject {
            return TelegramUpdate(updateId: updateId, kind: try message(m))
        }
        if let cm = o["my_chat_member"], cm.isObject {
            guard let chatId = cm["chat"]?["id"]?.int64 else {
                throw TelegramError(description: "my_chat_member.chat.id: missing")
            }
            let status = cm["new_chat_member"]?["status"]?.string
            return TelegramUpdate(updateId: updateId, kind: status == "kicked" ? .blocked(chatId: chatId) : .ignored("my_chat_member \(status ?? "?")"))
        }
        let known = ["edited_message", "channel_post", "edited_channel_post", "callback_query", "inline_query", "chat_member"]
        return TelegramUpdate(updateId: updateId, kind: .ignored(known.first { o[$0] != nil } ?? "unsupported update"))
    }

    static func message(_ m: JSON) throws -> Kind {
        guard let chat = m["chat"], chat.isObject, let chatId = chat["id"]?.int64 else { throw TelegramError(description: "message.chat.id: missing") }
        guard let messageId = m["message_id"]?.int64 else { throw TelegramError(description: "message.message_id: missing") }
        let from = m["from"].flatMap { $0.isObject ? $0 : nil }
        if from?["is_bot"]?.bool == true { return .ignored("message from a bot") }
        var text = m["text"]?.string ?? m["caption"]?.string ?? ""
        var attachments: [Attachment] = []
        // Telegram lists a photo's sizes smallest first; the agent gets the largest.
        if let sizes = m["photo"]?.array, !sizes.isEmpty, sizes.allSatisfy(\.isObject) {
            func area(_ s: JSON) -> Int64 {
                let (a, o) = (s["width"]?.int64 ?? 0).multipliedReportingOverflow(by: s["height"]?.int64 ?? 0)
                return o ? .max : a
            }
            let best = sizes.max { area($0) < area($1) }!
            guard let id = best["file_id"]?.string, !id.isEmpty else { throw TelegramError(description: "message.photo.file_id: missing") }
            attachments.append(Attachment(fileId: id, contentType: "image/jpeg"))
        } else if let doc = m["document"], let mime = doc["mime_type"]?.string, mime.hasPrefix("image/"),
                  let id = doc["file_id"]?.string, !id.isEmpty {
            attachments.append(Attachment(fileId: id, contentType: mime))
        }
        if text.isEmpty && attachments.isEmpty { return .ignored("message without text or photo") }
        if let keyword = complianceKeyword(text) { text = keyword }
        var meta = JSONWriter(capacity: 128)
        meta.beginObject()
        meta.field("chat_type", chat["type"]?.string ?? "")
        meta.field("message_id", messageId)
        if let n = from?["first_name"]?.string { meta.field("first_name", n) }
        if let u = from?["username"]?.string { meta.field("username", u) }
        if let l = from?["language_code"]?.string { meta.field("language_code", l) }
        if let d = m["date"]?.int64 { meta.field("date", d) }
        meta.endObject()
        return .message(chatId: chatId, messageId: messageId, text: text, attachments: attachments, metadata: meta.text)
    }

    /// `/start` (with or without a deep-link payload or @botname) becomes START, `/stop`
    /// becomes STOP, `/help` HELP: the router's opt-in/opt-out ledger and help reply
    /// handle them like the SMS keywords. Anything else: nil.
    public static func complianceKeyword(_ text: String) -> String? {
        // Most texts start with a visible character other than '/': no trimming needed.
        if let f = text.utf8.first, f > 0x20, f < 0x7F, f != UInt8(ascii: "/") { return nil }
        let trimmed = Whitespace.trimmed(text)
        guard trimmed.hasPrefix("/") else { return nil }
        let command = trimmed.dropFirst().prefix { !$0.isWhitespace }.split(separator: "@", maxSplits: 1).first.map { $0.lowercased() }
        switch command {
        case "start": return "START"
        case "stop": return "STOP"
        case "help": return "HELP"
        default: return nil
        }
    }
}
