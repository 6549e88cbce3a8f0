import Foundation
import Logging
import SMSText

/// The router's billing hook (design step 3, admission, and step 8, usage): before an
/// agent call, the account of the chosen agent is checked and counted atomically in the
/// store (status, per-minute rate, monthly limits); a reply's SMS segments are counted
/// in the same write as the reply (`TurnFinish.usage`). Every new ledger entry is announced as a `usage.recorded` event carrying the
/// message's correlation id. Agents without an `account` are not metered.
///
/// Threading: thread-safe; `admit` blocks on the store (call it where the router already
/// does blocking store work); the rest is pure or non-blocking.
/// Unchecked Sendable: `events` is set before the meter is handed to the router and only read
/// after; the rest is immutable.
final class UsageMeter: @unchecked Sendable {
    let store: any Store
    let accounts: ConfiguredAccounts
    let billing: BillingConfig
    let logger: Logger
    var events: EventBus?
    let mDenied: Metric, mAdmitted: Metric

    init(store: any Store, accounts: ConfiguredAccounts, billing: BillingConfig, metrics: MetricsRegistry, logger: Logger) {
        self.store = store; self.accounts = accounts; self.billing = billing; self.logger = logger
        mDenied = metrics.counter("darkspere_admission_denied_total", help: "Messages refused by billing admission (quota, rate limit, status)")
        mAdmitted = metrics.counter("darkspere_admission_admitted_total", help: "Messages admitted and counted against an account")
    }

    /// The reply a denial gets.
    func reply(for reason: DenialReason) -> String {
        switch reason {
        case .quota: return billing.quotaReply
        case .rateLimit: return billing.rateLimitReply
        case .suspended: return billing.suspendedReply
        }
    }

    /// Admission for one message to an agent of `accountId`. Throws on store errors.
    func admit(accountId: String, correlationId: String, channel: String) throws -> AdmissionOutcome {
        guard let account = accounts.account(accountId) else {
            throw StoreError("agent account '\(accountId)' is not in accounts:")
        }
        let outcome = try store.admit(AdmissionRequest(accountId: accountId, correlationId: correlationId, nowMs: nowMillis(),
                                                      configuredTier: account.tier, configuredStatus: account.status,
                                                      tiers: accounts.tiers, billing: billing))
        switch outcome {
        case .admitted(let recorded):
            mAdmitted.increment()
            announce(recorded, channel: channel)
        case .denied:
            mDenied.increment()
        }
        return outcome
    }

    /// The ledger entry of a reply's outbound segments (never refused: the reply exists),
    /// written with the turn's reply; nil for an empty reply.
    func replyUsage(accountId: String, correlationId: String, text: String) -> UsageEntry? {
        guard !text.isEmpty else { return nil }
        return UsageEntry(accountId: accountId, kind: .smsOutboundSegments, quantity: Int64(SMSSegments.count(text)), correlationId: correlationId)
    }

    /// `usage.recorded` for each entry (after it is durable).
    func announce(_ entries: [UsageEntry], channel: String) {
        for e in entries {
            events?.emit(Event("usage.recorded", correlationId: e.correlationId, channel: channel, fields: [
                ("account", .string(e.accountId)), ("kind", .string(e.kind.rawValue)), ("quantity", .number(Double(e.quantity))),
                ("idempotency_key", .string(e.idempotencyKey))]))
        }
    }
}
