import Foundation

/// Builds requests to Twilio's Messages REST API and reads its answers
/// (`POST {api_base}/2010-04-01/Accounts/{sid}/Messages.json`).
///
/// Knows nothing of transport: the plugin sends the request through the host's HTTP
/// client. A value type; thread-safe. Holds the auth token for the Basic auth header:
/// never log the headers it returns.
public struct TwilioMessagesAPI: Sendable {
    public let accountSid: String
    let authToken: String
    public let apiBase: String
    public let from: String?
    public let messagingServiceSid: String?

    public init(config: TwilioConfig) {
        accountSid = config.accountSid
        authToken = config.authToken
        apiBase = config.apiBase.hasSuffix("/") ? String(config.apiBase.dropLast()) : config.apiBase
        from = config.senderNumber
        messagingServiceSid = config.messagingServiceSid
    }

    /// The Messages resource URL.
    public var messagesURL: String { "\(apiBase)/2010-04-01/Accounts/\(accountSid)/Messages.json" }

    /// One create-message request: (url, headers, form body). `from` overrides the
    /// configured sender; otherwise the messaging service if configured, else `from`.
    /// `mediaURLs` become `MediaUrl` parameters (an MMS; at most 10), `body` may then be empty.
    public func createRequest(to: String, from override: String?, body: String, statusCallback: String?,
                              mediaURLs: [String] = [], template: WhatsApp.Template? = nil) -> (url: String, headers: [(String, String)], body: String) {
        var form: [(String, String)] = [("To", to)]
        if let o = override, !o.isEmpty {
            form.append(("From", o))
        } else if let m = messagingServiceSid {
            form.append(("MessagingServiceSid", m))
        } else if let f = from {
            form.append(("From", f))
        }
        if let t = template {
            // An approved template (WhatsApp outside the service window): no free-form Body.
            form.append(("ContentSid", t.contentSid))
            form.append(("ContentVariables", t.variablesJSON))
        } else {
            if !body.isEmpty || mediaURLs.isEmpty { form.append(("Body", body)) }
            for u in mediaURLs.prefix(TwiML.maxMedia) { form.append(("MediaUrl", u)) }
        }
        if let cb = statusCallback { form.append(("StatusCallback", cb)) }
        let basic = Data("\(accountSid):\(authToken)".utf8).base64EncodedString()
        let headers = [("Authorization", "Basic \(basic)"),
                       ("Content-Type", "application/x-www-form-urlencoded"),
                       ("Accept", "application/json")]
        return (messagesURL, headers, FormEncoding.encode(form))
    }

    /// What a create-message answer means.
    public enum Outcome: Sendable, Equatable {
        /// Accepted: Twilio's message SID (SM...) and its status (queued, accepted, ...).
        case sent(sid: String, status: String)
        /// HTTP 429 / code 20429: retry after `retryAfterMs` (0 = no opinion).
        case rateLimited(code: Int32, message: String, retryAfterMs: Int64)
        /// HTTP 5xx: retryable.
        case unavailable(status: Int, message: String, retryAfterMs: Int64)
        /// Code 21610: the recipient replied STOP to this sender.
        case optedOut(code: Int32, message: String)
        /// HTTP 401/403: credentials refused.
        case auth(status: Int, code: Int32, message: String)
        /// Any other 4xx (or an unreadable 2xx): permanent, with Twilio's code.
        case rejected(status: Int, code: Int32, message: String)
    }

    /// Reads a response to `createRequest`.
    public static func outcome(status: Int, headers: [(String, String)], body: [UInt8], now: Date = Date()) -> Outcome {
        let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        let code = Int32(truncatingIfNeeded: (json["code"] as? Int) ?? 0)
        let message = (json["message"] as? String).map { String($0.prefix(300)) } ?? "HTTP \(status)"
        let retryAfter = headers.first { $0.0.lowercased() == "retry-after" }.map { retryAfterMs($0.1, now: now) } ?? 0
        switch status {
        case 200..<300:
            guard let sid = json["sid"] as? String, !sid.isEmpty else {
                return .rejected(status: status, code: 0, message: "Twilio answered \(status) without a message sid")
            }
            return .sent(sid: sid, status: json["status"] as? String ?? "queued")
        case 429: return .rateLimited(code: code == 0 ? 20429 : code, message: message, retryAfterMs: retryAfter)
        case _ where code == 20429: return .rateLimited(code: code, message: message, retryAfterMs: retryAfter)
        case _ where code == 21610: return .optedOut(code: code, message: message)
        case 500..<600: return .unavailable(status: status, message: message, retryAfterMs: retryAfter)
        case 401, 403: return .auth(status: status, code: code, message: message)
        default: return .rejected(status: status, code: code, message: message)
        }
    }

    /// A `Retry-After` value (delta seconds or an HTTP date) in milliseconds; 0 if unreadable.
    public static func retryAfterMs(_ value: String, now: Date = Date()) -> Int64 {
        let v = value.trimmingCharacters(in: .whitespaces)
        if let s = Double(v), s >= 0 { return Int64(s * 1000) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        if let d = f.date(from: v) { return max(0, Int64(d.timeIntervalSince(now) * 1000)) }
        return 0
    }
}
