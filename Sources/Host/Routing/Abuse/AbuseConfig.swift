import Foundation

/// `abuse:` of plugins.yaml: rate limits, access lists, known-users mode and the spam
/// filter (founding document 004's defaults). Without an `abuse:` section none of it runs
/// (and the message path pays nothing for it); the shipped plugins.yaml has one.
///
///     abuse:
///       window: 60s                 rate windows: fixed, aligned to the clock
///       per_sender: 10              messages per sender number per window (0 = no limit)
///       per_account: 0              per account (a known user's account, else the agent's)
///       global: 1000                all senders together
///       rate_limit_reply: ...       sent at most once per window and limit
///       blocked_reply: ""           "" = answer nothing
///       known_users: false          only numbers in the users table reach an agent
///       unknown_user_reply: ...
///       spam_filter: true
///       spam_threshold: 0.7         a score at or above it: stored, no agent call
///       spam_phrases: [...]         replaces the built-in list (SpamScorer.defaultPhrases)
///       spam_reply: ""
public struct AbuseConfig: Sendable, Equatable {
    public var window: Double = 60
    public var perSender = 10
    public var perAccount = 0
    public var global = 1000
    public var rateLimitReply = "You are sending messages faster than we can answer. Please wait a minute and try again."
    public var blockedReply = ""
    public var knownUsers = false
    public var unknownUserReply = "This number is not registered for this service. Please contact the operator to get access."
    public var spamFilter = true
    public var spamThreshold = 0.7
    public var spamPhrases: [String] = SpamScorer.defaultPhrases
    public var spamReply = ""
    public var line = 0
    public init() {}

    static let keys = ["window", "per_sender", "per_account", "global", "rate_limit_reply", "blocked_reply", "known_users",
                       "unknown_user_reply", "spam_filter", "spam_threshold", "spam_phrases", "spam_reply"]

    /// The limits by scope (0 = none).
    var limits: [RateScope: Int] { [.sender: perSender, .account: perAccount, .global: global] }
}
