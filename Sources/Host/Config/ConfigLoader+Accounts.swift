import Foundation
import Yams

/// `accounts:` and `tiers:` of plugins.yaml, read with the same strictness as the rest
/// (unknown keys are errors; every problem names its key path and line).
extension Reader {
    static let accountKeys = ["id", "name", "stripe_customer_id", "tier", "status"]
    static let tierKeys = UsageKind.allCases.map(\.rawValue) + ["per_minute", "overage"]

    /// accounts:
    ///   - id: acme            [a-z0-9][a-z0-9_-]*, unique
    ///     name: Acme Inc.
    ///     stripe_customer_id: cus_123   optional, unique
    ///     tier: free          default free; one of tiers:
    ///     status: active      active | past_due | canceled; default active
    mutating func readAccounts(_ node: Node) -> [AccountEntry] {
        guard let list = sequence(node, "accounts") else { return [] }
        var result: [AccountEntry] = []
        for (i, item) in list.enumerated() {
            let base = "accounts[\(i)]"
            guard let m = mapping(item, base) else { continue }
            var entry = AccountEntry(id: "", name: "", line: item.mark?.line ?? 0)
            var id: String?
            for (key, v) in m {
                let p = "\(base).\(key)"
                switch key {
                case "id":
                    id = string(v, p)
                    if let s = id, !Self.isIdentifier(s) { problem(p, v, "must match [a-z0-9][a-z0-9_-]*, got '\(s)'") }
                case "name": if let s = string(v, p) { entry.name = s }
                case "stripe_customer_id":
                    if let s = string(v, p) {
                        if s.isEmpty || s.contains(where: \.isWhitespace) { problem(p, v, "expected a customer id such as cus_123, got '\(s)'") }
                        else { entry.stripeCustomerId = s }
                    }
                case "tier": if let s = string(v, p) { entry.tier = s }
                case "status":
                    guard let s = string(v, p) else { continue }
                    if let st = AccountStatus(rawValue: s) { entry.status = st }
                    else { problem(p, v, "expected one of \(AccountStatus.allCases.map(\.rawValue).joined(separator: ", ")), got '\(s)'") }
                default: unknown(key, "\(base).", v, Self.accountKeys)
                }
            }
            if id == nil { problem("\(base).id", item, "missing (every account needs an id)") }
            entry.id = id ?? ""
            if entry.name.isEmpty { entry.name = entry.id }
            result.append(entry)
        }
        return result
    }

    /// tiers:
    ///   free:                      a default tier: keys given here replace its defaults
    ///     sms_inbound: 100         monthly limits; null or unlimited = no limit
    ///     sms_outbound_segments: 50
    ///     agent_messages: 500
    ///     per_minute: 10           messages a minute; null or unlimited = no limit
    ///     overage: deny            deny | allow (and bill)
    ///   team: {...}                a new tier must give every limit and per_minute
    mutating func readTiers(_ node: Node) -> [String: TierConfig] {
        var tiers = TierConfig.defaults
        guard let m = mapping(node, "tiers") else { return tiers }
        for (name, v) in m {
            let base = "tiers.\(name)"
            if !Self.isIdentifier(name) { problem(base, v, "tier names must match [a-z0-9][a-z0-9_-]*"); continue }
            guard let fields = mapping(v, base) else { continue }
            let isNew = tiers[name] == nil
            var tier = tiers[name] ?? TierConfig(name: name, limits: [:], perMinute: nil)
            var given: Set<String> = []
            for (key, fv) in fields {
                let p = "\(base).\(key)"
                given.insert(key)
                if let kind = UsageKind(rawValue: key) {
                    if let l = limit(fv, p) { tier.limits[kind] = .some(l) }
                } else if key == "per_minute" {
                    if let l = limit(fv, p) { tier.perMinute = l }
                } else if key == "overage" {
                    guard let s = string(fv, p) else { continue }
                    if let o = OveragePolicy(rawValue: s) { tier.overage = o } else { problem(p, fv, "expected deny or allow, got '\(s)'") }
                } else {
                    unknown(key, "\(base).", fv, Self.tierKeys)
                }
            }
            if isNew {
                let missing = (UsageKind.allCases.map(\.rawValue) + ["per_minute"]).filter { !given.contains($0) }
                if !missing.isEmpty { problem(base, v, "a new tier must set \(missing.joined(separator: ", ")) (null or unlimited for no limit)") }
            }
            tiers[name] = tier
        }
        return tiers
    }

