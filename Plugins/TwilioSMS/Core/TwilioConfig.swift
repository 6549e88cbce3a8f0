import Foundation

/// The `config` block of a `twilio` plugin entry in plugins.yaml.
///
/// Immutable after decoding; thread-safe. `authToken` is a secret: never log it or
/// put it in an error message (`description` hides it).
public struct TwilioConfig: Decodable, Sendable, CustomStringConvertible {
    public var accountSid: String
    public var authToken: String
    /// Our sender number (E.164) or nil when `messagingServiceSid` is set.
    public var from: String?
    public var messagingServiceSid: String?
    public var webhookPath: String
    public var statusPath: String
    public var apiBase: String
    /// The gateway's public base URL for the `StatusCallback` of sends; when absent it
    /// is learned from the first webhook (ds_route_request.public_url) or read from
    /// DARKSPERE_PUBLIC_URL. (The ABI gives a channel no other way to know it.)
    public var publicURL: String?
    /// The keys of the removed per-number limiter found in the block (`rate_limit_text`,
    /// `rate_limit_per_minute`, `rate_limit_window_seconds`): still accepted so an old
    /// plugins.yaml loads, but ignored with a warning; rate limits are the host's
    /// `abuse:` section now (in the store, across processes).
    public var deprecatedKeys: [String]
    /// Timeout of one REST call, milliseconds.
    public var requestTimeoutMs: UInt32
    /// Whether the webhook must carry a valid signature. Only for local experiments.
    public var validateSignatures: Bool
    /// A WhatsApp instance: addresses are `whatsapp:+E164`, sends honour the 24-hour window.
    public var whatsapp: Bool
    /// WhatsApp: the approved template for sends outside the window (unless the message
    /// or its agent names one).
    public var template: WhatsApp.Template?
    /// WhatsApp: per agent name, the template for its conversations outside the window.
    public var agentTemplates: [String: WhatsApp.Template]
    /// WhatsApp: the customer-service window, hours (24).
    public var windowHours: Double
    /// WhatsApp: where the window (each user's last message time) is kept across restarts.
    public var windowFile: String?

    enum CodingKeys: String, CodingKey {
        case accountSid = "account_sid", authToken = "auth_token", from, messagingServiceSid = "messaging_service_sid"
        case webhookPath = "webhook_path", statusPath = "status_path", apiBase = "api_base", publicURL = "public_url"
        case rateLimitText = "rate_limit_text"
        case rateLimitPerMinute = "rate_limit_per_minute", rateLimitWindow = "rate_limit_window_seconds"
        case requestTimeoutMs = "request_timeout_ms", validateSignatures = "validate_signatures"
        case whatsapp, template, agentTemplates = "agent_templates", windowHours = "window_hours", windowFile = "window_file"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        accountSid = try c.decode(String.self, forKey: .accountSid)
        authToken = try c.decode(String.self, forKey: .authToken)
        from = try c.decodeIfPresent(String.self, forKey: .from)
        messagingServiceSid = try c.decodeIfPresent(String.self, forKey: .messagingServiceSid)
        webhookPath = try c.decodeIfPresent(String.self, forKey: .webhookPath) ?? "/twilio/sms"
        statusPath = try c.decodeIfPresent(String.self, forKey: .statusPath) ?? "/twilio/status"
        apiBase = try c.decodeIfPresent(String.self, forKey: .apiBase) ?? "https://api.twilio.com"
        publicURL = try c.decodeIfPresent(String.self, forKey: .publicURL)
        _ = try c.decodeIfPresent(String.self, forKey: .rateLimitText)
        _ = try c.decodeIfPresent(Int.self, forKey: .rateLimitPerMinute)
        _ = try c.decodeIfPresent(Double.self, forKey: .rateLimitWindow)
        deprecatedKeys = [CodingKeys.rateLimitText, .rateLimitPerMinute, .rateLimitWindow].filter { c.contains($0) }.map(\.stringValue)
        requestTimeoutMs = try c.decodeIfPresent(UInt32.self, forKey: .requestTimeoutMs) ?? 15_000
        validateSignatures = try c.decodeIfPresent(Bool.self, forKey: .validateSignatures) ?? true
        whatsapp = try c.decodeIfPresent(Bool.self, forKey: .whatsapp) ?? false
        template = try c.decodeIfPresent(WhatsApp.Template.self, forKey: .template)
        agentTemplates = try c.decodeIfPresent([String: WhatsApp.Template].self, forKey: .agentTemplates) ?? [:]
        windowHours = try c.decodeIfPresent(Double.self, forKey: .windowHours) ?? 24
        windowFile = try c.decodeIfPresent(String.self, forKey: .windowFile)
    }

