import Foundation
import PluginKit
#if canImport(Glibc)
import Glibc
#endif

/// Which of the gateway's values a tool receives, decided once from its input schema.
///
/// The gateway can supply `message`, `session_id`, `from`, `to`, `channel`, `media`
/// (the message's attachments, a list of `{url, content_type}`) and `history` (a list of
/// `{role, content, timestamp, media}`, timestamp in ISO 8601). A tool
/// gets those its schema declares; a *required* property outside that list is a
/// configuration error, as is a tool without a `message` property. Immutable; any thread.
struct ToolArguments: Sendable {
    static let supplied = ["message", "session_id", "from", "to", "channel", "history", "media"]
    let names: Set<String>

    init(tool: String, inputSchema: [String: Any]?) throws {
        let props = (inputSchema?["properties"] as? [String: Any]) ?? [:]
        let required = (inputSchema?["required"] as? [String]) ?? []
        let missing = required.filter { !Self.supplied.contains($0) }
        if !missing.isEmpty {
            throw PluginError.config("tool '\(tool)' requires \(missing.map { "'\($0)'" }.joined(separator: ", ")), which the gateway cannot supply (it supplies \(Self.supplied.joined(separator: ", ")))")
        }
        guard props["message"] != nil else {
            throw PluginError.config("tool '\(tool)' declares no 'message' argument in its input schema, so it cannot receive the user's text")
        }
        names = Set(props.keys).intersection(Self.supplied)
    }

    /// The `arguments` object of a tools/call for this request.
    func build(_ r: AgentRequest) -> [String: Any] {
        var a: [String: Any] = [:]
        if names.contains("message") { a["message"] = r.text }
        if names.contains("session_id") { a["session_id"] = r.sessionId }
        if names.contains("from") { a["from"] = r.from }
        if names.contains("to") { a["to"] = r.to }
        if names.contains("channel") { a["channel"] = r.channel }
        if names.contains("media") { a["media"] = MediaAttachment.jsonArray(r.media) }
        if names.contains("history") {
            a["history"] = r.history.map { h -> [String: Any] in
                h.media.isEmpty ? ["role": h.role, "content": h.text, "timestamp": h.isoTime]
                    : ["role": h.role, "content": h.text, "timestamp": h.isoTime, "media": MediaAttachment.jsonArray(h.media)]
            }
        }
        return a
    }


    /// `structuredContent.handoff` of a tools/call result (true, a reason string, or
    /// `{"reason": "..."}`): the agent asks for a human. nil if absent or false.
    static func handoff(from result: JSONObject) -> String? {
        switch (result["structuredContent"] as? [String: Any])?["handoff"] {
        case let b as Bool where b: return ""
        case let s as String: return s
        case let h as [String: Any]: return h["reason"] as? String ?? ""
        default: return nil
        }
    }

    /// The reply text of a tools/call result: `structuredContent.reply` when it is a
    /// string, else the text content blocks joined. `isError: true` is a permanent error.
    static func reply(from result: JSONObject, tool: String) throws -> String {
        let texts = ((result["content"] as? [[String: Any]]) ?? [])
            .filter { ($0["type"] as? String) == "text" }
            .compactMap { $0["text"] as? String }
        if (result["isError"] as? Bool) == true {
            throw PluginError.failed("agent tool '\(tool)' reported an error: \(texts.joined(separator: "\n").prefix(500))")
        }
        if let s = result["structuredContent"] as? [String: Any], let reply = s["reply"] as? String { return reply }
        guard !texts.isEmpty else {
            if !media(from: result).isEmpty { return "" }   // a media-only answer
            throw PluginError.failed("agent tool '\(tool)' returned no text content")
        }
        return texts.joined(separator: "\n")
    }

    /// Attachments of a tools/call result, to send with the reply: `resource_link` blocks
    /// (`uri`, `mimeType`), embedded `resource` blocks (`resource.uri`, `resource.mimeType`)
    /// and `image` blocks that name a fetchable URL (`uri` or `_meta.url`), when the URI is
    /// absolute http(s) — a channel hands it to the provider, which fetches it. An `image`
    /// block carrying only base64 `data` has no URL a provider could fetch and is skipped.
    static func media(from result: JSONObject) -> [MediaAttachment] {
        var out: [MediaAttachment] = []
        for block in (result["content"] as? [[String: Any]]) ?? [] {
            var uri: String?, mime: String?
            switch block["type"] as? String {
            case "resource_link": uri = block["uri"] as? String; mime = block["mimeType"] as? String
            case "resource":
                let r = block["resource"] as? [String: Any]
                uri = r?["uri"] as? String; mime = r?["mimeType"] as? String
            case "image":
                uri = block["uri"] as? String ?? (block["_meta"] as? [String: Any])?["url"] as? String
                mime = block["mimeType"] as? String
            default: continue
            }
            guard let u = uri, u.hasPrefix("https://") || u.hasPrefix("http://") else { continue }
            out.append(MediaAttachment(url: u, contentType: mime ?? ""))
        }
        return Array(out.prefix(10))
    }
}
