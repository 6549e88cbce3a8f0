import PluginAPI
import Foundation

/// A plugin's `config` block from plugins.yaml, as the host handed it over (JSON).
public struct PluginConfig: Sendable {
    /// The raw UTF-8 JSON text.
    public let json: String

    public init(json: String) { self.json = json.isEmpty ? "{}" : json }

    /// Decodes the block into a Decodable type; a failure names the field.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(json.utf8))
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw PluginError.config("missing field \(path(ctx.codingPath + [key]))")
        } catch let DecodingError.typeMismatch(t, ctx) {
            throw PluginError.config("\(path(ctx.codingPath)): expected \(t)")
        } catch let DecodingError.valueNotFound(t, ctx) {
            throw PluginError.config("\(path(ctx.codingPath)): expected \(t), found null")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw PluginError.config("\(path(ctx.codingPath)): \(ctx.debugDescription)")
        }
    }

    /// The block as a dictionary (empty if it is not an object).
    public var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
    }

    private func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "config" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

/// An attachment (ABI 1.2 ds_media): where it can be fetched, and its MIME type ("" if unknown).
public struct MediaAttachment: Sendable, Equatable, Hashable {
    public var url: String
    public var contentType: String
    public init(url: String, contentType: String = "") { self.url = url; self.contentType = contentType }

    /// `[{"url": …, "content_type": …}]`, the form attachments take in JSON (outcome data,
    /// the http-agent envelope).
    public static func jsonArray(_ media: [MediaAttachment]) -> [[String: String]] {
        media.map { ["url": $0.url, "content_type": $0.contentType] }
    }

    /// Reads `[{"url": …, "content_type": …}]` (a parsed JSON value); nil if it is not such a
    /// list or an entry has no absolute http(s) url.
    public static func parse(_ value: Any?) -> [MediaAttachment]? {
        guard let list = value as? [Any] else { return nil }
        var out: [MediaAttachment] = []
        for item in list {
            guard let o = item as? [String: Any], let url = o["url"] as? String,
                  url.hasPrefix("https://") || url.hasPrefix("http://") else { return nil }
            out.append(MediaAttachment(url: url, contentType: o["content_type"] as? String ?? ""))
        }
        return out
    }
}

/// A message the host asks a channel to send. See ds_outbound_message.
public struct OutboundMessage: Sendable {
    public var messageId: String
    public var correlationId: String
    public var to: String
    public var from: String
    public var text: String
    /// (ABI 1.2) Attachments to send with it (MMS MediaUrl, a photo); empty for text only.
    public var media: [MediaAttachment]
    /// (ABI 1.2) JSON object of extras ("agent", "template"), or "".
    public var metadata: String
    public init(messageId: String, correlationId: String = "", to: String, from: String = "", text: String,
                media: [MediaAttachment] = [], metadata: String = "") {
        self.messageId = messageId; self.correlationId = correlationId; self.to = to; self.from = from; self.text = text
        self.media = media; self.metadata = metadata
    }
}

/// What a channel returns for a sent message.
public struct SendReceipt: Sendable {
    /// The provider's id for the message (Twilio's SM... sid).
    public var providerMessageId: String
    /// How many billable parts (SMS segments) it used.
    public var segments: Int
    public init(providerMessageId: String, segments: Int = 1) {
        self.providerMessageId = providerMessageId; self.segments = segments
    }
}

/// One earlier message of a conversation.
public struct HistoryEntry: Sendable, Equatable {
    public var role: String
    public var text: String
    public var timeMs: Int64
    /// (ABI 1.2) The entry's attachments (ds_agent_request.history_media).
    public var media: [MediaAttachment]
    public init(role: String, text: String, timeMs: Int64, media: [MediaAttachment] = []) {
        self.role = role; self.text = text; self.timeMs = timeMs; self.media = media
    }
}

/// One turn of a conversation for an agent. See ds_agent_request.
public struct AgentRequest: Sendable {
    public var messageId: String
    public var correlationId: String
    public var sessionId: String
    public var channel: String
    public var from: String
    public var to: String
    public var text: String
    public var history: [HistoryEntry]
    /// JSON object text the agent returned last time, or "".
    public var sessionState: String
    public var timeoutMs: UInt32
    public var timeMs: Int64
    /// (ABI 1.2) Attachments of the new message.
    public var media: [MediaAttachment]
    public init(messageId: String = "", correlationId: String = "", sessionId: String = "", channel: String = "",
                from: String = "", to: String = "", text: String, history: [HistoryEntry] = [],
                sessionState: String = "", timeoutMs: UInt32 = 30_000, timeMs: Int64 = 0, media: [MediaAttachment] = []) {
        self.messageId = messageId; self.correlationId = correlationId; self.sessionId = sessionId
        self.channel = channel; self.from = from; self.to = to; self.text = text; self.history = history
        self.sessionState = sessionState; self.timeoutMs = timeoutMs; self.timeMs = timeMs; self.media = media
    }
}

