import Foundation

/// POST /api/v1/forget `{"number": "+15551234567"}` (operator tokens): erases the number's
/// messages, sessions, dedupe keys, outbox rows and opt-out entries from the store
/// (`SQLStore.forget`), detaches its usage ledger rows (the counts stay for billing), and
/// drops its queued and spooled events from every log sink. Emits `privacy.erased` with the
/// counts and never the number; the log line names no number either. Runs on the admin pool.
extension AdminServer {
    func forgetNumber(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let b = try call.body(["number": "string"], required: ["number"])
        let number = try Self.validNumber(b["number"]?.stringValue ?? "")
        let r = try store.forget(number: number)
        let spooled = events.forget(where: Self.eventMatcher(number: number, correlationIds: r.correlationIds))
        let counts: [(String, JSONValue)] = [
            ("messages", .number(Double(r.messages))), ("sessions", .number(Double(r.sessions))),
            ("dedupe_keys", .number(Double(r.dedupeKeys))), ("outbox", .number(Double(r.outbox))),
            ("opt_outs", .number(Double(r.optOuts))), ("failovers", .number(Double(r.failovers))),
            ("usage_detached", .number(Double(r.usageDetached))), ("events_dropped", .number(Double(spooled))),
        ]
        events.emit(Event("privacy.erased", fields: counts + [("by", .string(call.token.name))]))
        logger.info("admin: \(call.token.name) erased a number: \(r.messages) message(s), \(r.sessions) session(s), \(spooled) queued event(s)")
        return .object([("erased", .bool(true))] + counts)
    }

    /// An event line is the number's if it carries the number (events.redact_numbers off) or
    /// the correlation id of one of its messages.
    static func eventMatcher(number: String, correlationIds: [String]) -> (String) -> Bool {
        let ids = Set(correlationIds)
        let escaped = JSONValue.string(number).text   // "\"+1555...\"" as it appears in JSON
        return { line in
            if line.contains(escaped) || line.contains(number) { return true }
            guard !ids.isEmpty, let r = line.range(of: "\"correlation_id\":\"") else { return false }
            let rest = line[r.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { return false }
            return ids.contains(String(rest[..<end]))
        }
    }
}
