import Foundation

/// `UsageStore` over SQLite and PostgreSQL.
///
/// Counting is a conditional upsert (`INSERT ... ON CONFLICT DO UPDATE SET count = count + n
/// WHERE count + n <= limit RETURNING count`): no row back means the limit is reached.
/// PostgreSQL re-evaluates the WHERE on the latest row version after waiting for a
/// concurrent transaction's row lock, so two processes never both take the last unit;
/// SQLite has one writer. Admission runs as a group-commit unit; a denial rolls back to
/// the unit's own savepoint, undoing whatever it counted before the denial.
extension SQLStore: UsageStore {
    private struct Denied: Error { let reason: DenialReason; let detail: String }

    /// A group-commit unit (it shares the batch's transaction with the turns around it);
    /// a denial rolls back to the unit's own savepoint, so nothing it counted stays.
    public func admit(_ r: AdmissionRequest) throws -> AdmissionOutcome {
        try writer.write { c in
            try c.execute("SAVEPOINT admission")
            do {
                let outcome = try self.admitting(c, r)
                try c.execute("RELEASE admission")
                return outcome
            } catch let d as Denied {
                try c.execute("ROLLBACK TO admission")
                try c.execute("RELEASE admission")
                return .denied(d.reason, detail: d.detail)
            }
        }
    }

    private func admitting(_ c: any SQLConnection, _ r: AdmissionRequest) throws -> AdmissionOutcome {
        let stored = try c.one("SELECT tier, status FROM account_state WHERE account_id = ?", [.text(r.accountId)])
        let tierName = stored?[0].text ?? r.configuredTier
        let status = stored?[1].text.flatMap(AccountStatus.init(rawValue:)) ?? r.configuredStatus
        guard let tier = r.tiers[tierName] else { throw StoreError("account \(r.accountId): unknown tier '\(tierName)'") }
        if r.billing.effect(of: status) == .deny { throw Denied(reason: .suspended, detail: "account status \(status.rawValue)") }
        let entries = [UsageEntry(accountId: r.accountId, kind: .smsInbound, quantity: 1, correlationId: r.correlationId),
                       UsageEntry(accountId: r.accountId, kind: .agentMessages, quantity: 1, correlationId: r.correlationId)]
        // Admitted once already (the turn died before its message was stored): not counted again.
        if try c.one("SELECT 1 FROM usage_events WHERE idempotency_key = ?", [.text(entries[1].idempotencyKey)]) != nil {
            return .admitted(recorded: [])
        }
        if let perMinute = tier.perMinute,
           try !count(c, r.accountId, UsagePeriod.minute(r.nowMs), "messages", 1, limit: perMinute) {
            throw Denied(reason: .rateLimit, detail: "\(perMinute) messages a minute (tier \(tier.name))")
        }
        let period = UsagePeriod.month(r.nowMs)
        for e in entries {
            let limit = tier.overage == .deny ? tier.limit(e.kind) : nil
            if try !count(c, r.accountId, period, e.kind.rawValue, e.quantity, limit: limit) {
                throw Denied(reason: .quota, detail: "\(e.kind.rawValue) limit \(limit ?? 0) reached (tier \(tier.name))")
            }
        }
        // Replies are counted after they exist; a used-up outbound allowance refuses new messages.
        if tier.overage == .deny, let limit = tier.limit(.smsOutboundSegments) {
            let used = try c.one("SELECT count FROM usage_counters WHERE account_id = ? AND period = ? AND kind = ?",
                                 [.text(r.accountId), .text(period), .text(UsageKind.smsOutboundSegments.rawValue)])?[0].int ?? 0
            if used >= Int64(limit) { throw Denied(reason: .quota, detail: "sms_outbound_segments limit \(limit) reached (tier \(tier.name))") }
        }
        for e in entries { _ = try insertLedger(c, e, period: period, nowMs: r.nowMs) }
        return .admitted(recorded: entries)
    }

    /// Adds `n` to a counter unless that would pass `limit` (nil = no limit). False = limit reached.
    private func count(_ c: any SQLConnection, _ account: String, _ period: String, _ kind: String, _ n: Int64, limit: Int?) throws -> Bool {
        if let limit {
            if n > Int64(limit) { return false }
            return try !c.query("""
                INSERT INTO usage_counters (account_id, period, kind, count) VALUES (?, ?, ?, ?)
                ON CONFLICT (account_id, period, kind) DO UPDATE SET count = usage_counters.count + excluded.count
                WHERE usage_counters.count + excluded.count <= ? RETURNING count
                """, [.text(account), .text(period), .text(kind), .int(n), .int(Int64(limit))]).isEmpty
        }
        try c.query("""
            INSERT INTO usage_counters (account_id, period, kind, count) VALUES (?, ?, ?, ?)
            ON CONFLICT (account_id, period, kind) DO UPDATE SET count = usage_counters.count + excluded.count
            """, [.text(account), .text(period), .text(kind), .int(n)])
        return true
    }