/// An agent's answer.
public struct AgentReply: Sendable {
    public var text: String
    /// A JSON object to store with the session and send with the next request, or nil.
    public var sessionState: String?
    /// The agent asks for a human (the host's takeover): the reason ("" if none given), or nil.
    public var handoff: String?
    /// (ABI 1.2) Attachments to send with the reply (the outcome's `{"media": […]}`).
    public var media: [MediaAttachment]
    public init(text: String, sessionState: String? = nil, handoff: String? = nil, media: [MediaAttachment] = []) {
        self.text = text; self.sessionState = sessionState; self.handoff = handoff; self.media = media
    }
}

/// A unit of billable usage. See ds_usage.
public struct Usage: Sendable {
    public var accountId: String
    public var customerId: String
    public var kind: String
    public var quantity: Int64
    public var idempotencyKey: String
    public var correlationId: String
    public var timeMs: Int64
    public init(accountId: String, customerId: String = "", kind: String, quantity: Int64, idempotencyKey: String,
                correlationId: String = "", timeMs: Int64 = 0) {
        self.accountId = accountId; self.customerId = customerId; self.kind = kind; self.quantity = quantity
        self.idempotencyKey = idempotencyKey; self.correlationId = correlationId; self.timeMs = timeMs
    }
}

/// The answer of a billing provider's authorize.
public enum Authorization: Sendable, Equatable {
    case allow
    case deny(reason: String)
}

/// The answer of a log sink's write.
public enum SinkResult: Sendable, Equatable {
    /// All events are durably written.
    case written
    /// None were written; the host keeps the batch and sends it again later.
    case retry(reason: String)
}

/// An inbound message a channel submits to the router.
public struct InboundMessage: Sendable {
    public typealias Media = MediaAttachment
    public var channelMessageId: String
    public var from: String
    public var to: String
    public var text: String
    public var media: [Media]
    public var metadata: String
    public init(channelMessageId: String, from: String, to: String, text: String, media: [Media] = [], metadata: String = "") {
        self.channelMessageId = channelMessageId; self.from = from; self.to = to; self.text = text
        self.media = media; self.metadata = metadata
    }
}

/// What the router did with a submitted message, with the reply's attachments (ABI 1.2:
/// the submit callback's `{"media": […]}`); see `PluginHost.submitWithMedia`.
public struct SubmitAnswer: Sendable, Equatable {
    public var result: SubmitResult
    /// Attachments of a `.reply` (empty otherwise).
    public var media: [MediaAttachment]
    public init(result: SubmitResult, media: [MediaAttachment] = []) { self.result = result; self.media = media }
}

/// What the router did with a submitted message.
public enum SubmitResult: Sendable, Equatable {
    /// Answer now with this text ("" = send nothing).
    case reply(String)
    /// Stored; the reply comes later through the channel's send.
    case deferred
}

/// An HTTP request (outgoing through the host's client) or a request that reached a route.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var timeoutMs: UInt32
    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeoutMs: UInt32 = 0) {
        self.method = method; self.url = url; self.headers = headers; self.body = body; self.timeoutMs = timeoutMs
    }
}

/// An HTTP response (from the host's client, or a route's answer).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status; self.headers = headers; self.body = body
    }
    public init(status: Int, contentType: String, body: String) {
        self.init(status: status, headers: [("Content-Type", contentType)], body: Array(body.utf8))
    }
    /// The first header with this name, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A request on a route the plugin registered. See ds_route_request.
public struct RouteRequest: Sendable {
    public var method: String
    public var path: String
    public var query: String
    /// Header names are lower case.
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// The URL as the client requested it from outside (server.public_url + path + query).
    public var publicURL: String
    public var remoteAddress: String
    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.0 == n }?.1
    }
}

extension HistoryEntry {
    /// `timeMs` as UTC ISO 8601 with milliseconds ("2026-01-01T12:00:00.000Z").
    public var isoTime: String { ISO8601Time.string(ms: timeMs) }
}

/// UTC ISO 8601 with milliseconds, without a DateFormatter (costly to make, not
/// documented thread-safe on Linux). Pure; any thread.
public enum ISO8601Time {
    public static func string(ms: Int64) -> String {
        var t = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        let milli = Int(((ms % 1000) + 1000) % 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(milli), 3))Z"
    }
}
