import Foundation

/// `AbuseStore` over SQLite and PostgreSQL.
///
/// Counters are rows of `abuse_counters` keyed by (scope, key, window start). A limit is
/// the conditional upsert of `SQLStore+Usage` (`... DO UPDATE SET count = count + 1 WHERE
/// count + 1 <= limit RETURNING count`: no row back = the limit is reached); PostgreSQL
/// re-checks the WHERE on the newest row version after a concurrent writer's lock, so two
/// processes never both take the last unit. The statements of one message's counting
/// need no result of each other, so PostgreSQL gets them pipelined (one round trip);
/// only a refusal costs a second (take back what was counted, claim the window's reply).
extension SQLStore: AbuseStore {
    static let counterSQL = """
        INSERT INTO abuse_counters (scope, key, window_ms, count) VALUES (?, ?, ?, 1)
        ON CONFLICT (scope, key, window_ms) DO UPDATE SET count = abuse_counters.count + 1 RETURNING count
        """
    static let limitedCounterSQL = """
        INSERT INTO abuse_counters (scope, key, window_ms, count) VALUES (?, ?, ?, 1)
        ON CONFLICT (scope, key, window_ms) DO UPDATE SET count = abuse_counters.count + 1
        WHERE abuse_counters.count + 1 <= ? RETURNING count
        """
    static let versionSQL = "SELECT version FROM abuse_version WHERE id = 1"

    static func window(_ nowMs: Int64, _ size: Int64) -> Int64 { nowMs / max(1, size) * max(1, size) }

    /// The key of a scope's counter.
    static func rateKey(_ scope: RateScope, _ c: AbuseCount) -> String? {
        switch scope {
        case .sender: return c.sender
        case .account: return c.account
        case .global: return "*"
        }
    }

    /// The limit statements of `c`, in refusal order.
    private static func limitStatements(_ c: AbuseCount) -> [(scope: RateScope, sql: String, params: [SQLValue])] {
        let w = window(c.nowMs, c.windowMs)
        return RateScope.allCases.compactMap { scope in
            guard let limit = c.limits[scope], limit > 0, let key = rateKey(scope, c) else { return nil }
            return (scope, limitedCounterSQL, [.text("rate_\(scope.rawValue)"), .text(key), .int(w), .int(Int64(limit))])
        }
    }

    public func countForAbuse(_ a: AbuseCount) throws -> AbuseTally {
        let repeatKey = a.sender + "\u{1F}" + String(a.textHash, radix: 16)
        var statements: [(sql: String, params: [SQLValue])] = [
            (Self.versionSQL, []),
            (Self.counterSQL, [.text("burst"), .text(a.sender), .int(Self.window(a.nowMs, a.burstWindowMs))]),
            (Self.counterSQL, [.text("repeat"), .text(repeatKey), .int(Self.window(a.nowMs, a.repeatWindowMs))]),
        ]
        let limits = Self.limitStatements(a)
        statements += limits.map { ($0.sql, $0.params) }
        return try writer.write { c in
            let sets: [[[SQLValue]]]
            if let pg = c as? PostgresConnection { sets = try pg.queries(statements) } else { sets = try statements.map { try c.query($0.sql, $0.params) } }
            var tally = AbuseTally(version: sets[0].first?[0].int ?? 0, burst: sets[1].first?[0].int ?? 0, repeats: sets[2].first?[0].int ?? 0)
            let results = Array(sets.dropFirst(3))
            guard let refusedAt = results.firstIndex(where: { $0.isEmpty }) else { return tally }
            let refused = limits[refusedAt]
            tally.refused = refused.scope
            // A refused message counts against no limit: take back the ones that counted it
            // (all ran, in one round trip; the refusing ones counted nothing).
            for (i, l) in limits.enumerated() where !results[i].isEmpty {
                try c.query("UPDATE abuse_counters SET count = count - 1 WHERE scope = ? AND key = ? AND window_ms = ?", Array(l.params.prefix(3)))
            }
            tally.replyDue = try !c.query("""
                UPDATE abuse_counters SET replied = 1 WHERE scope = ? AND key = ? AND window_ms = ? AND replied = 0 RETURNING count
                """, Array(refused.params.prefix(3))).isEmpty
            return tally
        }
    }

    public func uncountAbuse(_ a: AbuseCount) throws {
        try writer.write { c in
            for l in Self.limitStatements(a) {
                try c.query("UPDATE abuse_counters SET count = count - 1 WHERE scope = ? AND key = ? AND window_ms = ? AND count > 0",
                            Array(l.params.prefix(3)))
            }
        }
    }

    public func claimRefusalReply(reason: String, sender: String, nowMs: Int64, windowMs: Int64) throws -> Bool {
        try writer.write { c in
            try !c.query("""
                INSERT INTO abuse_counters (scope, key, window_ms, count, replied) VALUES (?, ?, ?, 1, 1)
                ON CONFLICT (scope, key, window_ms) DO NOTHING RETURNING count
                """, [.text("reply_\(reason)"), .text(sender), .int(Self.window(nowMs, windowMs))]).isEmpty
        }
    }

    public func accessVersion() throws -> Int64 {
        try readPool.with { try $0.one(Self.versionSQL, [])?[0].int ?? 0 }
    }

