import Foundation

/// One thing the gateway did, as a versioned JSON object for log sinks:
/// `{"v":1,"id":…,"type":…,"time":…,"correlation_id":…,"session":…,"agent":…,"channel":…, …fields}`.
public struct Event: Sendable {
    /// e.g. message.received, message.rejected, message.sent, message.status, session.started,
    /// session.expired, agent.called, agent.failed, agent.failed_over, agent.health_changed,
    /// agent.added, agent.registered, agent.removed, agent.state_changed, agent.key_created,
    /// agent.key_revoked, usage.recorded, plugin.error.
    public var type: String
    public var correlationId: String?
    public var session: String?
    public var agent: String?
    public var channel: String?
    /// Phone numbers (redacted per `events.redact_numbers`).
    public var from: String?
    public var to: String?
    /// A message body (only kept with `events.include_bodies`).
    public var body: String?
    /// Any other fields.
    public var fields: [(String, JSONValue)]

    public init(_ type: String, correlationId: String? = nil, session: String? = nil, agent: String? = nil, channel: String? = nil,
                from: String? = nil, to: String? = nil, body: String? = nil, fields: [(String, JSONValue)] = []) {
        self.type = type; self.correlationId = correlationId; self.session = session; self.agent = agent
        self.channel = channel; self.from = from; self.to = to; self.body = body; self.fields = fields
    }

    /// The JSON line, with the privacy settings applied. `id` must be unique.
    func json(id: String, timeMs: Int64, includeBodies: Bool, redactNumbers: Bool) -> String {
        Event.line(id: id, rest: jsonAfterId(timeMs: timeMs, includeBodies: includeBodies, redactNumbers: redactNumbers))
    }

    /// The line with its id: `{"v":1,"id":"<id>"` + `rest`. The bus numbers an event under
    /// its ordering lock and formats it before, outside the lock (`jsonAfterId`).
    static func line(id: String, rest: String) -> String {
        var out = ""
        out.reserveCapacity(rest.utf8.count + id.utf8.count + 20)
        out.append("{\"v\":1,\"id\":")
        JSONText.appendQuoted(id, to: &out)
        out.append(rest)
        return out
    }

    /// Everything of the line after the id (`,"type":…}`), written into one buffer.
    func jsonAfterId(timeMs: Int64, includeBodies: Bool, redactNumbers: Bool) -> String {
        var out = ""
        out.reserveCapacity(256 + (includeBodies ? body?.utf8.count ?? 0 : 0))
        func add(_ k: String, _ v: String?) {
            guard let v else { return }
            out.append(",\"")
            out.append(k)
            out.append("\":")
            JSONText.appendQuoted(v, to: &out)
        }
        add("type", type)
        add("time", Event.iso8601(ms: timeMs))
        add("correlation_id", correlationId)
        add("session", session)
        add("agent", agent)
        add("channel", channel)
        add("from", from.map { redactNumbers ? Event.redactNumber($0) : $0 })
        add("to", to.map { redactNumbers ? Event.redactNumber($0) : $0 })
        if includeBodies { add("body", body) }
        for (k, v) in fields {
            out.append(",")
            JSONText.appendQuoted(k, to: &out)
            out.append(":")
            v.write(to: &out)
        }
        out.append("}")
        return out
    }

    /// "+15551234567" -> "+*******4567" (keeps the last 4 characters; "+" stays).
    public static func redactNumber(_ n: String) -> String {
        if n.utf8.allSatisfy({ $0 < 0x80 }) {
            // ASCII (every E.164 number and most channel ids): one pass over the bytes.
            let count = n.utf8.count
            guard count > 4 else { return String(repeating: "*", count: count) }
            let keepFrom = count - 4
            return String(decoding: n.utf8.enumerated().map { i, b in i >= keepFrom || b == UInt8(ascii: "+") ? b : UInt8(ascii: "*") },
                          as: UTF8.self)
        }
        guard n.count > 4 else { return String(repeating: "*", count: n.count) }
        var out = ""
        let keepFrom = n.count - 4
        for (i, c) in n.enumerated() { out.append(i >= keepFrom || c == "+" ? c : "*") }
        return out
    }

    /// 2026-11-22T03:49:12.345Z (UTC, milliseconds), written digit by digit: this runs for
    /// every event, and `String(format:)` was a twelfth of the message path's CPU.
    static func iso8601(ms: Int64) -> String {
        var t = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        let milli = Int(((ms % 1000) + 1000) % 1000)
        var b = [UInt8](repeating: 0, count: 24)
        func put(_ v: Int, _ at: Int, _ width: Int) {
            var v = v
            for k in stride(from: at + width - 1, through: at, by: -1) { b[k] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10 }
        }
        put(Int(tmv.tm_year) + 1900, 0, 4); b[4] = UInt8(ascii: "-")
        put(Int(tmv.tm_mon) + 1, 5, 2); b[7] = UInt8(ascii: "-")
        put(Int(tmv.tm_mday), 8, 2); b[10] = UInt8(ascii: "T")
        put(Int(tmv.tm_hour), 11, 2); b[13] = UInt8(ascii: ":")
        put(Int(tmv.tm_min), 14, 2); b[16] = UInt8(ascii: ":")
        put(Int(tmv.tm_sec), 17, 2); b[19] = UInt8(ascii: ".")
        put(milli, 20, 3); b[23] = UInt8(ascii: "Z")
        return String(decoding: b, as: UTF8.self)
    }
}
