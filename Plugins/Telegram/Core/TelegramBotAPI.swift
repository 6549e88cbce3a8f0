import Foundation
import TwilioCore

/// Builds Bot API requests (`POST {api_base}/bot<token>/<method>` with a JSON body) and
/// reads their answers (`ok`, `result`, `error_code`, `description`,
/// `parameters.retry_after`), https://core.telegram.org/bots/api#making-requests.
///
/// Knows nothing of transport: the plugin sends through the host's HTTP client. A value
/// type; thread-safe. The token is part of every URL it returns: never log those URLs;
/// `scrub` removes the token from any text before it is logged.
public struct TelegramBotAPI: Sendable {
    let token: String
    public let apiBase: String

    public init(token: String, apiBase: String) {
        self.token = token
        self.apiBase = apiBase.hasSuffix("/") ? String(apiBase.dropLast()) : apiBase
    }

    /// Telegram's limit for one message's text (UTF-16 code units after entity parsing).
    public static let maxMessageLength = 4096

    /// One method call: (url, headers, JSON body).
    public func request(_ method: String, _ params: [String: Any]) -> (url: String, headers: [(String, String)], body: [UInt8]) {
        let body = (try? JSONSerialization.data(withJSONObject: params, options: [])) ?? Data("{}".utf8)
        return ("\(apiBase)/bot\(token)/\(method)", [("Content-Type", "application/json")], Array(body))
    }

    /// The download URL of a file whose `file_path` getFile returned.
    public func fileURL(_ filePath: String) -> String { "\(apiBase)/file/bot\(token)/\(filePath)" }

    /// `text` with the token replaced by *** (for errors that may echo a URL).
    public func scrub(_ text: String) -> String { text.replacingOccurrences(of: token, with: "***") }

    /// Splits a reply into messages of at most 4096 UTF-16 code units, at word boundaries
    /// where possible (the SMS splitter's rules, with Telegram's limit).
    /// The Bot API calls of one reply, in order: the text as `sendMessage` parts (see
    /// `split`), then one `sendPhoto` per image attachment (or attachment of unknown type;
    /// `sendDocument` for other types), by URL — Telegram fetches it. A text of at most
    /// 1024 characters (a caption's limit) goes as the first attachment's caption instead
    /// of a message of its own. Pure; any thread.
    public static func replyCalls(chat: Int64, text: String, media: [(url: String, contentType: String)]) -> [(method: String, params: [String: Any])] {
        var calls: [(method: String, params: [String: Any])] = []
        let captioned = !media.isEmpty && !text.isEmpty && text.count <= 1024
        if !captioned && !text.isEmpty {
            for part in split(text) { calls.append((method: "sendMessage", params: ["chat_id": chat, "text": part])) }
        }
        for (i, m) in media.enumerated() {
            let photo = m.contentType.isEmpty || m.contentType.hasPrefix("image/")
            var p: [String: Any] = ["chat_id": chat, photo ? "photo" : "document": m.url]
            if captioned && i == 0 { p["caption"] = text }
            calls.append((method: photo ? "sendPhoto" : "sendDocument", params: p))
        }
        return calls
    }

    public static func split(_ text: String) -> [String] {
        // Most replies fit: characters never outnumber UTF-16 code units, so no need to count them.
        if text.utf16.count <= maxMessageLength { return [text] }
        var out: [String] = []
        var pending = MessageSplitter.split(text, maxCharacters: maxMessageLength)
        while !pending.isEmpty {
            let part = pending.removeFirst()
            if part.utf16.count <= maxMessageLength { out.append(part); continue }
            // Grapheme clusters of several code units (emoji, flags): split that part finer.
            let finer = MessageSplitter.split(part, maxCharacters: max(1, part.count * maxMessageLength / part.utf16.count - 1))
            pending.insert(contentsOf: finer, at: 0)
        }
        return out
    }

    /// What a Bot API answer means.
    public enum Outcome: Sendable, Equatable {
        /// `ok: true`; the `result` re-encoded as JSON text.
        case ok(result: String)
        /// 429: wait `retryAfterSeconds` (parameters.retry_after; 1 if Telegram gave none).
        case rateLimited(retryAfterSeconds: Int, description: String)
        /// 403: the user blocked the bot or the bot was removed from the chat.
        case forbidden(description: String)
        /// 401 / 404: the token is wrong (Telegram answers both for a bad token).
        case unauthorized(code: Int, description: String)
        /// 409: another getUpdates or a webhook is active.
        case conflict(description: String)
        /// 5xx, or an answer that is not the Bot API's JSON: try again later.
        case unavailable(code: Int, description: String)
        /// Other 4xx (400 Bad Request: chat not found, message too long...).
        case rejected(code: Int, description: String)
    }

    /// Reads an HTTP answer of the Bot API.
    public static func outcome(status: Int, body: [UInt8]) -> Outcome {
        let o = (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) as? [String: Any]
        if let o, o["ok"] as? Bool == true {
            let result = o["result"].map { r -> String in
                if let d = try? JSONSerialization.data(withJSONObject: r, options: [.fragmentsAllowed, .sortedKeys]) { return String(decoding: d, as: UTF8.self) }
                return "null"
            } ?? "null"
            return .ok(result: result)
        }
        let code = (o?["error_code"] as? NSNumber)?.intValue ?? status
        let description = (o?["description"] as? String) ?? "HTTP \(status)"
        guard o != nil else { return .unavailable(code: status, description: "HTTP \(status): not a Bot API answer") }
        switch code {
        case 429:
            let after = ((o?["parameters"] as? [String: Any])?["retry_after"] as? NSNumber)?.intValue ?? 1
            return .rateLimited(retryAfterSeconds: max(1, after), description: description)
        case 403: return .forbidden(description: description)
        case 401, 404: return .unauthorized(code: code, description: description)
        case 409: return .conflict(description: description)
        case 500...: return .unavailable(code: code, description: description)
        default: return .rejected(code: code, description: description)
        }
    }

    /// Decodes an `ok` result's JSON text.
    public static func decode(_ result: String) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(result.utf8), options: [.fragmentsAllowed])
    }
}
