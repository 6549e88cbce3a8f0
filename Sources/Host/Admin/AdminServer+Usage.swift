import Foundation

/// GET /api/v1/usage: each account's use this period (a calendar month, UTC) against its
/// tier's monthly limits, with the tier and status in effect — what `darkspere usage`
/// prints, as JSON (both come from `UsageSummary.accounts`). Runs on the admin pool.
extension AdminServer {
    func usage(_ call: AdminRequest) throws -> JSONValue {
        try call.only(["account", "period"])
        let account = try call.string("account", maxLength: 128)
        let period = try call.string("period", maxLength: 7) ?? UsagePeriod.month(nowMillis())
        guard period.range(of: #"^\d{4}-(0[1-9]|1[0-2])$"#, options: .regularExpression) != nil else {
            throw AdminError.invalid("period", "expected a month YYYY-MM such as 2026-12, got '\(period.prefix(40))'")
        }
        let accounts: [UsageSummary.Account]
        do {
            accounts = try UsageSummary.accounts(config: gatewayConfig, store: store, accountId: account, period: period)
        } catch let e as UsageSummary.UnknownAccount {
            throw AdminError.notFound(e.description)
        }
        return .object([("period", .string(period)), ("accounts", .array(accounts.map(Self.usageJSON)))])
    }

    static func usageJSON(_ a: UsageSummary.Account) -> JSONValue {
        .object([
            ("id", .string(a.entry.id)), ("name", .string(a.entry.name)), ("tier", .string(a.tierName)), ("status", .string(a.status.rawValue)),
            ("set_by_provider", .bool(a.changedByProvider)),
            ("overage", AdminJSON.str(a.tier?.overage.rawValue)), ("per_minute", AdminJSON.num(a.tier?.perMinute)),
            ("usage", .array(a.lines.map { l in
                let percent: JSONValue = l.limit.map { $0 > 0 ? AdminJSON.num(Double(l.used) * 100 / Double($0)) : .null } ?? .null
                return .object([("kind", .string(l.kind.rawValue)), ("used", .number(Double(l.used))), ("limit", AdminJSON.num(l.limit)),
                                ("percent", percent), ("unreported", .number(Double(l.unreported)))])
            })),
        ])
    }

    /// GET /api/v1/me: the calling token's name and role (the console shows a read-only
    /// page to a viewer). Never the token itself.
    func me(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        return .object([("name", .string(call.token.name)), ("role", .string(call.token.role.rawValue))])
    }
}