    /// A limit: a non-negative integer, or null / ~ / unlimited for none. Returns
    /// .some(nil) for "no limit", nil after recording a problem.
    mutating func limit(_ node: Node, _ path: String) -> Int?? {
        if case .scalar(let s) = node, s.style == .plain || s.style == .any, ["null", "~", "", "Null", "NULL"].contains(s.string) { return .some(nil) }
        guard let text = string(node, path) else { return nil }
        if text == "unlimited" { return .some(nil) }
        guard let n = Int(text.replacingOccurrences(of: "_", with: "")), n >= 0 else {
            problem(path, node, "expected a non-negative integer, null or unlimited, got '\(text)'")
            return nil
        }
        return .some(n)
    }

    static let billingKeys = ["provider", "report_interval", "past_due", "canceled", "quota_reply", "rate_limit_reply", "suspended_reply"]

    /// billing: (see `BillingConfig`).
    mutating func readBilling(_ node: Node, _ b: inout BillingConfig) {
        guard let m = mapping(node, "billing") else { return }
        for (key, v) in m {
            let p = "billing.\(key)"
            switch key {
            case "provider": b.provider = string(v, p)
            case "report_interval":
                if let d = duration(v, p) { if d >= 0.1 { b.reportInterval = d } else { problem(p, v, "must be at least 100ms") } }
            case "past_due", "canceled":
                guard let s = string(v, p) else { continue }
                guard let e = StatusEffect(rawValue: s) else { problem(p, v, "expected allow or deny, got '\(s)'"); continue }
                if key == "past_due" { b.pastDue = e } else { b.canceled = e }
            case "quota_reply": if let s = string(v, p) { b.quotaReply = s }
            case "rate_limit_reply": if let s = string(v, p) { b.rateLimitReply = s }
            case "suspended_reply": if let s = string(v, p) { b.suspendedReply = s }
            default: unknown(key, "billing.", v, Self.billingKeys)
            }
        }
    }

    /// Accounts against tiers and agents against accounts.
    mutating func crossCheckAccounts(_ config: GatewayConfig) {
        var ids: [String: Int] = [:]
        var customers: [String: String] = [:]
        for a in config.accounts where !a.id.isEmpty {
            if let first = ids[a.id] { problems.append(ConfigProblem(path: "accounts", line: a.line, message: "duplicate account id '\(a.id)' (first at line \(first))")) }
            ids[a.id] = a.line
            if config.tiers[a.tier] == nil {
                problems.append(ConfigProblem(path: "accounts.\(a.id).tier", line: a.line,
                                              message: "unknown tier '\(a.tier)' (known: \(config.tiers.keys.sorted().joined(separator: ", ")))"))
            }
            if let c = a.stripeCustomerId {
                if let other = customers[c] { problems.append(ConfigProblem(path: "accounts.\(a.id).stripe_customer_id", line: a.line, message: "customer id already used by account '\(other)'")) }
                customers[c] = a.id
            }
        }
        for a in config.agents {
            if let acc = a.account, ids[acc] == nil {
                problems.append(ConfigProblem(path: "agents[\(a.index)].account", line: a.line, message: "no account with id '\(acc)'"))
            }
        }
        if let p = config.billing.provider, !config.plugins.contains(where: { $0.id == p && $0.enabled }) {
            problems.append(ConfigProblem(path: "billing.provider", line: 0, message: "no enabled plugin with id '\(p)'"))
        }
    }
}
