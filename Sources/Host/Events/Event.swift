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
        var o: [(String, JSONValue)] = [("v", .number(1)), ("id", .string(id)), ("type", .string(type)),
                                         ("time", .string(Event.iso8601(ms: timeMs)))]
        func add(_ k: String, _ v: String?) { if let v { o.append((k, .string(v))) } }
        add("correlation_id", correlationId)
        add("session", session)
        add("agent", agent)
        add("channel", channel)
        add("from", from.map { redactNumbers ? Event.redactNumber($0) : $0 })
        add("to", to.map { redactNumbers ? Event.redactNumber($0) : $0 })
        if includeBodies { add("body", body) }
        o.append(contentsOf: fields)
        return JSONValue.object(o).text
    }

    /// "+15551234567" -> "+*******4567" (keeps the last 4 digits).
    public static func redactNumber(_ n: String) -> String {
        guard n.count > 4 else { return String(repeating: "*", count: n.count) }
        var out = ""
        let keepFrom = n.count - 4
        for (i, c) in n.enumerated() { out.append(i >= keepFrom || c == "+" ? c : "*") }
        return out
    }

    /// 2026-11-22T03:49:12.345Z
    static func iso8601(ms: Int64) -> String {
        var t = time_t(ms / 1000)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday),
                      Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec), Int(ms % 1000))
    }
}