    /// Inserts a ledger row; false if its idempotency key is already there.
    private func insertLedger(_ c: any SQLConnection, _ e: UsageEntry, period: String, nowMs: Int64) throws -> Bool {
        try !c.query("""
            INSERT INTO usage_events (account_id, kind, quantity, idempotency_key, correlation_id, state, created_ms, period)
            VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
            """, [.text(e.accountId), .text(e.kind.rawValue), .int(e.quantity), .text(e.idempotencyKey), .text(e.correlationId),
                  .int(nowMs), .text(period)]).isEmpty
    }

    /// Ledger rows and counters for `entries` inside the caller's transaction (a turn's
    /// write unit); returns the entries that were new.
    func writeUsage(_ c: any SQLConnection, _ entries: [UsageEntry], nowMs: Int64) throws -> [UsageEntry] {
        let period = UsagePeriod.month(nowMs)
        var new: [UsageEntry] = []
        for e in entries where try insertLedger(c, e, period: period, nowMs: nowMs) {
            _ = try count(c, e.accountId, period, e.kind.rawValue, e.quantity, limit: nil)
            new.append(e)
        }
        return new
    }

    public func sealUsageReports(intervalMs: Int64, graceMs: Int64, nowMs: Int64) throws -> Int {
        let cutoff = (nowMs - graceMs) / intervalMs * intervalMs
        return try withConnection { c in
            try c.transaction {
                // One sealer at a time across processes (SQLite: BEGIN IMMEDIATE already is).
                if c.dialect == .postgres { try c.query("SELECT pg_advisory_xact_lock(7242002)", []) }
                let groups = try c.query("""
                    SELECT account_id, kind, created_ms / ? AS bucket FROM usage_events
                    WHERE state = 'pending' AND report_id IS NULL AND created_ms < ? GROUP BY 1, 2, 3 ORDER BY 3, 1, 2
                    """, [.int(intervalMs), .int(cutoff)])
                var made = 0
                for g in groups {
                    guard let account = g[0].text, let kind = g[1].text, let bucket = g[2].int else { continue }
                    let start = bucket * intervalMs
                    guard let id = try c.one("""
                        INSERT INTO usage_reports (account_id, kind, bucket_ms, quantity, identifier, state, created_ms)
                        VALUES (?, ?, ?, 0, '', 'pending', ?) RETURNING id
                        """, [.text(account), .text(kind), .int(start), .int(nowMs)])?[0].int else { continue }
                    try c.query("""
                        UPDATE usage_events SET report_id = ? WHERE state = 'pending' AND report_id IS NULL
                        AND account_id = ? AND kind = ? AND created_ms >= ? AND created_ms < ?
                        """, [.int(id), .text(account), .text(kind), .int(start), .int(min(start + intervalMs, cutoff))])
                    let sum = try c.one("SELECT COALESCE(SUM(quantity), 0) FROM usage_events WHERE report_id = ?", [.int(id)])?[0].int ?? 0
                    if sum == 0 {
                        try c.query("DELETE FROM usage_reports WHERE id = ?", [.int(id)])
                        continue
                    }
                    // Deterministic and unique: the same report always carries the same identifier.
                    let identifier = "ds:\(account):\(kind):\(start / 1000):\(id)"
                    try c.query("UPDATE usage_reports SET quantity = ?, identifier = ? WHERE id = ?",
                                [.int(sum), .text(identifier), .int(id)])
                    made += 1
                }
                return made
            }
        }
    }

    public func claimUsageReports(nowMs: Int64, limit: Int, leaseMs: Int64) throws -> [UsageReport] {
        let skip = dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try withConnection { c in
            try c.transaction {
                try c.query("""
                    UPDATE usage_reports SET lease_until_ms = ? WHERE id IN (SELECT id FROM usage_reports WHERE state = 'pending'
                    AND next_ms <= ? AND lease_until_ms <= ? ORDER BY id LIMIT ?\(skip))
                    RETURNING id, account_id, kind, bucket_ms, quantity, identifier, attempts
                    """, [.int(nowMs + leaseMs), .int(nowMs), .int(nowMs), .int(Int64(limit))])
                .map { UsageReport(id: $0[0].int ?? 0, accountId: $0[1].text ?? "", kind: $0[2].text ?? "", bucketMs: $0[3].int ?? 0,
                                   quantity: $0[4].int ?? 0, identifier: $0[5].text ?? "", attempts: Int($0[6].int ?? 0)) }
                .sorted { $0.id < $1.id }
            }
        }
    }

