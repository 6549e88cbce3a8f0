import Foundation

/// An account's billing standing. `pastDue` and `canceled` are recorded for
/// admission (which the store-backed router applies); the directory only keeps them.
public enum AccountStatus: String, Sendable, CaseIterable {
    case active
    case pastDue = "past_due"
    case canceled
}

/// One `accounts:` entry of plugins.yaml.
public struct AccountEntry: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The billing provider's customer id (Stripe `cus_...`); nil when the account is not billed.
    public var stripeCustomerId: String?
    public var tier: String
    public var status: AccountStatus = .active
    /// Line of the entry in the YAML file; 0 if unknown.
    public var line = 0

    public init(id: String, name: String, stripeCustomerId: String? = nil, tier: String = "free", status: AccountStatus = .active, line: Int = 0) {
        self.id = id; self.name = name; self.stripeCustomerId = stripeCustomerId; self.tier = tier; self.status = status; self.line = line
    }
}

/// The usage kinds a tier limits (the `ds_usage.kind` values the host records).
public enum UsageKind: String, Sendable, CaseIterable {
    case smsInbound = "sms_inbound"
    case smsOutboundSegments = "sms_outbound_segments"
    case agentMessages = "agent_messages"
}

/// What happens past a tier's monthly limit.
public enum OveragePolicy: String, Sendable {
    /// The message is refused (a polite reply, no agent call).
    case deny
    /// The message goes through and the excess is billed.
    case allow
}

/// One tier of `tiers:`: monthly limits per usage kind (nil = unlimited), a
/// per-minute message rate and the overage policy.
public struct TierConfig: Sendable, Equatable {
    public var name: String
    public var limits: [UsageKind: Int?]
    /// Messages per minute per account; nil = unlimited.
    public var perMinute: Int?
    public var overage: OveragePolicy

    public init(name: String, limits: [UsageKind: Int?], perMinute: Int?, overage: OveragePolicy = .deny) {
        self.name = name; self.limits = limits; self.perMinute = perMinute; self.overage = overage
    }

    /// The monthly limit of `kind`; nil = unlimited.
    public func limit(_ kind: UsageKind) -> Int? { limits[kind] ?? nil }

    /// The defaults of the original design: free, pro, enterprise.
    public static let defaults: [String: TierConfig] = [
        "free": TierConfig(name: "free", limits: [.smsInbound: 100, .smsOutboundSegments: 50, .agentMessages: 500], perMinute: 10),
        "pro": TierConfig(name: "pro", limits: [.smsInbound: 5_000, .smsOutboundSegments: 2_000, .agentMessages: 10_000], perMinute: 100),
        "enterprise": TierConfig(name: "enterprise", limits: [.smsInbound: nil, .smsOutboundSegments: nil, .agentMessages: nil], perMinute: 1_000),
    ]
}
