import Foundation

/// POST /api/v1/sessions/{id}/takeover | messages | release | close | move (operator).
/// Runs on the admin pool. Every state change is a store write on the session's row, so the
/// router of every process on the same database sees it on the session's next message.
extension AdminServer {
    /// The session as it is after a change, or the matching 404/409.
    func held(_ r: Result<AdminSession, SQLStore.HoldError>, _ id: Int64) throws -> AdminSession {
        switch r {
        case .success(let s): return s
        case .failure(.noSession): throw AdminError.notFound("no session \(id)")
        case .failure(.closed): throw AdminError(409, "conflict", "session \(id) is closed")
        case .failure(.heldBy(let o)): throw AdminError(409, "conflict", "session \(id) is held by operator '\(o)'")
        case .failure(.notHeld): throw AdminError(409, "conflict", "session \(id) is not taken over (POST /api/v1/sessions/\(id)/takeover first)")
        }
    }

    func sessionEvent(_ type: String, _ s: AdminSession, by name: String, fields: [(String, JSONValue)] = []) {
        events.emit(Event(type, session: String(s.id), agent: s.agent, channel: s.channel, from: s.remote, to: s.local,
                          fields: [("operator", .string(name))] + fields))
    }

    func takeOver(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        _ = try call.body([:], required: [])
        let id = try sessionId(call)
        let before = try store.adminSession(id: id)
        let s = try held(try store.takeOver(sessionId: id, operatorName: call.token.name, nowMs: nowMillis()), id)
        if before?.operatorName != call.token.name {
            sessionEvent("session.taken_over", s, by: call.token.name)
            logger.info("admin: \(call.token.name) took over session \(id)")
            if !config.takeoverNotice.isEmpty {
                _ = try sendToSession(s, text: config.takeoverNotice, role: "system", author: call.token.name,
                                      key: "notice:\(id):\(s.takenMs ?? 0)")
            }
        }
        return AdminJSON.session(s, activeSinceMs: activeSinceMs)
    }

    /// Writes the message and its outbox row, wakes the sender, announces `message.sent`.
    func sendToSession(_ s: AdminSession, text: String, role: String, author: String, key: String) throws -> (id: Int64, created: Bool) {
        let r = try store.writeSessionMessage(s, text: text, role: role, author: author, key: key, nowMs: nowMillis())
        if r.created {
            kickOutbox()
            events.emit(Event("message.sent", correlationId: key, session: String(s.id), channel: s.channel, from: s.local, to: s.remote,
                              body: text, fields: [("role", .string(role)), ("operator", .string(author))]))
        }
        return r
    }

    func operatorMessage(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let id = try sessionId(call)
        let b = try call.body(["text": "string"], required: ["text"])
        let text = b["text"]?.stringValue ?? ""
        guard !text.isSchemaBlank else { throw AdminError.invalid("text", "must not be empty") }
        guard text.unicodeScalars.count <= 1600 else { throw AdminError.invalid("text", "longer than 1600 characters") }
        guard let s = try store.adminSession(id: id) else { throw AdminError.notFound("no session \(id)") }
        if s.closedMs != nil { throw AdminError(409, "conflict", "session \(id) is closed") }
        guard let holder = s.operatorName else {
            throw AdminError(409, "conflict", "session \(id) is not taken over (POST /api/v1/sessions/\(id)/takeover first)")
        }
        guard holder == call.token.name else { throw AdminError(409, "conflict", "session \(id) is held by operator '\(holder)'") }
        // A repeated request with the same Idempotency-Key sends nothing twice.
        let idem = call.http.header("idempotency-key").map { String($0.prefix(128)) }
        let key = "operator:\(id):" + (idem ?? UUID().uuidString)
        let r = try sendToSession(s, text: text, role: "operator", author: call.token.name, key: key)
        guard let m = try store.transcript(sessionId: id, limit: 200).last(where: { $0.id == r.id }) else {
            throw AdminError.unavailable("the message")
        }
        return AdminJSON.message(m)
    }

    func release(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        _ = try call.body([:], required: [])
        let id = try sessionId(call)
        let s = try held(try store.release(sessionId: id, operatorName: call.token.name, nowMs: nowMillis()), id)
        sessionEvent("session.released", s, by: call.token.name)
        logger.info("admin: \(call.token.name) released session \(id)")
        return AdminJSON.session(s, activeSinceMs: activeSinceMs)
    }

    func closeSession(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        _ = try call.body([:], required: [])
        let id = try sessionId(call)
        let s = try held(try store.closeSession(sessionId: id, nowMs: nowMillis()), id)
        sessionEvent("session.closed", s, by: call.token.name)
        return AdminJSON.session(s, activeSinceMs: activeSinceMs)
    }

    /// Moves the session to another agent (its next message goes there, with the history),
    /// within the same account: a conversation never changes tenant.
    func moveSession(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let id = try sessionId(call)
        let b = try call.body(["agent": "string"], required: ["agent"])
        let to = b["agent"]?.stringValue ?? ""
        guard let target = router.agents.first(where: { $0.name == to }) else {
            throw AdminError.invalid("agent", "no agent '\(to.prefix(64))' (agents: \(router.agents.map(\.name).joined(separator: ", ")))")
        }
        guard var s = try store.adminSession(id: id) else { throw AdminError.notFound("no session \(id)") }
        if s.closedMs != nil { throw AdminError(409, "conflict", "session \(id) is closed") }
        let from = router.agents.first { $0.name == s.agent }
        if let from, from.entry.account != target.entry.account {
            throw AdminError(409, "conflict", "agent '\(to)' bills another account than '\(s.agent)': a session stays with its account")
        }
        if s.agent != to {
            try store.failover(sessionId: id, from: s.agent, to: to, reason: "moved by operator \(call.token.name)", nowMs: nowMillis())
            sessionEvent("agent.failed_over", s, by: call.token.name, fields: [("from_agent", .string(s.agent)), ("reason", .string("moved by operator"))])
            s.agent = to
        }
        return AdminJSON.session(s, activeSinceMs: activeSinceMs)
    }
}