    private static func rule(_ r: [SQLValue]) -> AccessRule? {
        guard let list = r[1].text.flatMap(AccessRule.List.init(rawValue:)), let kind = r[2].text.flatMap(AccessRule.Kind.init(rawValue:)) else { return nil }
        return AccessRule(id: r[0].int ?? 0, list: list, kind: kind, value: r[3].text ?? "", note: r[4].text ?? "",
                          createdBy: r[5].text ?? "", createdMs: r[6].int ?? 0)
    }
    private static let ruleColumns = "id, list, kind, value, note, created_by, created_ms"

    public func accessRules() throws -> (version: Int64, rules: [AccessRule]) {
        try pool.with { c in
            try c.transaction(immediate: false) {
                let v = try c.one(Self.versionSQL, [])?[0].int ?? 0
                let rules = try c.query("SELECT \(Self.ruleColumns) FROM access_rules ORDER BY id", []).compactMap(Self.rule)
                return (v, rules)
            }
        }
    }

    public func addAccessRule(_ r: AccessRule) throws -> (rule: AccessRule, created: Bool) {
        try pool.with { c in
            try c.transaction {
                if let row = try c.one("""
                    INSERT INTO access_rules (list, kind, value, note, created_by, created_ms) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (list, kind, value) DO NOTHING RETURNING \(Self.ruleColumns)
                    """, [.text(r.list.rawValue), .text(r.kind.rawValue), .text(r.value), .text(r.note), .text(r.createdBy), .int(r.createdMs)]),
                   let made = Self.rule(row) {
                    try c.query("UPDATE abuse_version SET version = version + 1 WHERE id = 1", [])
                    return (made, true)
                }
                guard let row = try c.one("SELECT \(Self.ruleColumns) FROM access_rules WHERE list = ? AND kind = ? AND value = ?",
                                          [.text(r.list.rawValue), .text(r.kind.rawValue), .text(r.value)]), let old = Self.rule(row)
                else { throw StoreError("access rule vanished") }
                return (old, false)
            }
        }
    }

    public func removeAccessRule(id: Int64) throws -> AccessRule? {
        try pool.with { c in
            try c.transaction {
                guard let row = try c.one("DELETE FROM access_rules WHERE id = ? RETURNING \(Self.ruleColumns)", [.int(id)]) else { return nil }
                try c.query("UPDATE abuse_version SET version = version + 1 WHERE id = 1", [])
                return Self.rule(row)
            }
        }
    }

    private static let userColumns = "number, display_name, account, created_ms, updated_ms"
    private static func user(_ r: [SQLValue]) -> KnownUser {
        KnownUser(number: r[0].text ?? "", displayName: r[1].text ?? "", account: r[2].text, createdMs: r[3].int ?? 0, updatedMs: r[4].int ?? 0)
    }

    public func knownUser(_ number: String) throws -> KnownUser? {
        try readPool.with { try $0.one("SELECT \(Self.userColumns) FROM known_users WHERE number = ?", [.text(number)]).map(Self.user) }
    }

    public func knownUsers(offset: Int, limit: Int) throws -> [KnownUser] {
        try pool.with { try $0.query("SELECT \(Self.userColumns) FROM known_users ORDER BY number LIMIT ? OFFSET ?",
                                     [.int(Int64(limit)), .int(Int64(offset))]).map(Self.user) }
    }

    public func saveKnownUser(_ u: KnownUser, nowMs: Int64) throws -> (user: KnownUser, created: Bool) {
        try pool.with { c in
            try c.transaction {
                let existed = try c.one("SELECT 1 FROM known_users WHERE number = ?", [.text(u.number)]) != nil
                guard let row = try c.one("""
                    INSERT INTO known_users (number, display_name, account, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (number) DO UPDATE SET display_name = excluded.display_name, account = excluded.account,
                    updated_ms = excluded.updated_ms RETURNING \(Self.userColumns)
                    """, [.text(u.number), .text(u.displayName), u.account.map { .text($0) } ?? .null, .int(nowMs), .int(nowMs)])
                else { throw StoreError("known user upsert returned nothing") }
                try c.query("UPDATE abuse_version SET version = version + 1 WHERE id = 1", [])
                return (Self.user(row), !existed)
            }
        }
    }

    public func removeKnownUser(_ number: String) throws -> Bool {
        try pool.with { c in
            try c.transaction {
                guard try !c.query("DELETE FROM known_users WHERE number = ? RETURNING number", [.text(number)]).isEmpty else { return false }
                try c.query("UPDATE abuse_version SET version = version + 1 WHERE id = 1", [])
                return true
            }
        }
    }

    /// Burst (10 s) and repeat (1 h) windows are dropped two hours after they began; rate
    /// windows (at most 24 h, `abuse.window`) 25 hours after.
    public func purgeAbuseCounters(beforeMs: Int64) throws -> Int {
        try pool.with {
            try $0.query("""
                DELETE FROM abuse_counters WHERE window_ms < ? OR (scope IN ('burst', 'repeat') AND window_ms < ?) RETURNING count
                """, [.int(beforeMs - 25 * 3_600_000), .int(beforeMs - 2 * 3_600_000)]).count
        }
    }
}