    public func releaseUsageReportClaims() throws {
        _ = try withConnection { try $0.query("UPDATE usage_reports SET lease_until_ms = 0 WHERE state = 'pending' AND lease_until_ms > 0", []) }
    }

    public func usageReported(id: Int64, nowMs: Int64) throws {
        try withConnection { c in
            try c.transaction {
                try c.query("UPDATE usage_reports SET state = 'reported', reported_ms = ?, attempts = attempts + 1 WHERE id = ?", [.int(nowMs), .int(id)])
                try c.query("UPDATE usage_events SET state = 'reported' WHERE report_id = ?", [.int(id)])
            }
        }
    }

    public func usageReportRetry(id: Int64, attempts: Int, nextMs: Int64, error: String) throws {
        _ = try withConnection {
            try $0.query("UPDATE usage_reports SET attempts = ?, next_ms = ?, lease_until_ms = 0, last_error = ? WHERE id = ?",
                         [.int(Int64(attempts)), .int(nextMs), .text(error), .int(id)])
        }
    }

    public func usageReportAbandoned(id: Int64, state: String, error: String) throws {
        try withConnection { c in
            try c.transaction {
                try c.query("UPDATE usage_reports SET state = ?, last_error = ?, attempts = attempts + 1 WHERE id = ?", [.text(state), .text(error), .int(id)])
                try c.query("UPDATE usage_events SET state = ? WHERE report_id = ?", [.text(state), .int(id)])
            }
        }
    }

    public func usageTotals(period: String, accountId: String?) throws -> [UsageTotal] {
        try withConnection { c in
            let filter = accountId == nil ? "" : " AND account_id = ?"
            let extra: [SQLValue] = accountId.map { [.text($0)] } ?? []
            var totals: [String: UsageTotal] = [:]
            for row in try c.query("SELECT account_id, kind, count FROM usage_counters WHERE period = ?\(filter)", [.text(period)] + extra) {
                let a = row[0].text ?? "", k = row[1].text ?? ""
                totals["\(a)\u{1F}\(k)"] = UsageTotal(accountId: a, kind: k, count: row[2].int ?? 0, unreported: 0)
            }
            for row in try c.query("""
                SELECT account_id, kind, SUM(quantity) FROM usage_events WHERE period = ? AND state = 'pending'\(filter) GROUP BY account_id, kind
                """, [.text(period)] + extra) {
                let a = row[0].text ?? "", k = row[1].text ?? ""
                totals["\(a)\u{1F}\(k)", default: UsageTotal(accountId: a, kind: k, count: 0, unreported: 0)].unreported = row[2].int ?? 0
            }
            return totals.values.sorted { ($0.accountId, $0.kind) < ($1.accountId, $1.kind) }
        }
    }

    /// Removes per-minute counters older than `beforeMs`, and ledger entries and reports
    /// older than `beforeMs` that are settled (reported or abandoned). Returns rows removed.
    public func purgeUsage(beforeMs: Int64) throws -> Int {
        try withConnection { c in
            var n = try c.query("DELETE FROM usage_counters WHERE period LIKE 'minute:%' AND period < ? RETURNING count",
                                [.text(UsagePeriod.minute(nowMillis() - 3_600_000))]).count
            n += try c.query("DELETE FROM usage_events WHERE state <> 'pending' AND created_ms < ? RETURNING id", [.int(beforeMs)]).count
            n += try c.query("DELETE FROM usage_reports WHERE state <> 'pending' AND created_ms < ? RETURNING id", [.int(beforeMs)]).count
            return n
        }
    }

    public func accountStates() throws -> [String: (tier: String?, status: AccountStatus?)] {
        try withConnection { c in
            var out: [String: (tier: String?, status: AccountStatus?)] = [:]
            for row in try c.query("SELECT account_id, tier, status FROM account_state", []) {
                out[row[0].text ?? ""] = (row[1].text, row[2].text.flatMap(AccountStatus.init(rawValue:)))
            }
            return out
        }
    }

    public func saveAccountState(accountId: String, tier: String?, status: AccountStatus?, nowMs: Int64) throws {
        _ = try withConnection {
            try $0.query("""
                INSERT INTO account_state (account_id, tier, status, updated_ms) VALUES (?, ?, ?, ?)
                ON CONFLICT (account_id) DO UPDATE SET tier = COALESCE(excluded.tier, account_state.tier),
                status = COALESCE(excluded.status, account_state.status), updated_ms = excluded.updated_ms
                """, [.text(accountId), tier.map { .text($0) } ?? .null, status.map { .text($0.rawValue) } ?? .null, .int(nowMs)])
        }
    }
}
