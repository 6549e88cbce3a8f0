import Foundation

/// One billable usage in the ledger: counted once, keyed by `idempotencyKey`
/// (`<correlation id>:<kind>`).
public struct UsageEntry: Sendable, Equatable {
    public var accountId: String
    public var kind: UsageKind
    public var quantity: Int64
    public var idempotencyKey: String
    public var correlationId: String

    public init(accountId: String, kind: UsageKind, quantity: Int64, correlationId: String) {
        self.accountId = accountId; self.kind = kind; self.quantity = quantity; self.correlationId = correlationId
        idempotencyKey = "\(correlationId):\(kind.rawValue)"
    }
}

/// Why admission refused a message.
public enum DenialReason: String, Sendable, Equatable {
    /// A monthly limit is reached and the tier's overage policy is `deny`.
    case quota
    /// The tier's per-minute message rate is used up.
    case rateLimit = "rate_limit"
    /// The account's billing status (past_due, canceled) denies admission.
    case suspended
}

/// Everything admission needs about one message, decided in one transaction.
public struct AdmissionRequest: Sendable {
    public var accountId: String
    public var correlationId: String
    public var nowMs: Int64
    /// The account's tier and status from plugins.yaml; a stored `account_state` row
    /// (set by the billing provider) overrides them.
    public var configuredTier: String
    public var configuredStatus: AccountStatus
    public var tiers: [String: TierConfig]
    public var billing: BillingConfig
}

/// The outcome of admission.
public enum AdmissionOutcome: Sendable, Equatable {
    /// Counted: `recorded` are the ledger entries written now (empty when this message
    /// was already admitted once, e.g. a retry after a crash).
    case admitted(recorded: [UsageEntry])
    /// Refused (nothing counted); `detail` names the limit, for logs and events.
    case denied(DenialReason, detail: String)
}

/// A report of usage summed per account, kind and interval, waiting for (or claimed
/// for) the billing provider. Its `identifier` never changes: the provider's
/// idempotency key on every attempt.
public struct UsageReport: Sendable, Equatable {
    public var id: Int64
    public var accountId: String
    public var kind: String
    public var bucketMs: Int64
    public var quantity: Int64
    public var identifier: String
    public var attempts: Int
}

/// This period's total of one usage kind for one account.
public struct UsageTotal: Sendable, Equatable {
    public var accountId: String
    public var kind: String
    public var count: Int64
    /// Of `count`, how much is not yet accepted by the billing provider.
    public var unreported: Int64
}

/// The billing part of the store: admission counters, the usage ledger, usage reports
/// and account state set by the billing provider.
///
/// Threading: like `Store`, every method is synchronous, may block, and is safe from any
/// thread. Atomicity: `admit` checks and counts in one transaction, so concurrent
/// messages never overshoot a limit, also across processes sharing PostgreSQL.
public protocol UsageStore: AnyObject, Sendable {
    /// Checks the account's status, per-minute rate and monthly limits and, if admitted,
    /// counts the message (`sms_inbound` 1, `agent_messages` 1) in the ledger and counters.
    func admit(_ r: AdmissionRequest) throws -> AdmissionOutcome
    /// Sums unreported ledger entries of intervals that ended at least `graceMs` ago into
    /// reports (one per account, kind and interval). Returns how many reports were made.
    func sealUsageReports(intervalMs: Int64, graceMs: Int64, nowMs: Int64) throws -> Int
    /// Claims up to `limit` due reports for `leaseMs`.
    func claimUsageReports(nowMs: Int64, limit: Int, leaseMs: Int64) throws -> [UsageReport]
    /// Ends every claim (lease) on reports: for a store only this process uses (SQLite), at
    /// start-up, so reports claimed by a process that died are sent again at once.
    func releaseUsageReportClaims() throws
    /// The provider accepted the report: it and its ledger entries are reported.
    func usageReported(id: Int64, nowMs: Int64) throws
    func usageReportRetry(id: Int64, attempts: Int, nextMs: Int64, error: String) throws
    /// The report will never be accepted (refused for good, or nobody to bill).
    func usageReportAbandoned(id: Int64, state: String, error: String) throws
    /// Totals of `period` ("2026-11"), per account and kind; one account if given.
    func usageTotals(period: String, accountId: String?) throws -> [UsageTotal]

    /// Drops per-minute counters older than an hour and settled usage older than `beforeMs`.
    func purgeUsage(beforeMs: Int64) throws -> Int

    /// Tier and status stored for accounts (the billing provider's changes).
    func accountStates() throws -> [String: (tier: String?, status: AccountStatus?)]
    func saveAccountState(accountId: String, tier: String?, status: AccountStatus?, nowMs: Int64) throws
}

/// Billing periods are calendar months in UTC.
public enum UsagePeriod {
    /// "YYYY-MM" of the month containing `ms` (Unix epoch milliseconds), UTC.
    public static func month(_ ms: Int64) -> String {
        var t = time_t(ms / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        let y = Int(tm.tm_year) + 1900, m = Int(tm.tm_mon) + 1
        return "\(y)-\(m < 10 ? "0" : "")\(m)"
    }

    /// The per-minute rate counter's period key.
    public static func minute(_ ms: Int64) -> String { "minute:\(ms / 60_000)" }
}