    /// Decodes and checks a config block; errors name the field and never echo secrets.
    public static func parse(json: String) throws -> TwilioConfig {
        let c: TwilioConfig
        do {
            c = try JSONDecoder().decode(TwilioConfig.self, from: Data((json.isEmpty ? "{}" : json).utf8))
        } catch let e as DecodingError {
            func path(_ ctx: DecodingError.Context) -> String { ctx.codingPath.map(\.stringValue).joined(separator: ".") }
            switch e {
            case .keyNotFound(let key, _): throw TwilioConfigError("missing field \(key.stringValue)")
            case .typeMismatch(let t, let ctx): throw TwilioConfigError("\(path(ctx)): expected \(t == String.self ? "a string" : "\(t)")")
            case .valueNotFound(let t, let ctx): throw TwilioConfigError("\(path(ctx)): expected \(t), found null")
            case .dataCorrupted(let ctx): throw TwilioConfigError(ctx.codingPath.isEmpty ? "config is not a valid JSON object" : "\(path(ctx)): invalid value")
            @unknown default: throw TwilioConfigError("config is not valid")
            }
        }
        try c.check()
        return c
    }

    func check() throws {
        guard accountSid.hasPrefix("AC"), accountSid.count == 34 else { throw TwilioConfigError("account_sid: must be AC followed by 32 hex digits") }
        guard !authToken.isEmpty else { throw TwilioConfigError("auth_token: must not be empty") }
        switch (from, messagingServiceSid) {
        case (nil, nil): throw TwilioConfigError("from or messaging_service_sid: one of them is required")
        case (let f?, _) where PhoneNumber.e164(f) == nil && PhoneNumber.shortCode(f) == nil:
            throw TwilioConfigError("from: '\(f)' is not an E.164 number or short code")
        case (_, let m?) where !m.hasPrefix("MG"): throw TwilioConfigError("messaging_service_sid: must start with MG")
        default: break
        }
        for (name, p) in [("webhook_path", webhookPath), ("status_path", statusPath)] where !p.hasPrefix("/") {
            throw TwilioConfigError("\(name): must start with '/', got '\(p)'")
        }
        guard webhookPath != statusPath else { throw TwilioConfigError("status_path: must differ from webhook_path") }
        guard apiBase.hasPrefix("http://") || apiBase.hasPrefix("https://") else { throw TwilioConfigError("api_base: must be an http:// or https:// URL") }
        if let p = template?.problem { throw TwilioConfigError("template.\(p)") }
        for (name, t) in agentTemplates { if let p = t.problem { throw TwilioConfigError("agent_templates.\(name).\(p)") } }
        if !whatsapp && (template != nil || !agentTemplates.isEmpty || windowFile != nil) {
            throw TwilioConfigError("template, agent_templates and window_file: only with whatsapp: true")
        }
        guard windowHours > 0 else { throw TwilioConfigError("window_hours: must be > 0") }
    }

    /// The sender as E.164 (or short code), if configured.
    public var senderNumber: String? { from.flatMap { PhoneNumber.e164($0) ?? PhoneNumber.shortCode($0) } }

    public var description: String {
        "TwilioConfig(account_sid: \(accountSid), auth_token: ***, from: \(from ?? "-"), messaging_service_sid: \(messagingServiceSid ?? "-"), webhook_path: \(webhookPath), status_path: \(statusPath), api_base: \(apiBase))"
    }

    /// The JSON Schema of the block, given to the host in the plugin descriptor.
    /// `auth_token` is marked `writeOnly` (a secret: the host redacts it by name too).
    public static let schema = #"""
    {"type":"object","required":["account_sid","auth_token"],"additionalProperties":false,"properties":{
    "account_sid":{"type":"string","pattern":"^AC[0-9a-fA-F]{32}$","description":"Twilio account SID"},
    "auth_token":{"type":"string","minLength":1,"writeOnly":true,"description":"Twilio auth token (secret): signs webhooks, authenticates REST calls"},
    "from":{"type":"string","minLength":3,"description":"Sender number, E.164"},
    "messaging_service_sid":{"type":"string","pattern":"^MG[0-9a-fA-F]{32}$"},
    "webhook_path":{"type":"string","pattern":"^/"},
    "status_path":{"type":"string","pattern":"^/"},
    "api_base":{"type":"string","pattern":"^https?://"},
    "public_url":{"type":"string","pattern":"^https?://"},
    "rate_limit_text":{"type":"string","description":"deprecated, ignored: use abuse.rate_limit_reply"},
    "rate_limit_per_minute":{"type":"integer","minimum":0,"description":"deprecated, ignored: use abuse.per_sender"},
    "rate_limit_window_seconds":{"type":"number","minimum":1,"description":"deprecated, ignored: use abuse.window"},
    "request_timeout_ms":{"type":"integer","minimum":100,"maximum":300000},
    "validate_signatures":{"type":"boolean"},
    "whatsapp":{"type":"boolean","description":"a WhatsApp sender: whatsapp:+E164 addresses, 24-hour window"},
    "template":{"type":"object","required":["content_sid"],"additionalProperties":false,"properties":{
      "content_sid":{"type":"string","pattern":"^HX[0-9a-fA-F]{32}$"},"content_variables":{"type":"object"}}},
    "agent_templates":{"type":"object"},
    "window_hours":{"type":"number","minimum":1},
    "window_file":{"type":"string","minLength":1}}}
    """#
}

/// A config problem: names the field, never a secret's value.
public struct TwilioConfigError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
