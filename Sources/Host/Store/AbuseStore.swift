import Foundation

/// Which rate limit a message met (`abuse.per_sender`, `abuse.per_account`, `abuse.global`).
public enum RateScope: String, Sendable, Equatable, CaseIterable {
    case sender, account, global
}

/// One message's abuse counting, done in one group-commit unit (`AbuseStore.countForAbuse`).
/// Windows are fixed and aligned to the epoch (a window of 60 s is a calendar minute).
public struct AbuseCount: Sendable {
    public var sender: String
    /// The account the message counts against (nil: no per-account limit applies).
    public var account: String?
    /// A stable hash of the normalised text (repeated identical texts).
    public var textHash: UInt64
    public var nowMs: Int64
    public var windowMs: Int64
    /// Limits per window; nil or 0 = no limit for that scope.
    public var limits: [RateScope: Int]
    /// The short window of the burst signal, and the window of the repeated-text signal.
    public var burstWindowMs: Int64 = 10_000
    public var repeatWindowMs: Int64 = 3_600_000
}

/// What counting found.
public struct AbuseTally: Sendable, Equatable {
    /// The access version (lists and users) seen by the same transaction.
    public var version: Int64
    /// The first limit that refused the message (nothing of the limits was counted then).
    public var refused: RateScope?
    /// The refusal is the first in its window: the reply is sent (at most once per window).
    public var replyDue = false
    /// Messages from the sender in the burst window, this one included.
    public var burst: Int64 = 0
    /// Messages with this text from the sender in the repeat window, this one included.
    public var repeats: Int64 = 0
}

/// One allow or block rule.
public struct AccessRule: Sendable, Equatable {
    public enum List: String, Sendable, CaseIterable { case block, allow }
    public enum Kind: String, Sendable, CaseIterable { case number, prefix, country }
    public var id: Int64
    public var list: List
    public var kind: Kind
    /// number: E.164 "+15551234567"; prefix: "+1555"; country: calling code digits "44".
    public var value: String
    public var note: String
    public var createdBy: String
    public var createdMs: Int64
    public init(id: Int64 = 0, list: List, kind: Kind, value: String, note: String = "", createdBy: String = "", createdMs: Int64 = 0) {
        self.id = id; self.list = list; self.kind = kind; self.value = value; self.note = note; self.createdBy = createdBy; self.createdMs = createdMs
    }
}

/// A number allowed to reach an agent in known-users mode.
public struct KnownUser: Sendable, Equatable {
    public var number: String
    public var displayName: String
    public var account: String?
    public var createdMs: Int64
    public var updatedMs: Int64
    public init(number: String, displayName: String, account: String?, createdMs: Int64 = 0, updatedMs: Int64 = 0) {
        self.number = number; self.displayName = displayName; self.account = account; self.createdMs = createdMs; self.updatedMs = updatedMs
    }
}

/// The abuse part of the store: rate counters, the allow/block rules and the known users.
/// Every change of rules or users bumps one version row in the same transaction; the
/// router reads that version with each message's counting (no extra round trip) and
/// reloads its cached copy when it moved, so a change made through any process holds in
/// every process from its next message on.
///
/// Threading: like `Store`: synchronous, may block, safe from any thread. Atomicity: a
/// limit is a conditional upsert, so concurrent messages never overshoot it, also across
/// processes sharing PostgreSQL.
public protocol AbuseStore: AnyObject, Sendable {
    /// Counts one message against its limits and the spam counters, and reads the access
    /// version: one group-commit unit (PostgreSQL: one pipelined round trip unless refused).
    func countForAbuse(_ c: AbuseCount) throws -> AbuseTally
    /// Takes back a message counted by `countForAbuse` that was refused for another reason
    /// afterwards (its list decision changed with a newer version).
    func uncountAbuse(_ c: AbuseCount) throws
    /// Claims the one reply of a refusal kind (`reason`) for `sender` in the window holding
    /// `nowMs`: true the first time in the window, false after (then nothing is sent). A
    /// refused number never costs more than one reply per window and reason.
    func claimRefusalReply(reason: String, sender: String, nowMs: Int64, windowMs: Int64) throws -> Bool
    /// The access version alone (before refusing by a cached list).
    func accessVersion() throws -> Int64
    /// All rules, and the version they belong to (one transaction).
    func accessRules() throws -> (version: Int64, rules: [AccessRule])
    /// Adds a rule (an existing identical rule is returned as is, `created` false).
    func addAccessRule(_ r: AccessRule) throws -> (rule: AccessRule, created: Bool)
    /// Removes a rule; false if there was none.
    func removeAccessRule(id: Int64) throws -> AccessRule?
    /// One known user, with the version read in the same statement's transaction.
    func knownUser(_ number: String) throws -> KnownUser?
    func knownUsers(offset: Int, limit: Int) throws -> [KnownUser]
    /// Adds or updates a user; `created` false for an update.
    func saveKnownUser(_ u: KnownUser, nowMs: Int64) throws -> (user: KnownUser, created: Bool)
    func removeKnownUser(_ number: String) throws -> Bool
    /// Drops the counters of windows long over at `beforeMs` (now): burst and repeat
    /// windows after two hours, rate windows (at most 24 h) after 25 hours.
    func purgeAbuseCounters(beforeMs: Int64) throws -> Int
}
