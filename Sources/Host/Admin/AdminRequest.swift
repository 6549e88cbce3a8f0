import Foundation

/// One admin API call after authentication: who, the decoded path segments after
/// `/api/v1/`, the query parameters, and strict readers for both and for the JSON body.
/// Every reader throws an `AdminError` (400) naming the parameter or field.
struct AdminRequest: Sendable {
    let http: HTTPRequest
    let token: AdminToken
    /// e.g. ["sessions", "12"] for /api/v1/sessions/12.
    let segments: [String]
    let query: [(String, String)]

    var method: String { http.method }

    init(http: HTTPRequest, token: AdminToken, segments: [String]) throws {
        self.http = http; self.token = token; self.segments = segments
        var q: [(String, String)] = []
        for part in http.query.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let k = Self.decode(kv[0]), let v = Self.decode(kv.count > 1 ? kv[1] : "") else {
                throw AdminError.badRequest("the query string is not valid percent-encoding")
            }
            if q.contains(where: { $0.0 == k }) { throw AdminError.badRequest("query parameter '\(k)' is given twice") }
            q.append((k, v))
        }
        query = q
    }

    /// Form-style decoding: `+` is a space only where a client encoded it so; phone numbers
    /// must be sent as %2B (a literal `+` in a query is taken as `+`, not a space).
    static func decode(_ s: Substring) -> String? { String(s).removingPercentEncoding }

    /// Refuses parameters not in `allowed`.
    func only(_ allowed: [String]) throws {
        for (k, _) in query where !allowed.contains(k) {
            throw AdminError(400, "unknown_parameter", "unknown query parameter '\(k)'"
                             + (allowed.isEmpty ? " (this endpoint takes none)" : " (allowed: \(allowed.joined(separator: ", ")))"))
        }
    }

    func string(_ name: String, maxLength: Int = 256) throws -> String? {
        guard let v = query.first(where: { $0.0 == name })?.1 else { return nil }
        if v.isEmpty { throw AdminError.invalid(name, "must not be empty") }
        if v.count > maxLength { throw AdminError.invalid(name, "longer than \(maxLength) characters") }
        if v.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) { throw AdminError.invalid(name, "contains control characters") }
        return v
    }

    func int(_ name: String, in range: ClosedRange<Int>, default d: Int) throws -> Int {
        guard let v = query.first(where: { $0.0 == name })?.1 else { return d }
        guard let n = Int(v), range.contains(n) else {
            throw AdminError.invalid(name, "expected an integer from \(range.lowerBound) to \(range.upperBound), got '\(v.prefix(40))'")
        }
        return n
    }

    func oneOf(_ name: String, _ values: [String]) throws -> String? {
        guard let v = try string(name) else { return nil }
        guard values.contains(v) else { throw AdminError.invalid(name, "expected one of \(values.joined(separator: ", ")), got '\(v.prefix(40))'") }
        return v
    }

    /// An instant: epoch milliseconds, or ISO 8601 (2026-12-02T19:00:00Z, fractional seconds allowed).
    func time(_ name: String) throws -> Int64? {
        guard let v = try string(name, maxLength: 64) else { return nil }
        if let ms = Int64(v), ms >= 0 { return ms }
        if let ms = AdminJSON.parseISO(v) { return ms }
        throw AdminError.invalid(name, "expected epoch milliseconds or an ISO 8601 time such as 2026-12-02T19:00:00Z, got '\(v.prefix(40))'")
    }

    /// The JSON body as an object with only `fields` (name → expected JSON type: "string",
    /// "integer", "boolean", "object"), each required one present.
    func body(_ fields: [String: String], required: [String]) throws -> [String: JSONValue] {
        guard !http.body.isEmpty else {
            if required.isEmpty { return [:] }
            throw AdminError.badRequest("expected a JSON object with \(required.joined(separator: ", "))")
        }
        let value: JSONValue
        do { value = try JSONValue.parse(String(decoding: http.body, as: UTF8.self)) } catch {
            throw AdminError(400, "invalid_json", "the body is not valid JSON: \(error)")
        }
        guard let obj = value.objectValue else { throw AdminError(400, "invalid_json", "expected a JSON object, got \(value.typeName)") }
        var out: [String: JSONValue] = [:]
        for (k, v) in obj {
            guard let type = fields[k] else {
                throw AdminError(400, "unknown_field", "unknown field '\(k)' (allowed: \(fields.keys.sorted().joined(separator: ", ")))")
            }
            let ok: Bool
            switch type {
            case "string": ok = v.stringValue != nil
            case "integer": ok = v.intValue != nil
            case "boolean": ok = v.boolValue != nil
            case "object": ok = v.objectValue != nil
            default: ok = true
            }
            if !ok { throw AdminError(400, "wrong_type", "field '\(k)': expected \(type), got \(v.typeName)") }
            out[k] = v
        }
        for r in required where out[r] == nil { throw AdminError(400, "missing_field", "missing field '\(r)'") }
        return out
    }
}

/// JSON building blocks of the admin API.
enum AdminJSON {
    static func time(_ ms: Int64?) -> JSONValue { ms.map { .string(Event.iso8601(ms: $0)) } ?? .null }
    static func str(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
    static func num(_ n: Int?) -> JSONValue { n.map { .number(Double($0)) } ?? .null }
    static func num(_ n: Int64?) -> JSONValue { n.map { .number(Double($0)) } ?? .null }
    static func num(_ d: Double?) -> JSONValue { d.map { .number(($0 * 1000).rounded() / 1000) } ?? .null }

    /// "2026-12-02T19:00:00Z", "2026-12-02T19:00:00.123Z", "2026-12-02T19:00:00+01:00" → epoch ms.
    static func parseISO(_ s: String) -> Int64? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: s) { return Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        return nil
    }

    static func session(_ s: AdminSession, activeSinceMs: Int64) -> JSONValue {
        .object([("id", .number(Double(s.id))), ("channel", .string(s.channel)), ("number", .string(s.remote)), ("local", .string(s.local)),
                 ("agent", .string(s.agent)), ("state", .string(s.state(activeSinceMs: activeSinceMs))),
                 ("created_at", time(s.createdMs)), ("last_activity_at", time(s.lastMs)), ("message_count", .number(Double(s.messageCount))),
                 ("operator", str(s.operatorName)), ("taken_over_at", time(s.takenMs)), ("handoff_requested_at", time(s.handoffMs)),
                 ("closed_at", time(s.closedMs))])
    }

    static func message(_ m: AdminMessage) -> JSONValue {
        let delivery: JSONValue = m.sendState == nil ? .null
            : .object([("state", str(m.sendState)), ("status", str(m.deliveryStatus)), ("error_code", num(m.deliveryErrorCode))])
        return .object([("id", .number(Double(m.id))), ("session_id", num(m.sessionId)), ("direction", .string(m.direction)),
                        ("role", .string(m.role)), ("text", .string(m.text)), ("time", time(m.createdMs)), ("channel", .string(m.channel)),
                        ("number", .string(m.remote)), ("local", .string(m.local)), ("agent", str(m.agent)), ("operator", str(m.operatorName)), ("status", .string(m.status)),
                        ("correlation_id", str(m.correlationId)), ("delivery", delivery),
                        ("media", .array(MediaJSON.decode(m.media).map { .object([("url", .string($0.url)), ("content_type", .string($0.contentType))]) }))])
    }
}
