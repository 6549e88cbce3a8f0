import ChannelSupport
import Foundation

/// The `config` block of a `webchat` plugin entry in plugins.yaml.
///
/// Immutable after decoding; thread-safe. `secret` signs visitor tokens: never log it
/// (`description` hides it).
public struct WebChatConfig: Decodable, Sendable, CustomStringConvertible {
    /// HMAC-SHA256 key of visitor tokens (at least 32 bytes).
    public var secret: String
    /// Every route lives under it: /session, /messages, /poll, /widget.js, /demo.
    public var pathPrefix: String
    /// Origins (scheme://host[:port]) whose pages may call the API; the gateway's own origin always may.
    public var allowedOrigins: [String]
    public var tokenTTLSeconds: Int
    /// Messages a visitor may send per minute; 0 = no limit.
    public var rateLimitPerMinute: Int
    /// How long GET /poll holds a request open when there is nothing new (seconds).
    public var pollTimeoutSeconds: Int
    public var maxMessageLength: Int
    /// Serve a demo page at <path_prefix>/demo.
    public var demo: Bool
    public var title: String
    /// Our side of every conversation, e.g. `web:support`.
    public var address: String
    /// Messages kept per visitor for reloads (the router's store keeps the full history).
    public var keepMessages: Int

    enum CodingKeys: String, CodingKey {
        case secret, pathPrefix = "path_prefix", allowedOrigins = "allowed_origins", tokenTTLSeconds = "token_ttl_seconds"
        case rateLimitPerMinute = "rate_limit_per_minute", pollTimeoutSeconds = "poll_timeout_seconds"
        case maxMessageLength = "max_message_length", demo, title, address, keepMessages = "keep_messages"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        secret = try c.decode(String.self, forKey: .secret)
        pathPrefix = try c.decodeIfPresent(String.self, forKey: .pathPrefix) ?? "/webchat"
        allowedOrigins = try c.decodeIfPresent([String].self, forKey: .allowedOrigins) ?? []
        tokenTTLSeconds = try c.decodeIfPresent(Int.self, forKey: .tokenTTLSeconds) ?? 86_400
        rateLimitPerMinute = try c.decodeIfPresent(Int.self, forKey: .rateLimitPerMinute) ?? 20
        pollTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .pollTimeoutSeconds) ?? 20
        maxMessageLength = try c.decodeIfPresent(Int.self, forKey: .maxMessageLength) ?? 2000
        demo = try c.decodeIfPresent(Bool.self, forKey: .demo) ?? false
        title = try c.decodeIfPresent(String.self, forKey: .title) ?? "Chat with us"
        address = try c.decodeIfPresent(String.self, forKey: .address) ?? "web:chat"
        keepMessages = try c.decodeIfPresent(Int.self, forKey: .keepMessages) ?? 200
        if pathPrefix.hasSuffix("/") { pathPrefix.removeLast() }
        allowedOrigins = allowedOrigins.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    /// Decodes and checks a config block; errors name the field and never echo the secret.
    public static func parse(json: String) throws -> WebChatConfig {
        let c: WebChatConfig
        do { c = try ConfigDecoding.decode(WebChatConfig.self, json: json) } catch { throw WebChatError("\(error)") }
        guard c.secret.utf8.count >= 32 else { throw WebChatError("secret: must be at least 32 characters (e.g. openssl rand -hex 32)") }
        guard c.pathPrefix.hasPrefix("/"), c.pathPrefix.count > 1 else { throw WebChatError("path_prefix: must start with '/' and not be '/'") }
        for o in c.allowedOrigins where o != "*" && !(o.hasPrefix("http://") || o.hasPrefix("https://")) {
            throw WebChatError("allowed_origins: '\(o)' is not an origin (scheme://host[:port]) or *")
        }
        guard c.tokenTTLSeconds >= 60 else { throw WebChatError("token_ttl_seconds: must be >= 60") }
        guard (1...25).contains(c.pollTimeoutSeconds) else { throw WebChatError("poll_timeout_seconds: must be 1...25 (below server.request_timeout)") }
        guard c.rateLimitPerMinute >= 0 else { throw WebChatError("rate_limit_per_minute: must be >= 0") }
        guard c.address.hasPrefix("web:"), c.address.count > 4 else { throw WebChatError("address: must be web:<name>") }
        return c
    }

    public var description: String {
        "WebChatConfig(secret: ***, path_prefix: \(pathPrefix), allowed_origins: \(allowedOrigins), demo: \(demo))"
    }

    public static let schema = #"""
    {"type":"object","required":["secret"],"additionalProperties":false,"properties":{
    "secret":{"type":"string","minLength":32,"writeOnly":true,"description":"HMAC-SHA256 key of visitor tokens (secret)"},
    "path_prefix":{"type":"string","pattern":"^/."},
    "allowed_origins":{"type":"array","items":{"type":"string"}},
    "token_ttl_seconds":{"type":"integer","minimum":60},
    "rate_limit_per_minute":{"type":"integer","minimum":0},
    "poll_timeout_seconds":{"type":"integer","minimum":1,"maximum":25},
    "max_message_length":{"type":"integer","minimum":1,"maximum":100000},
    "demo":{"type":"boolean"},
    "title":{"type":"string"},
    "address":{"type":"string","pattern":"^web:."},
    "keep_messages":{"type":"integer","minimum":1,"maximum":10000}}}
    """#
}

/// A config or request problem; never carries the secret.
public struct WebChatError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
