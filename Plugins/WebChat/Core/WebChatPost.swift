import ChannelSupport

/// The body of a visitor's `POST /messages`: `{"text": "...", "id": "..."}`, read with the
/// hand-written JSON reader. `text` is required, trimmed of white space, not empty and at
/// most `maxLength` characters; `id` (the widget's id for the message, so a resent POST is
/// answered from the router's dedupe) is optional, 1-64 characters of A-Z a-z 0-9 _ -.
/// Other members are ignored. A value type; parsing is pure and thread-safe.
public struct WebChatPost: Sendable, Equatable {
    public var text: String
    /// The client's id for the message; nil if the body had none (or null).
    public var clientId: String?

    /// Why a body was refused: the HTTP status and the message for the `error` answer.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var status: Int
        public var message: String
        public var description: String { "\(status): \(message)" }
    }

    public init(text: String, clientId: String?) {
        self.text = text
        self.clientId = clientId
    }

    public static func parse(_ body: [UInt8], maxLength: Int) throws -> WebChatPost {
        guard let o = try? JSON.parse(body), o.isObject, let raw = o["text"]?.string else {
            throw Problem(status: 400, message: #"body must be {"text": "..."}"#)
        }
        let text = Whitespace.trimmed(raw)
        guard !text.isEmpty else { throw Problem(status: 400, message: "text is empty") }
        // Characters never outnumber UTF-8 bytes: count them only for a long text.
        guard text.utf8.count <= maxLength || text.count <= maxLength else {
            throw Problem(status: 413, message: "text longer than \(maxLength) characters")
        }
        var clientId: String?
        switch o["id"] {
        case nil, .null?: break
        case .string(let id)? where isClientId(id): clientId = id
        default: throw Problem(status: 400, message: "id: 1-64 characters of A-Z a-z 0-9 _ -")
        }
        return WebChatPost(text: text, clientId: clientId)
    }

    public static func isClientId(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy {
            $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0)
        }
    }
}
