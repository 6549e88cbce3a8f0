import Foundation

/// A session as the admin API lists it.
public struct AdminSession: Sendable, Equatable {
    public var id: Int64
    public var channel: String
    public var remote: String
    public var local: String
    public var agent: String
    public var createdMs: Int64
    public var lastMs: Int64
    public var messageCount: Int
    /// The operator holding the session (takeover), if any.
    public var operatorName: String?
    public var takenMs: Int64?
    /// When its agent asked for a human, if it did and no operator released it since.
    public var handoffMs: Int64?
    public var closedMs: Int64?

    /// active / taken_over / waiting / expired / closed (`activeSinceMs`: last activity at
    /// or after it counts as active).
    public func state(activeSinceMs: Int64) -> String {
        if closedMs != nil { return "closed" }
        if operatorName != nil { return "taken_over" }
        if handoffMs != nil { return "waiting" }
        return lastMs >= activeSinceMs ? "active" : "expired"
    }
}

/// One stored message as the admin API shows it.
public struct AdminMessage: Sendable, Equatable {
    public var id: Int64
    public var sessionId: Int64?
    /// "in" or "out".
    public var direction: String
    /// user / agent / operator / system (compliance, no agent).
    public var role: String
    public var text: String
    /// The message's own status (answered, replied_inline, queued, compliance, opted_out, ...).
    public var status: String
    public var channel: String
    public var channelMessageId: String?
    public var agent: String?
    /// Who wrote it, for role operator.
    public var operatorName: String?
    public var createdMs: Int64
    public var remote: String
    public var local: String
    /// Deferred sends: the outbox row's state (pending / sent / failed) and the channel's
    /// delivery report (delivered, undelivered, ...) with its error code.
    public var sendState: String?
    public var deliveryStatus: String?
    public var deliveryErrorCode: Int?
    /// The correlation id of the inbound message this one belongs to ("channel:message id").
    public var correlationId: String?
    /// Its attachments (`MediaJSON` text); nil = none.
    public var media: String? = nil
}

/// One opt-out ledger entry.
public struct AdminOptOut: Sendable, Equatable {
    public var channel: String
    public var remote: String
    public var keyword: String
    public var createdMs: Int64
}

/// Which sessions a page lists.
public struct SessionFilter: Sendable {
    public var agent: String?
    public var number: String?
    /// active / taken_over / waiting / expired / closed.
    public var state: String?
    /// Last activity at or after this counts as active (now − session_timeout).
    public var activeSinceMs: Int64
    /// The page starts after this (last_ms, id), newest first.
    public var after: (lastMs: Int64, id: Int64)?
    public var limit: Int
    public init(agent: String? = nil, number: String? = nil, state: String? = nil, activeSinceMs: Int64, after: (Int64, Int64)? = nil, limit: Int) {
        self.agent = agent; self.number = number; self.state = state; self.activeSinceMs = activeSinceMs; self.after = after; self.limit = limit
    }
}

/// The admin API's reads (issue 13). They run on the read connections (SQLite: WAL
/// readers of their own, so they neither wait for nor hold up the turn writer).
/// Threading: thread-safe and blocking, like the rest of the store.
extension SQLStore {
    static let adminSessionColumns = "id, channel, remote, local, agent, created_ms, last_ms, message_count, operator, taken_ms, handoff_ms, closed_ms"

    static func adminSession(_ r: [SQLValue]) -> AdminSession {
        AdminSession(id: r[0].int ?? 0, channel: r[1].text ?? "", remote: r[2].text ?? "", local: r[3].text ?? "", agent: r[4].text ?? "",
                     createdMs: r[5].int ?? 0, lastMs: r[6].int ?? 0, messageCount: Int(r[7].int ?? 0), operatorName: r[8].text,
                     takenMs: r[9].int, handoffMs: r[10].int, closedMs: r[11].int)
    }

