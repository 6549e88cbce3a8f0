import Foundation

/// What a billing status does to admission (`billing.past_due`, `billing.canceled`).
public enum StatusEffect: String, Sendable {
    /// Messages are admitted as usual (within the tier's limits).
    case allow
    /// Messages are refused with `billing.suspended_reply`, and no agent is called.
    case deny
}

/// `billing:` of plugins.yaml: how the host enforces tiers and reports usage.
///
///     billing:
///       provider: stripe            billing plugin instance; default: the only one configured
///       report_interval: 10s        usage is summed per account, kind and interval, then reported
///       past_due: allow             allow | deny   (an unpaid invoice)
///       canceled: deny              allow | deny   (a canceled subscription)
///       quota_reply: ...            the reply when a monthly limit is reached (overage: deny)
///       rate_limit_reply: ...       the reply when the per-minute rate is exceeded
///       suspended_reply: ...        the reply when the account's status denies admission
public struct BillingConfig: Sendable, Equatable {
    public var provider: String?
    public var reportInterval: Double = 10
    public var pastDue: StatusEffect = .allow
    public var canceled: StatusEffect = .deny
    public var quotaReply = "You have reached this month's message limit of your plan. Please upgrade your plan or try again next month."
    public var rateLimitReply = "You are sending messages faster than your plan allows. Please wait a minute and try again."
    public var suspendedReply = "This service is paused because of a billing problem. Please contact the account owner."
    public init() {}

    /// The effect of `status` on admission.
    public func effect(of status: AccountStatus) -> StatusEffect {
        switch status {
        case .active: return .allow
        case .pastDue: return pastDue
        case .canceled: return canceled
        }
    }
}
