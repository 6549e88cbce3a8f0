import Foundation
import Logging
import Synchronization

/// The abuse and cost checks of one message (`abuse:`), in order: allow list, block list,
/// known users, rate limits (per sender, per account, global), spam score. Used by the
/// router's abuse step (`ConversationRouter+Abuse`), before any agent call.
///
/// Store cost: the common case is one group-commit unit (`countForAbuse`: the counters and
/// the access version; on PostgreSQL one pipelined round trip). The rules and the users
/// are cached here, per access version: the version that unit reads tells when another
/// process (or the admin API) changed them, and the cache is reloaded before deciding.
/// A refusal by the cached lists first reads the version too, so a rule removed elsewhere
/// never refuses a message. A known-user look-up that misses the cache costs one read.
///
/// Threading: thread-safe; `check` blocks on the store (call it on the router's `work`).
final class AbuseGuard: Sendable {
    let config: AbuseConfig
    let store: any Store
    let scorer: SpamScorer
    let logger: Logger
    private struct Cache {
        var list = AccessList.empty
        /// Known users by number at `list.version` (nil value: not a known user).
        var users: [String: KnownUser?] = [:]
    }
    private let cache = Mutex(Cache())
    private let mRejected: [String: Metric]
    let mReloads: Metric

    /// What the checks decided.
    enum Verdict {
        case pass
        /// `reason` for the event, `status` for the stored message, `reply` ("" = none).
        case refuse(reason: String, status: String, reply: String, fields: [(String, JSONValue)])
    }

    init(config: AbuseConfig, store: any Store, metrics: MetricsRegistry, logger: Logger) {
        self.config = config; self.store = store; self.logger = logger
        scorer = SpamScorer(phrases: config.spamPhrases)
        var m: [String: Metric] = [:]
        for r in ["blocked", "unknown_user", "rate_limited", "spam"] {
            m[r] = metrics.counter("darkspere_abuse_rejected_total", help: "Messages refused by the abuse controls (abuse:), by reason",
                                   labels: [("reason", r)])
        }
        mRejected = m
        mReloads = metrics.counter("darkspere_abuse_cache_reloads_total", help: "Reloads of the cached access rules after a version change")
    }

    private var list: AccessList { cache.withLock { $0.list } }

    /// Loads the rules if the store's version differs from the cached one.
    @discardableResult
    private func refresh(seen version: Int64?) throws -> AccessList {
        let current = list
        if let version, version == current.version { return current }
        let (v, rules) = try store.accessRules()
        let fresh = AccessList(version: v, rules: rules)
        cache.withLock { c in
            if c.list.version != v { c.list = fresh; c.users = [:] }
        }
        mReloads.increment()
        return fresh
    }

    /// The known user `number` at the cached version (one read on a miss).
    private func user(_ number: String, version: Int64) throws -> KnownUser? {
        if let hit = cache.withLock({ $0.list.version == version ? $0.users[number] : nil }) { return hit }
        let u = try store.knownUser(number)
        cache.withLock { c in
            guard c.list.version == version else { return }
            if c.users.count >= 100_000 { c.users = [:] }
            c.users[number] = .some(u)
        }
        return u
    }

    private struct ListDecision {
        var refusal: Verdict?
        var trusted = false
        var user: KnownUser?
    }

    private func decide(_ from: String, _ list: AccessList) throws -> ListDecision {
        if list.match(from, .allow) != nil { return ListDecision(trusted: true) }
        if let r = list.match(from, .block) {
            return ListDecision(refusal: .refuse(reason: "blocked", status: "blocked", reply: config.blockedReply,
                                                 fields: [("rule", .string(AccessList.describe(r))), ("rule_id", .number(Double(r.id)))]))
        }
        guard config.knownUsers else { return ListDecision() }
        guard let u = try user(from, version: list.version) else {
            return ListDecision(refusal: .refuse(reason: "unknown_user", status: "unknown_user", reply: config.unknownUserReply, fields: []))
        }
        return ListDecision(user: u)
    }

    /// The checks for `m`, whose agent (if already chosen) bills `agentAccount`.
    func check(_ m: Inbound, agentAccount: String?, nowMs: Int64) throws -> Verdict {
        var list = self.list
        if list.version < 0 { list = try refresh(seen: nil) }
        var d = try decide(m.from, list)
        if d.refusal != nil {
            // Refusing by the cache: make sure it is current (a rule may be gone elsewhere).
            list = try refresh(seen: try store.accessVersion())
            d = try decide(m.from, list)
            if let r = d.refusal { return try counted(r, m: m, nowMs: nowMs) }
        }
        let count = AbuseCount(sender: m.from, account: d.user?.account ?? agentAccount, textHash: SpamScorer.textHash(m.text), nowMs: nowMs,
                               windowMs: Int64(config.window * 1000), limits: config.limits)
        let tally = try store.countForAbuse(count)
        if tally.version != list.version {
            list = try refresh(seen: tally.version)
            d = try decide(m.from, list)
            if let r = d.refusal {
                if tally.refused == nil { try store.uncountAbuse(count) }
                return try counted(r, m: m, nowMs: nowMs)
            }
        }
        if let scope = tally.refused {
            let limit = config.limits[scope] ?? 0
            return try counted(.refuse(reason: "rate_limited", status: "rate_limited", reply: tally.replyDue ? config.rateLimitReply : "",
                                   fields: [("scope", .string(scope.rawValue)), ("limit", .number(Double(limit))),
                                            ("window_seconds", .number(config.window)), ("replied", .bool(tally.replyDue))]))
        }
        if config.spamFilter && !d.trusted {
            let v = scorer.score(m.text, burst: tally.burst, repeats: tally.repeats,
                                 blocked: { n in list.match(n, .block).map(AccessList.describe) })
            if v.score >= config.spamThreshold {
                return try counted(.refuse(reason: "spam", status: "spam", reply: config.spamReply, fields: [
                    ("score", .number(v.score)), ("threshold", .number(config.spamThreshold)),
                    ("signals", .array(v.signals.map { .object([("name", .string($0.name)), ("weight", .number($0.weight)),
                                                                ("detail", .string($0.detail))]) }))]), m: m, nowMs: nowMs)
            }
        }
        return .pass
    }

    /// Counts the refusal; a blocked, unknown or spam refusal with a reply gets it once per
    /// window and reason (one write: a flood of them costs one SMS, not one per message).
    /// Rate-limit refusals claim theirs with the counters.
    private func counted(_ v: Verdict, m: Inbound? = nil, nowMs: Int64 = 0) throws -> Verdict {
        guard case .refuse(let reason, let status, let reply, var fields) = v else { return v }
        mRejected[reason]?.increment()
        guard let m, !reply.isEmpty else { return v }
        let due = try store.claimRefusalReply(reason: reason, sender: m.from, nowMs: nowMs, windowMs: Int64(config.window * 1000))
        fields.append(("replied", .bool(due)))
        return .refuse(reason: reason, status: status, reply: due ? reply : "", fields: fields)
    }
}
