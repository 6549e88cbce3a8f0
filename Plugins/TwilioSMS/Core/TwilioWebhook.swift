import Foundation

/// Reading Twilio's webhooks: signature check, form (or signed JSON) parsing, and
/// normalisation into an inbound message or a status update.
///
/// Pure functions over the request's parts: thread-safe.
public enum TwilioWebhook {
    /// What to answer a webhook that is not acceptable.
    public enum Rejection: Error, Equatable, Sendable {
        /// 403: missing or wrong signature.
        case forbidden(String)
        /// 400: malformed body or missing field.
        case badRequest(String)

        public var httpStatus: Int { if case .forbidden = self { return 403 }; return 400 }
        public var reason: String { switch self { case .forbidden(let r), .badRequest(let r): return r } }
    }

    /// Verifies a webhook and returns its parameters.
    ///
    /// - `headers`: lower-case names. `X-Twilio-Signature` is required when `validate`.
    /// - `publicURL`: the URL Twilio requested (server.public_url + path + query).
    /// - A URL carrying `bodySHA256` is the JSON variant: the body's SHA-256 must match
    ///   and the parameters are the body's top-level string/number fields.
    public static func verifiedParams(signature checker: TwilioSignature, headers: [(String, String)], body: [UInt8],
                                      publicURL: String, validate: Bool = true) throws(Rejection) -> [(String, String)] {
        func header(_ n: String) -> String? { headers.first { $0.0 == n }?.1 }
        let signature = header("x-twilio-signature")
        if validate && (signature ?? "").isEmpty { throw .forbidden("missing X-Twilio-Signature") }
        guard let algorithm = TwilioSignature.algorithm(settingsHeader: header("x-twilio-webhooks-signature-settings")) else {
            throw .forbidden("unsupported signature algorithm")
        }
        if FormEncoding.queryValue(publicURL, "bodySHA256") != nil {
            if validate && !checker.isValidBodySHA256(signature: signature!, url: publicURL, body: body, algorithm: algorithm) {
                throw .forbidden("invalid X-Twilio-Signature or bodySHA256")
            }
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
                throw .badRequest("body is not a JSON object")
            }
            return obj.compactMap { k, v in
                if let s = v as? String { return (k, s) }
                if let n = v as? NSNumber { return (k, n.stringValue) }
                return nil
            }
        }
        let params: [(String, String)]
        do { params = try FormEncoding.parse(body) } catch { throw .badRequest("malformed form body: \(error)") }
        if validate && !checker.isValid(signature: signature!, url: publicURL, params: params, algorithm: algorithm) {
            throw .forbidden("invalid X-Twilio-Signature")
        }
        return params
    }

    /// An inbound SMS/MMS, normalised.
    public struct Inbound: Sendable, Equatable {
        public var messageSid: String
        /// Sender, E.164.
        public var from: String
        /// Our number, E.164 (or a short code).
        public var to: String
        /// The whole text as received (not limited to `MessageSplitter.maxCharacters`).
        public var body: String
        public var media: [Media]
        /// The other parameters (AccountSid, NumSegments, FromCountry, ...) as a JSON object.
        public var metadataJSON: String
        public struct Media: Sendable, Equatable {
            public var url: String
            public var contentType: String
            public init(url: String, contentType: String) { self.url = url; self.contentType = contentType }
        }
    }

    /// Parameters that become fields of the inbound message rather than metadata.
    static let mappedFields: Set<String> = ["Body", "From", "To", "MessageSid", "SmsMessageSid", "SmsSid", "NumMedia"]

    /// Normalises the parameters of an incoming-message webhook.
    /// `whatsapp`: a WhatsApp instance — From and To must be `whatsapp:+E164`, and stay so
    /// (the conversation's addresses); an SMS webhook on it is refused (400).
    public static func inbound(_ params: [(String, String)], whatsapp: Bool = false) throws(Rejection) -> Inbound {
        var p: [String: String] = [:]
        p.reserveCapacity(params.count)
        for (k, v) in params where p[k] == nil { p[k] = v }
        guard let sid = p["MessageSid"] ?? p["SmsMessageSid"] ?? p["SmsSid"], !sid.isEmpty else { throw .badRequest("missing MessageSid") }
        guard sid.utf8.count <= 64, sid.utf8.allSatisfy({ ($0 | 0x20 >= UInt8(ascii: "a") && $0 | 0x20 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }) else {
            throw .badRequest("MessageSid is not a Twilio SID")
        }
        guard let rawFrom = p["From"], !rawFrom.isEmpty else { throw .badRequest("missing From") }
        guard let rawTo = p["To"], !rawTo.isEmpty else { throw .badRequest("missing To") }
        let from: String, to: String
        if whatsapp {
            guard rawFrom.lowercased().hasPrefix("whatsapp:"), let f = WhatsApp.address(rawFrom) else { throw .badRequest("From is not whatsapp:+E164") }
            guard rawTo.lowercased().hasPrefix("whatsapp:"), let t = WhatsApp.address(rawTo) else { throw .badRequest("To is not whatsapp:+E164") }
            from = f; to = t
        } else {
            guard let f = PhoneNumber.e164(rawFrom) else { throw .badRequest("From is not a phone number") }
            guard let t = PhoneNumber.e164(rawTo) ?? PhoneNumber.shortCode(rawTo) else { throw .badRequest("To is not a phone number") }
            from = f; to = t
        }
        // The whole text, however long (Twilio joins a long SMS before the webhook; the
        // request size is bounded by server.max_body_bytes): never cut a user's message.
        let body = p["Body"] ?? ""
        var media: [Inbound.Media] = []
        let numMedia = Int(p["NumMedia"] ?? "0") ?? -1
        guard (0...10).contains(numMedia) else { throw .badRequest("NumMedia must be 0 to 10") }
        for i in 0..<numMedia {
            guard let url = p["MediaUrl\(i)"], url.hasPrefix("http") else { throw .badRequest("missing MediaUrl\(i)") }
            media.append(.init(url: url, contentType: p["MediaContentType\(i)"] ?? ""))
        }
        var meta: [(String, String)] = []
        meta.reserveCapacity(p.count)
        for (k, v) in p where !Self.mappedFields.contains(k) && !(numMedia > 0 && (k.hasPrefix("MediaUrl") || k.hasPrefix("MediaContentType"))) {
            meta.append((k, v))
        }
        return Inbound(messageSid: sid, from: from, to: to, body: body, media: media, metadataJSON: JSONText.object(meta))
    }

    /// A delivery status report.
    public struct StatusUpdate: Sendable, Equatable {
        public var messageSid: String
        /// One of queued, sent, delivered, undelivered, failed.
        public var status: String
        /// Twilio's `ErrorCode`, 0 if none.
        public var errorCode: Int32
        /// The status as Twilio named it.
        public var twilioStatus: String
        public init(messageSid: String, status: String, errorCode: Int32, twilioStatus: String) {
            self.messageSid = messageSid; self.status = status; self.errorCode = errorCode; self.twilioStatus = twilioStatus
        }
    }

    /// Normalises a status callback's parameters; nil status for states that are not
    /// delivery outcomes (receiving, received).
    public static func statusUpdate(_ params: [(String, String)]) throws(Rejection) -> StatusUpdate? {
        var p: [String: String] = [:]
        p.reserveCapacity(params.count)
        for (k, v) in params where p[k] == nil { p[k] = v }
        guard let sid = p["MessageSid"] ?? p["SmsSid"], !sid.isEmpty else { throw .badRequest("missing MessageSid") }
        guard let raw = (p["MessageStatus"] ?? p["SmsStatus"])?.lowercased(), !raw.isEmpty else { throw .badRequest("missing MessageStatus") }
        let code = Int32(p["ErrorCode"] ?? "") ?? 0
        let status: String
        switch raw {
        case "queued", "accepted", "scheduled": status = "queued"
        case "sending", "sent": status = "sent"
        case "delivered", "read": status = "delivered"
        case "undelivered": status = "undelivered"
        case "failed", "canceled": status = "failed"
        case "receiving", "received", "partially_delivered": return nil
        default: throw .badRequest("unknown MessageStatus")
        }
        return StatusUpdate(messageSid: sid, status: status, errorCode: code, twilioStatus: raw)
    }
}
