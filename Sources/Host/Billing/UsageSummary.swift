import Foundation

/// The text of `darkspere usage`: each account's usage in a period against its tier's
/// limits, with the tier and status in effect (a billing provider's stored change
/// overrides plugins.yaml) and what the billing provider has not accepted yet.
/// Pure apart from the store reads; thread-safe.
public enum UsageSummary {
    public struct UnknownAccount: Error, CustomStringConvertible {
        public let description: String
    }

    public static func text(config: GatewayConfig, store: any UsageStore, accountId: String?, period: String) throws -> String {
        if let accountId, !config.accounts.contains(where: { $0.id == accountId }) {
            throw UnknownAccount(description: "no account '\(accountId)' in accounts: (known: \(config.accounts.map(\.id).sorted().joined(separator: ", ")))")
        }
        let accounts = config.accounts.filter { accountId == nil || $0.id == accountId }.sorted { $0.id < $1.id }
        if accounts.isEmpty { return "No accounts are configured (accounts: in \(config.sourcePath)).\n" }
        let totals = try store.usageTotals(period: period, accountId: accountId)
        let states = try store.accountStates()
        var out = "Usage in \(period) (calendar month, UTC)\n"
        for a in accounts {
            let state = states[a.id]
            let tierName = state?.tier ?? a.tier
            let status = state?.status ?? a.status
            let tier = config.tiers[tierName]
            let changed = state == nil ? "" : " (set by the billing provider)"
            out += "\n\(a.id) (\(a.name))  tier \(tierName)  status \(status.rawValue)\(changed)"
            if let tier { out += "  overage \(tier.overage.rawValue)  rate \(tier.perMinute.map { "\($0)/min" } ?? "unlimited")" }
            out += "  customer \(a.stripeCustomerId ?? "none")\n"
            for kind in UsageKind.allCases {
                let t = totals.first { $0.accountId == a.id && $0.kind == kind.rawValue }
                let used = t?.count ?? 0
                let limit = tier?.limit(kind)
                let pad = kind.rawValue.padding(toLength: 24, withPad: " ", startingAt: 0)
                var line = "  \(pad)\(String(used).leftPadded(8)) / \((limit.map(String.init) ?? "unlimited").padding(toLength: 10, withPad: " ", startingAt: 0))"
                if let limit, limit > 0 { line += String(format: "%6.1f%%", Double(used) * 100 / Double(limit)) } else { line += "       " }
                if let unreported = t?.unreported, unreported > 0 { line += "   \(unreported) not yet reported" }
                out += line + "\n"
            }
        }
        return out
    }
}

private extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