    /// A page of sessions, newest activity first (keyset pagination on (last_ms, id)).
    public func adminSessions(_ f: SessionFilter) throws -> [AdminSession] {
        var conds: [String] = [], params: [SQLValue] = []
        if let a = f.agent { conds.append("agent = ?"); params.append(.text(a)) }
        if let n = f.number { conds.append("remote = ?"); params.append(.text(n)) }
        switch f.state {
        case "active":
            conds.append("closed_ms IS NULL AND operator IS NULL AND handoff_ms IS NULL AND last_ms >= ?")
            params.append(.int(f.activeSinceMs))
        case "taken_over": conds.append("operator IS NOT NULL AND closed_ms IS NULL")
        case "waiting": conds.append("handoff_ms IS NOT NULL AND operator IS NULL AND closed_ms IS NULL")
        case "expired":
            conds.append("closed_ms IS NULL AND operator IS NULL AND handoff_ms IS NULL AND last_ms < ?")
            params.append(.int(f.activeSinceMs))
        case "closed": conds.append("closed_ms IS NOT NULL")
        default: break
        }
        if let (ms, id) = f.after {
            // A row value: both SQLite and PostgreSQL seek the (last_ms, id) index to it (the
            // equivalent OR form scanned half the table for a page in the middle).
            conds.append("(last_ms, id) < (?, ?)")
            params += [.int(ms), .int(id)]
        }
        let sql = "SELECT \(Self.adminSessionColumns) FROM sessions" + (conds.isEmpty ? "" : " WHERE " + conds.joined(separator: " AND "))
            + " ORDER BY last_ms DESC, id DESC LIMIT ?"
        params.append(.int(Int64(f.limit)))
        return try readPool.with { try $0.query(sql, params).map(Self.adminSession) }
    }

    public func adminSession(id: Int64) throws -> AdminSession? {
        try readPool.with { try $0.one("SELECT \(Self.adminSessionColumns) FROM sessions WHERE id = ?", [.int(id)]).map(Self.adminSession) }
    }

    static let adminMessageColumns = "id, session_id, direction, body, status, channel, channel_message_id, agent, created_ms, remote, local, role, media"

    /// The session's last `limit` messages (with `afterId`: of those with a larger id), oldest
    /// first, with delivery of deferred sends.
    public func transcript(sessionId: Int64, limit: Int, afterId: Int64 = 0) throws -> [AdminMessage] {
        try readPool.with { c in
            let rows = try c.query("SELECT \(Self.adminMessageColumns) FROM messages WHERE session_id = ? AND id > ? ORDER BY id DESC LIMIT ?",
                                   [.int(sessionId), .int(afterId), .int(Int64(limit))])
            return try Self.withDelivery(c, Self.messages(rows.reversed()))
        }
    }

    /// Messages by number, by correlation id ("channel:channel message id") or both, created
    /// at or after `sinceMs`, newest first.
    public func findMessages(number: String?, correlationId: String?, sinceMs: Int64, limit: Int) throws -> [AdminMessage] {
        try readPool.with { c in
            var rows: [[SQLValue]] = []
            if let corr = correlationId {
                // The inbound message (by its dedupe key), then what followed it in its session up
                // to the next inbound message: its reply (or replies).
                guard let colon = corr.firstIndex(of: ":") else { return [] }
                let channel = String(corr[..<colon]), cmid = String(corr[corr.index(after: colon)...])
                guard let first = try c.one("""
                    SELECT \(Self.adminMessageColumns) FROM messages WHERE id = (SELECT message_id FROM dedupe_keys
                    WHERE channel = ? AND channel_message_id = ?)
                    """, [.text(channel), .text(cmid)]) else { return [] }
                let id = first[0].int ?? 0
                let following: [[SQLValue]]
                if let sid = first[1].int {
                    following = try c.query("SELECT \(Self.adminMessageColumns) FROM messages WHERE session_id = ? AND id > ? ORDER BY id LIMIT 20",
                                            [.int(sid), .int(id)])
                } else {
                    following = try c.query("SELECT \(Self.adminMessageColumns) FROM messages WHERE id = ? AND session_id IS NULL AND direction = 'out'",
                                            [.int(id + 1)])
                }
                rows = [first] + following.prefix { $0[2].text == "out" }
                if let number { rows = rows.filter { $0[9].text == number } }
                rows = rows.filter { ($0[8].int ?? 0) >= sinceMs }.reversed()
            } else if let number {
                let sessions = try c.query("SELECT id FROM sessions WHERE remote = ?", [.text(number)]).compactMap { $0[0].int }
                var found: [[SQLValue]] = []
                for chunk in stride(from: 0, to: sessions.count, by: 200).map({ Array(sessions[$0..<min($0 + 200, sessions.count)]) }) {
                    let marks = chunk.map { _ in "?" }.joined(separator: ",")
                    found += try c.query("""
                        SELECT \(Self.adminMessageColumns) FROM messages WHERE session_id IN (\(marks)) AND created_ms >= ?
                        ORDER BY id DESC LIMIT ?
                        """, chunk.map { .int($0) } + [.int(sinceMs), .int(Int64(limit))])
                }
                found += try c.query("""
                    SELECT \(Self.adminMessageColumns) FROM messages WHERE session_id IS NULL AND remote = ? AND created_ms >= ?
                    ORDER BY created_ms DESC LIMIT ?
                    """, [.text(number), .int(sinceMs), .int(Int64(limit))])
                rows = Array(found.sorted { ($0[0].int ?? 0) > ($1[0].int ?? 0) }.prefix(limit))
            } else {
                rows = try c.query("SELECT \(Self.adminMessageColumns) FROM messages WHERE created_ms >= ? ORDER BY id DESC LIMIT ?",
                                   [.int(sinceMs), .int(Int64(limit))])
            }
            return try Self.withDelivery(c, Self.messages(rows))
        }
    }

