import Foundation

/// The text of `darkspere usage`: each account's usage in a period against its tier's
/// limits, with the tier and status in effect (a billing provider's stored change
/// overrides plugins.yaml) and what the billing provider has not accepted yet.
/// Pure apart from the store reads; thread-safe.
public enum UsageSummary {
    public struct UnknownAccount: Error, CustomStringConvertible {
        public let description: String
    }

    /// One account's usage of one kind in a period against its tier's monthly limit.
    public struct Line: Sendable, Equatable {
        public var kind: UsageKind
        public var used: Int64
        /// The tier's monthly limit; nil = unlimited.
        public var limit: Int?
        /// Of `used`, how much the billing provider has not accepted yet.
        public var unreported: Int64
    }

    /// One account in a period: the tier and status in effect and its use of each kind.
    public struct Account: Sendable {
        public var entry: AccountEntry
        public var tierName: String
        public var status: AccountStatus
        /// The tier and/or status were set by the billing provider (stored), not plugins.yaml.
        public var changedByProvider: Bool
        /// nil when `tierName` names no tier of `tiers:`.
        public var tier: TierConfig?
        public var lines: [Line]
    }

    /// Each configured account (or the one asked for), sorted by id, with its usage in
    /// `period` ("YYYY-MM"). Throws `UnknownAccount` for an id not in `accounts:`.
    public static func accounts(config: GatewayConfig, store: any UsageStore, accountId: String?, period: String) throws -> [Account] {
        if let accountId, !config.accounts.contains(where: { $0.id == accountId }) {
            throw UnknownAccount(description: "no account '\(accountId)' in accounts: (known: \(config.accounts.map(\.id).sorted().joined(separator: ", ")))")
        }
        let accounts = config.accounts.filter { accountId == nil || $0.id == accountId }.sorted { $0.id < $1.id }
        if accounts.isEmpty { return [] }
        let totals = try store.usageTotals(period: period, accountId: accountId)
        let states = try store.accountStates()
        return accounts.map { a in
            let state = states[a.id]
            let tierName = state?.tier ?? a.tier
            let tier = config.tiers[tierName]
            let lines = UsageKind.allCases.map { kind in
                let t = totals.first { $0.accountId == a.id && $0.kind == kind.rawValue }
                return Line(kind: kind, used: t?.count ?? 0, limit: tier?.limit(kind), unreported: t?.unreported ?? 0)
            }
            return Account(entry: a, tierName: tierName, status: state?.status ?? a.status, changedByProvider: state != nil, tier: tier, lines: lines)
        }
    }

    public static func text(config: GatewayConfig, store: any UsageStore, accountId: String?, period: String) throws -> String {
        let accounts = try accounts(config: config, store: store, accountId: accountId, period: period)
        if accounts.isEmpty { return "No accounts are configured (accounts: in \(config.sourcePath)).\n" }
        var out = "Usage in \(period) (calendar month, UTC)\n"
        for a in accounts {
            let changed = a.changedByProvider ? " (set by the billing provider)" : ""
            out += "\n\(a.entry.id) (\(a.entry.name))  tier \(a.tierName)  status \(a.status.rawValue)\(changed)"
            if let tier = a.tier { out += "  overage \(tier.overage.rawValue)  rate \(tier.perMinute.map { "\($0)/min" } ?? "unlimited")" }
            out += "  customer \(a.entry.stripeCustomerId ?? "none")\n"
            for l in a.lines {
                let pad = l.kind.rawValue.padding(toLength: 24, withPad: " ", startingAt: 0)
                var line = "  \(pad)\(String(l.used).leftPadded(8)) / \((l.limit.map(String.init) ?? "unlimited").padding(toLength: 10, withPad: " ", startingAt: 0))"
                if let limit = l.limit, limit > 0 { line += String(format: "%6.1f%%", Double(l.used) * 100 / Double(limit)) } else { line += "       " }
                if l.unreported > 0 { line += "   \(l.unreported) not yet reported" }
                out += line + "\n"
            }
        }
        return out
    }
}

private extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
