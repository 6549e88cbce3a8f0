import Foundation

/// GET /api/v1/sessions and /api/v1/sessions/{id}. Runs on the admin pool.
extension AdminServer {
    static let sessionStates = ["active", "taken_over", "waiting", "expired", "closed"]

    func listSessions(_ call: AdminRequest) throws -> JSONValue {
        try call.only(["agent", "number", "state", "limit", "cursor"])
        let limit = try call.int("limit", in: 1...500, default: 50)
        var after: (Int64, Int64)?
        if let c = try call.string("cursor", maxLength: 64) {
            let parts = c.split(separator: "_")
            guard parts.count == 2, let ms = Int64(parts[0]), let id = Int64(parts[1]) else {
                throw AdminError.invalid("cursor", "not a cursor from next_cursor")
            }
            after = (ms, id)
        }
        let since = activeSinceMs
        let filter = SessionFilter(agent: try call.string("agent"), number: try call.string("number", maxLength: 64),
                                   state: try call.oneOf("state", Self.sessionStates), activeSinceMs: since, after: after, limit: limit + 1)
        let rows = try store.adminSessions(filter)
        let page = rows.prefix(limit)
        let next: JSONValue = rows.count > limit ? page.last.map { .string("\($0.lastMs)_\($0.id)") } ?? .null : .null
        return .object([("sessions", .array(page.map { AdminJSON.session($0, activeSinceMs: since) })), ("next_cursor", next)])
    }

    /// The session id of /sessions/{id}: a positive integer.
    func sessionId(_ call: AdminRequest) throws -> Int64 {
        guard let id = Int64(call.segments[1]), id > 0 else {
            throw AdminError.invalid("id", "a session id is a positive integer, got '\(call.segments[1].prefix(40))'")
        }
        return id
    }

    func showSession(_ call: AdminRequest) throws -> JSONValue {
        try call.only(["limit", "after"])
        let id = try sessionId(call)
        let limit = try call.int("limit", in: 1...2000, default: 500)
        // Only messages newer than the one the caller has (the console's incremental read).
        let after = try call.int("after", in: 0...Int(Int64.max), default: 0)
        guard let s = try store.adminSession(id: id) else { throw AdminError.notFound("no session \(id)") }
        let messages = try store.transcript(sessionId: id, limit: limit, afterId: Int64(after))
        return .object([("session", AdminJSON.session(s, activeSinceMs: activeSinceMs)), ("messages", .array(messages.map(AdminJSON.message)))])
    }
}
