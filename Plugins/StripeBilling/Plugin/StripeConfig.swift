import Foundation

/// The `config` block of a `stripe` plugin entry in plugins.yaml.
///
/// Immutable after parsing; thread-safe. `apiKey` and `webhookSecret` are secrets:
/// `description` hides them and no error message ever contains them.
struct StripeConfig: Sendable, CustomStringConvertible {
    /// Secret API key (sk_...): Bearer token of the meter-event calls.
    var apiKey: String
    /// Base URL of the Stripe API, without a trailing slash.
    var apiBase: String
    var webhookPath: String
    /// Signing secret of the webhook endpoint (whsec_...); nil = no webhook route.
    var webhookSecret: String?
    /// Usage kind → Stripe meter `event_name`. Kinds not listed are not reported.
    var meterEvents: [String: String]
    /// Price `lookup_key` → tier name.
    var priceTiers: [String: String]
    /// Seconds a webhook signature stays valid.
    var toleranceS: Int64
    /// The tier a deleted subscription moves an account to.
    var canceledTier: String
    /// Timeout of one meter-event request.
    var requestTimeoutMs: UInt32
    /// Attempts of one meter event before `record` fails retryably (the host retries later).
    var maxAttempts: Int

    var description: String {
        "StripeConfig(api_base: \(apiBase), webhook_path: \(webhookPath), api_key: <hidden>, webhook_secret: \(webhookSecret == nil ? "unset" : "<hidden>"), meter_events: \(meterEvents), price_tiers: \(priceTiers), tolerance_s: \(toleranceS))"
    }

    static let keys = ["api_key", "api_base", "webhook_path", "webhook_secret", "meter_events", "price_tiers",
                       "tolerance_s", "canceled_tier", "request_timeout_ms", "max_attempts"]

    /// JSON Schema of the block: the host checks it before create (secrets marked writeOnly).
    static let schema = """
    {"type":"object","required":["api_key"],"additionalProperties":false,"properties":{
    "api_key":{"type":"string","minLength":1,"writeOnly":true,"description":"Stripe secret API key (secret): Bearer token for meter events"},
    "api_base":{"type":"string","pattern":"^https?://","description":"Stripe API base URL (default https://api.stripe.com)"},
    "webhook_path":{"type":"string","pattern":"^/","description":"route of Stripe's webhooks (default /stripe/webhook)"},
    "webhook_secret":{"type":"string","minLength":1,"writeOnly":true,"description":"webhook signing secret whsec_... (secret); without it no webhook route is registered"},
    "meter_events":{"type":"object","additionalProperties":{"type":"string","minLength":1},"description":"usage kind -> Stripe meter event_name"},
    "price_tiers":{"type":"object","additionalProperties":{"type":"string","minLength":1},"description":"price lookup_key -> tier"},
    "tolerance_s":{"type":"integer","minimum":1,"maximum":86400,"description":"age limit of a webhook signature, seconds (default 300)"},
    "canceled_tier":{"type":"string","minLength":1,"description":"tier after customer.subscription.deleted (default free)"},
    "request_timeout_ms":{"type":"integer","minimum":100,"maximum":120000,"description":"timeout of one Stripe request (default 15000)"},
    "max_attempts":{"type":"integer","minimum":1,"maximum":20,"description":"attempts of one meter event before the host is told to retry later (default 5)"}
    }}
    """

    /// A config problem; names the field, never a secret's value.
    struct Problem: Error, CustomStringConvertible { let description: String }

    static func parse(json: String) throws(Problem) -> StripeConfig {
        guard let any = try? JSONSerialization.jsonObject(with: Data((json.isEmpty ? "{}" : json).utf8)),
              let o = any as? [String: Any] else { throw Problem(description: "config is not a JSON object") }
        for k in o.keys where !keys.contains(k) { throw Problem(description: "\(k): unknown field (allowed: \(keys.joined(separator: ", ")))") }
        func str(_ k: String) throws(Problem) -> String? {
            guard let v = o[k], !(v is NSNull) else { return nil }
            guard let s = v as? String else { throw Problem(description: "\(k): expected a string") }
            return s
        }
        func int(_ k: String, _ min: Int64, _ max: Int64) throws(Problem) -> Int64? {
            guard let v = o[k], !(v is NSNull) else { return nil }
            // JSON true/false arrive as NSNumber too, and `is Bool` also matches the numbers 0 and 1 on
            // Linux: tell booleans apart by their storage type ("c").
            guard let num = v as? NSNumber, String(cString: num.objCType) != "c", let n = v as? Int else {
                throw Problem(description: "\(k): expected an integer")
            }
            let i = Int64(n)
            guard i >= min && i <= max else { throw Problem(description: "\(k): must be between \(min) and \(max), got \(i)") }
            return i
        }
        func map(_ k: String) throws(Problem) -> [String: String] {
            guard let v = o[k], !(v is NSNull) else { return [:] }
            guard let m = v as? [String: Any] else { throw Problem(description: "\(k): expected a mapping") }
            var out: [String: String] = [:]
            for (mk, mv) in m {
                guard let s = mv as? String, !s.isEmpty else { throw Problem(description: "\(k).\(mk): expected a non-empty string") }
                out[mk] = s
            }
            return out
        }
        guard let apiKey = try str("api_key"), !apiKey.isEmpty else { throw Problem(description: "api_key: missing (the Stripe secret key, e.g. ${STRIPE_API_KEY})") }
        var base = try str("api_base") ?? "https://api.stripe.com"
        while base.hasSuffix("/") { base.removeLast() }
        guard let u = URL(string: base), ["http", "https"].contains(u.scheme ?? ""), u.host != nil else {
            throw Problem(description: "api_base: expected an http(s) URL, got '\(base)'")
        }
        let path = try str("webhook_path") ?? "/stripe/webhook"
        guard path.hasPrefix("/") else { throw Problem(description: "webhook_path: must start with '/', got '\(path)'") }
        let secret = try str("webhook_secret")
        if let s = secret, s.isEmpty { throw Problem(description: "webhook_secret: must not be empty") }
        return StripeConfig(
            apiKey: apiKey, apiBase: base, webhookPath: path, webhookSecret: secret,
            meterEvents: try map("meter_events"), priceTiers: try map("price_tiers"),
            toleranceS: try int("tolerance_s", 1, 86_400) ?? 300,
            canceledTier: try str("canceled_tier") ?? "free",
            requestTimeoutMs: UInt32(try int("request_timeout_ms", 100, 120_000) ?? 15_000),
            maxAttempts: Int(try int("max_attempts", 1, 20) ?? 5))
    }
}
