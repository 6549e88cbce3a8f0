import Foundation

/// Attachments (ABI 1.2 `ds_media`) as the host stores and exchanges them: a JSON array
/// `[{"url": "…", "content_type": "…"}]` in the store (`messages.media`, `outbox.media`),
/// in agent outcomes (`{"media": […]}`) and in submit replies; `(url, contentType)`
/// tuples in `Inbound` and `AgentCall`. Pure functions; any thread.
public enum MediaJSON {
    public typealias Item = (url: String, contentType: String)

    /// At most this many attachments are taken from an agent's answer (Twilio's MMS limit).
    public static let maxItems = 10

    /// The JSON text of `media`, or nil when there is none (the store keeps NULL).
    public static func encode(_ media: [Item]) -> String? {
        guard !media.isEmpty else { return nil }
        return JSONValue.array(media.map { .object([("url", .string($0.url)), ("content_type", .string($0.contentType))]) }).text
    }

    /// Reads what `encode` wrote ([] for nil, empty or unreadable text).
    public static func decode(_ text: String?) -> [Item] {
        guard let text, !text.isEmpty, let v = try? JSONValue.parse(text) else { return [] }
        return (try? items(v)) ?? []
    }

    /// A JSON list of `{"url", "content_type"}`; throws naming the first bad entry. A url
    /// must be absolute http(s) (channels hand it to the provider, which fetches it).
    public static func items(_ v: JSONValue) throws -> [Item] {
        guard let list = v.arrayValue else { throw MediaError("media must be a list of {\"url\", \"content_type\"}") }
        guard list.count <= maxItems else { throw MediaError("media: at most \(maxItems) attachments") }
        return try list.enumerated().map { i, e in
            guard let fields = e.objectValue else { throw MediaError("media[\(i)] must be an object {\"url\", \"content_type\"}") }
            if let k = fields.first(where: { $0.0 != "url" && $0.0 != "content_type" })?.0 {
                throw MediaError("media[\(i)]: unknown field '\(k.prefix(40))' (allowed: url, content_type)")
            }
            if let t = e["content_type"], t.stringValue == nil { throw MediaError("media[\(i)].content_type must be a string") }
            guard let url = e["url"]?.stringValue, url.hasPrefix("https://") || url.hasPrefix("http://"), url.unicodeScalars.count <= 2048 else {
                throw MediaError("media[\(i)].url must be an absolute http(s) URL")
            }
            let type = e["content_type"]?.stringValue ?? ""
            guard type.unicodeScalars.count <= 255 else { throw MediaError("media[\(i)].content_type is too long") }
            return (url, type)
        }
    }

    /// The `media` of an agent's outcome data (`{"session_state": …, "media": [...]}`); [] if
    /// none. A malformed list is dropped whole (the text reply still goes out).
    public static func fromOutcome(_ data: String) -> (media: [Item], problem: String?) {
        guard data.contains("\"media\""), let o = try? JSONValue.parse(data), let m = o["media"] else { return ([], nil) }
        do { return (try items(m), nil) } catch { return ([], "\(error)") }
    }

    /// `{"media": […]}`: the data of a submit reply that carries attachments.
    public static func outcomeData(_ mediaJSON: String) -> String { "{\"media\":" + mediaJSON + "}" }
}

/// A malformed attachment list.
public struct MediaError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
