import Foundation

/// GET/POST/DELETE /api/v1/optouts: the opt-out ledger. An operator adding a number has the
/// effect of that number texting STOP (nothing is sent to it until it texts START or an
/// operator removes it). Runs on the admin pool.
extension AdminServer {
    func listOptOuts(_ call: AdminRequest) throws -> JSONValue {
        try call.only(["number", "limit", "offset"])
        let limit = try call.int("limit", in: 1...1000, default: 100)
        let offset = try call.int("offset", in: 0...10_000_000, default: 0)
        let list = try store.optOuts(number: try call.string("number", maxLength: 64), offset: offset, limit: limit)
        return .object([("optouts", .array(list.map(Self.optOutJSON)))])
    }

    static func optOutJSON(_ o: AdminOptOut) -> JSONValue {
        .object([("channel", .string(o.channel)), ("number", .string(o.remote)), ("keyword", .string(o.keyword)), ("created_at", AdminJSON.time(o.createdMs))])
    }

    /// The channel named in the call, or the only one.
    func optOutChannel(_ given: String?) throws -> String {
        if let c = given {
            guard channels.contains(c) else {
                throw AdminError.invalid("channel", "no channel '\(c.prefix(64))' (channels: \(channels.joined(separator: ", ")))")
            }
            return c
        }
        guard channels.count == 1 else { throw AdminError.invalid("channel", "required: this gateway has channels \(channels.joined(separator: ", "))") }
        return channels[0]
    }

    static func validNumber(_ n: String) throws -> String {
        // Lengths are counted in code points, as JSON Schema's maxLength counts them; the document's
        // pattern `^[^\\s]+$` excludes every kind of whitespace (`isSchemaWhitespace`), not only ASCII.
        guard !n.isEmpty, n.unicodeScalars.count <= 64,
              !n.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || $0.isSchemaWhitespace }) else {
            throw AdminError.invalid("number", "expected a phone number such as +15551234567 (1-64 characters, no spaces)")
        }
        return n
    }

    func addOptOut(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let b = try call.body(["number": "string", "channel": "string"], required: ["number"])
        let number = try Self.validNumber(b["number"]?.stringValue ?? "")
        let channel = try optOutChannel(b["channel"]?.stringValue)
        let now = nowMillis()
        try store.setOptOut(channel: channel, remote: number, keyword: "operator:\(call.token.name)", nowMs: now)
        events.emit(Event("optout.added", channel: channel, from: number, fields: [("by", .string(call.token.name))]))
        logger.info("admin: \(call.token.name) opted out a number on \(channel)")
        return Self.optOutJSON(AdminOptOut(channel: channel, remote: number, keyword: "operator:\(call.token.name)", createdMs: now))
    }

    func removeOptOut(_ call: AdminRequest) throws -> JSONValue {
        try call.only(["number", "channel"])
        guard let raw = try call.string("number", maxLength: 64) else { throw AdminError.invalid("number", "required (DELETE /api/v1/optouts?number=%2B15551234567)") }
        let number = try Self.validNumber(raw)
        let channel = try optOutChannel(try call.string("channel"))
        guard try store.isOptedOut(channel: channel, remote: number) else { throw AdminError.notFound("\(number) is not opted out on \(channel)") }
        try store.clearOptOut(channel: channel, remote: number)
        events.emit(Event("optout.removed", channel: channel, from: number, fields: [("by", .string(call.token.name))]))
        logger.info("admin: \(call.token.name) removed an opt-out on \(channel)")
        return .object([("removed", .bool(true)), ("channel", .string(channel)), ("number", .string(number))])
    }
}
