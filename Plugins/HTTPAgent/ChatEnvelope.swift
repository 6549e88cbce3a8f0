import Foundation
import PluginKit
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP JSON agent protocol: a `chat.request` envelope out, a `chat.response` in.
/// Pure functions; any thread.
enum ChatEnvelope {

    /// `{"type":"chat.request","message_id","timestamp","session_id","phone_number","message","media",
    ///   "context":{"conversation_history":[…],"session_state":{…}},"metadata":{"platform":"sms","channel":…}}`
    static func request(_ r: AgentRequest) -> [UInt8] {
        var state: Any = [String: Any]()
        if !r.sessionState.isEmpty, let s = try? JSONSerialization.jsonObject(with: Data(r.sessionState.utf8)), s is [String: Any] {
            state = s
        }
        let now = r.timeMs > 0 ? r.timeMs : Int64(Date().timeIntervalSince1970 * 1000)
        let body: [String: Any] = [
            "type": "chat.request",
            "message_id": r.messageId,
            "timestamp": ISO8601Time.string(ms: now),
            "session_id": r.sessionId,
            "phone_number": r.from,
            "message": r.text,
            "media": MediaAttachment.jsonArray(r.media),
            "context": [
                "conversation_history": r.history.map { h -> [String: Any] in
                    ["role": h.role, "content": h.text, "timestamp": h.isoTime, "media": MediaAttachment.jsonArray(h.media)]
                },
                "session_state": state,
            ],
            "metadata": ["platform": "sms", "channel": r.channel, "to": r.to, "correlation_id": r.correlationId],
        ]
        return [UInt8]((try? JSONSerialization.data(withJSONObject: body, options: [.withoutEscapingSlashes])) ?? Data())
    }

    /// Reads a `chat.response`: the message and, when present, the new session state
    /// (a JSON object's text).
    static func reply(_ body: [UInt8]) throws -> AgentReply {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw PluginError.failed("agent answer is not a JSON object")
        }
        if let t = o["type"] as? String, t != "chat.response" {
            throw PluginError.failed("agent answer has type '\(t)', expected 'chat.response'")
        }
        guard let message = o["message"] as? String else { throw PluginError.failed("agent answer has no string field 'message'") }
        var state: String?
        if let cu = o["context_update"] as? [String: Any], let s = cu["session_state"] {
            guard s is [String: Any], let d = try? JSONSerialization.data(withJSONObject: s) else {
                throw PluginError.failed("agent answer: context_update.session_state must be an object")
            }
            state = String(decoding: d, as: UTF8.self)
        }
        // "handoff": true | "reason" | {"reason": "..."}: the agent asks for a human.
        var handoff: String?
        switch o["handoff"] {
        case let b as Bool where b: handoff = ""
        case let s as String: handoff = s
        case let h as [String: Any]: handoff = h["reason"] as? String ?? ""
        default: break
        }
        // "media": [{"url": "https://…", "content_type": "image/png"}]: attachments to send with the reply.
        var media: [MediaAttachment] = []
        if let m = o["media"], !(m is NSNull) {
            guard let list = MediaAttachment.parse(m) else {
                throw PluginError.failed("agent answer: media must be a list of {\"url\": absolute http(s) URL, \"content_type\"}")
            }
            media = list
        }
        return AgentReply(text: message, sessionState: state, handoff: handoff, media: media)
    }
}
