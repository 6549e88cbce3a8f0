import ChannelSupport
import Foundation

/// The `config` block of a `telegram` plugin entry in plugins.yaml.
///
/// Immutable after decoding; thread-safe. `botToken` and `secretToken` are secrets:
/// never log them or put them in an error message (`description` hides them).
public struct TelegramConfig: Decodable, Sendable, CustomStringConvertible {
    /// How updates reach the gateway.
    public enum Mode: String, Decodable, Sendable { case webhook, polling }

    /// The bot's token from @BotFather ("123456:ABC-DEF..."); its part before ':' is the bot's id.
    public var botToken: String
    public var mode: Mode
    /// Webhook mode: the route Telegram posts updates to.
    public var webhookPath: String
    /// Webhook mode: the value Telegram must send in X-Telegram-Bot-Api-Secret-Token.
    public var secretToken: String?
    /// Webhook mode: whether to call setWebhook at start (false when it is set by hand).
    public var setWebhook: Bool
    /// The gateway's public base URL (setWebhook's url, inbound media URLs); default: DARKSPERE_PUBLIC_URL.
    public var publicURL: String?
    /// The route that serves inbound photos to agents (signed links, see TelegramFileLink).
    public var filePath: String
    public var apiBase: String
    /// Polling mode: getUpdates' long-poll timeout, seconds.
    public var pollTimeoutSeconds: Int
    /// Polling mode: where the offset of handled updates is kept across restarts (nil: not kept).
    public var stateDir: String?
    /// Timeout of one Bot API call (getUpdates adds its poll timeout), milliseconds.
    public var requestTimeoutMs: UInt32
    /// Whether to show "typing…" while the agent works.
    public var typing: Bool
    /// Webhook mode: answer the webhook with the reply as a sendMessage method call (no extra
    /// request; Telegram gives no confirmation) when it fits in one message.
    public var replyInWebhook: Bool

    enum CodingKeys: String, CodingKey {
        case botToken = "bot_token", mode, webhookPath = "webhook_path", secretToken = "secret_token", setWebhook = "set_webhook"
        case publicURL = "public_url", filePath = "file_path", apiBase = "api_base", pollTimeoutSeconds = "poll_timeout_seconds"
        case stateDir = "state_dir", requestTimeoutMs = "request_timeout_ms", typing
        case replyInWebhook = "reply_in_webhook"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        botToken = try c.decode(String.self, forKey: .botToken)
        mode = try c.decodeIfPresent(Mode.self, forKey: .mode) ?? .polling
        webhookPath = try c.decodeIfPresent(String.self, forKey: .webhookPath) ?? "/telegram/webhook"
        secretToken = try c.decodeIfPresent(String.self, forKey: .secretToken)
        setWebhook = try c.decodeIfPresent(Bool.self, forKey: .setWebhook) ?? true
        publicURL = try c.decodeIfPresent(String.self, forKey: .publicURL)
        filePath = try c.decodeIfPresent(String.self, forKey: .filePath) ?? "/telegram/file"
        apiBase = try c.decodeIfPresent(String.self, forKey: .apiBase) ?? "https://api.telegram.org"
        pollTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .pollTimeoutSeconds) ?? 25
        stateDir = try c.decodeIfPresent(String.self, forKey: .stateDir)
        requestTimeoutMs = try c.decodeIfPresent(UInt32.self, forKey: .requestTimeoutMs) ?? 15_000
        typing = try c.decodeIfPresent(Bool.self, forKey: .typing) ?? true
        replyInWebhook = try c.decodeIfPresent(Bool.self, forKey: .replyInWebhook) ?? true
        if apiBase.hasSuffix("/") { apiBase.removeLast() }
    }

    /// Decodes and checks a config block; errors name the field and never echo secrets.
    public static func parse(json: String) throws -> TelegramConfig {
        let c: TelegramConfig
        do { c = try ConfigDecoding.decode(TelegramConfig.self, json: json) } catch { throw TelegramError.config("\(error)") }
        try c.check()
        return c
    }

    func check() throws {
        guard botId != nil else { throw TelegramError.config("bot_token: must look like <bot id>:<secret> (from @BotFather)") }
        if mode == .webhook {
            guard let s = secretToken else { throw TelegramError.config("secret_token: required in webhook mode") }
            guard (1...256).contains(s.utf8.count), s.utf8.allSatisfy({ Self.secretAlphabet.contains($0) }) else {
                throw TelegramError.config("secret_token: 1-256 characters of A-Z a-z 0-9 _ -")
            }
        }
        for (name, p) in [("webhook_path", webhookPath), ("file_path", filePath)] where !p.hasPrefix("/") {
            throw TelegramError.config("\(name): must start with '/', got '\(p)'")
        }
        guard webhookPath != filePath else { throw TelegramError.config("file_path: must differ from webhook_path") }
        guard apiBase.hasPrefix("http://") || apiBase.hasPrefix("https://") else { throw TelegramError.config("api_base: must be an http:// or https:// URL") }
        guard (0...50).contains(pollTimeoutSeconds) else { throw TelegramError.config("poll_timeout_seconds: must be 0...50") }
    }

    static let secretAlphabet = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-".utf8))

    /// The bot's numeric id: the token's part before ':'.
    public var botId: Int64? {
        let parts = botToken.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, !parts[1].isEmpty else { return nil }
        return Int64(parts[0])
    }

    /// Our side of every conversation: `telegram:<bot id>`.
    public var botAddress: String { TelegramAddress.format(botId ?? 0) }

    public var description: String {
        "TelegramConfig(bot_token: ***, mode: \(mode.rawValue), webhook_path: \(webhookPath), secret_token: \(secretToken == nil ? "-" : "***"), api_base: \(apiBase))"
    }

    /// The JSON Schema of the block, given to the host in the plugin descriptor.
    public static let schema = #"""
    {"type":"object","required":["bot_token"],"additionalProperties":false,"properties":{
    "bot_token":{"type":"string","pattern":"^[0-9]+:.+$","writeOnly":true,"description":"Bot token from @BotFather (secret)"},
    "mode":{"type":"string","enum":["webhook","polling"]},
    "webhook_path":{"type":"string","pattern":"^/"},
    "secret_token":{"type":"string","pattern":"^[A-Za-z0-9_-]{1,256}$","writeOnly":true,"description":"Webhook mode: X-Telegram-Bot-Api-Secret-Token (secret)"},
    "set_webhook":{"type":"boolean"},
    "public_url":{"type":"string","pattern":"^https?://"},
    "file_path":{"type":"string","pattern":"^/"},
    "api_base":{"type":"string","pattern":"^https?://"},
    "poll_timeout_seconds":{"type":"integer","minimum":0,"maximum":50},
    "state_dir":{"type":"string","minLength":1},
    "request_timeout_ms":{"type":"integer","minimum":100,"maximum":300000},
    "typing":{"type":"boolean"},
    "reply_in_webhook":{"type":"boolean"}}}
    """#
}

/// A config or protocol problem: names the field, never a secret's value.
public struct TelegramError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public static func config(_ d: String) -> TelegramError { TelegramError(description: d) }
}