    /// Rows → messages, each outbound one tied to the inbound message before it in the list
    /// (its correlation id). `rows` in any order; the tie uses id order.
    static func messages(_ rows: [[SQLValue]]) -> [AdminMessage] {
        var list = rows.map { r -> AdminMessage in
            let dir = r[2].text ?? ""
            let agent = r[7].text.flatMap { $0.isEmpty ? nil : $0 }
            let role = r[11].text ?? (dir == "in" ? "user" : (r[1].isNull || agent == nil ? "system" : "agent"))
            let channel = r[5].text ?? ""
            let cmid = r[6].text
            let byOperator = role == "operator" || role == "system"
            return AdminMessage(id: r[0].int ?? 0, sessionId: r[1].int, direction: dir, role: role, text: r[3].text ?? "", status: r[4].text ?? "",
                                channel: channel, channelMessageId: cmid, agent: byOperator ? nil : agent,
                                operatorName: byOperator ? agent : nil, createdMs: r[8].int ?? 0, remote: r[9].text ?? "",
                                local: r[10].text ?? "", correlationId: dir == "in" ? cmid.map { "\(channel):\($0)" } : nil,
                                media: r.count > 12 ? r[12].text : nil)
        }
        let order = list.indices.sorted { list[$0].id < list[$1].id }
        var lastIn: [Int64: String] = [:]   // per session: the latest inbound correlation id
        for i in order {
            let key = list[i].sessionId ?? -1
            if list[i].direction == "in" { if let c = list[i].correlationId { lastIn[key] = c } }
            else if list[i].correlationId == nil, list[i].role == "agent" || list[i].role == "system" && list[i].sessionId == nil {
                list[i].correlationId = lastIn[key]
            }
        }
        return list
    }

    /// Fills the outbox state and delivery report of deferred sends: an agent's reply is the
    /// outbox row `reply:<correlation id>`; an operator's message keeps its outbox key in
    /// `channel_message_id`.
    static func withDelivery(_ c: any SQLConnection, _ list: [AdminMessage]) throws -> [AdminMessage] {
        var keys: [String: Int] = [:]
        for (i, m) in list.enumerated() where m.direction == "out" && m.status != "replied_inline" {
            if let k = m.channelMessageId { keys[k] = i }   // operator and notice messages: their outbox key
            else if let corr = m.correlationId { keys["reply:\(corr)"] = i }
        }
        guard !keys.isEmpty else { return list }
        var out = list
        let all = Array(keys.keys)
        for chunk in stride(from: 0, to: all.count, by: 200).map({ Array(all[$0..<min($0 + 200, all.count)]) }) {
            let marks = chunk.map { _ in "?" }.joined(separator: ",")
            for r in try c.query("SELECT message_key, state, delivery_status, delivery_error_code FROM outbox WHERE message_key IN (\(marks))",
                                 chunk.map { .text($0) }) {
                guard let k = r[0].text, let i = keys[k] else { continue }
                out[i].sendState = r[1].text
                out[i].deliveryStatus = r[2].text
                out[i].deliveryErrorCode = r[3].int.map { Int($0) }
            }
        }
        return out
    }

    /// The opt-out ledger, newest first.
    public func optOuts(number: String?, offset: Int, limit: Int) throws -> [AdminOptOut] {
        try readPool.with { c in
            try c.query("SELECT channel, remote, keyword, created_ms FROM opt_outs" + (number == nil ? "" : " WHERE remote = ?")
                        + " ORDER BY created_ms DESC, channel, remote LIMIT ? OFFSET ?",
                        (number.map { [SQLValue.text($0)] } ?? []) + [.int(Int64(limit)), .int(Int64(offset))])
                .map { AdminOptOut(channel: $0[0].text ?? "", remote: $0[1].text ?? "", keyword: $0[2].text ?? "", createdMs: $0[3].int ?? 0) }
        }
    }

    /// Operator state of every agent row (active / draining / disabled) by name.
    public func agentStates() throws -> [String: String] {
        try readPool.with { c in
            var out: [String: String] = [:]
            for r in try c.query("SELECT name, state FROM agents", []) { if let n = r[0].text { out[n] = r[1].text ?? "active" } }
            return out
        }
    }
}
