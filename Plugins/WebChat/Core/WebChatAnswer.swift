import ChannelSupport

/// The JSON bodies the web chat API answers with, written by `JSONWriter` (they were
/// JSONSerialization of `[String: Any]`, a large part of each message's CPU time):
///
/// - `{"messages":[{"seq":1,"role":"user","text":"...","time":1767000000000}, ...],"deferred":false}`
///   (`deferred` only on POST /messages);
/// - `{"token":"...","visitor":"...","expires":1767000000,"title":"..."}` (POST /session);
/// - `{"error":"..."}`.
///
/// Pure functions: thread-safe.
public enum WebChatAnswer {
    public static func messages(_ entries: [Mailbox.Entry], deferred: Bool? = nil) -> [UInt8] {
        var w = JSONWriter(capacity: 32 + entries.reduce(0) { $0 + $1.text.utf8.count + 64 })
        w.beginObject()
        w.key("messages")
        w.beginArray()
        for e in entries {
            w.beginObject()
            w.field("seq", Int64(e.seq))
            w.field("role", e.role)
            w.field("text", e.text)
            w.field("time", e.timeMs)
            w.endObject()
        }
        w.endArray()
        if let deferred { w.field("deferred", deferred) }
        w.endObject()
        return w.bytes
    }

    public static func session(token: String, visitor: String, expires: Int64, title: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("token", token)
        w.field("visitor", visitor)
        w.field("expires", expires)
        w.field("title", title)
        w.endObject()
        return w.bytes
    }

    public static func error(_ message: String) -> [UInt8] {
        var w = JSONWriter(capacity: message.utf8.count + 16)
        w.beginObject()
        w.field("error", message)
        w.endObject()
        return w.bytes
    }

    /// The metadata submitted with a visitor's message: `{"origin":"...","user_agent":"..."}`
    /// (each only if the request had it; the user agent cut to 200 characters).
    public static func metadata(origin: String?, userAgent: String?) -> String {
        if origin == nil && userAgent == nil { return "{}" }
        var w = JSONWriter()
        w.beginObject()
        if let origin { w.field("origin", origin) }
        if let userAgent { w.field("user_agent", String(userAgent.prefix(200))) }
        w.endObject()
        return w.text
    }
}
