import Foundation
import Logging
import Synchronization

/// The router's periodic work: active health probes of every agent, the retention purge,
/// `session.expired` events and the recovery of turns that died. Threading: probes run in
/// a detached task (they only await plugin operations); the others, which block on the
/// store, each on a thread of its own. `stop()` ends them all.
/// Unchecked Sendable: `tasks` is written by start and read by stop, which the gateway calls one at
/// a time; the rest is immutable or atomic.
public final class RouterJobs: @unchecked Sendable {
    let router: ConversationRouter
    let store: any Store
    let routing: RoutingConfig
    let logger: Logger
    private var tasks: [Task<Void, Never>] = []
    private let stopped = Atomic<Bool>(false)

    public init(router: ConversationRouter, store: any Store, routing: RoutingConfig, logger: Logger) {
        self.router = router; self.store = store; self.routing = routing; self.logger = logger
    }

    public func start() {
        let roster = router.roster, interval = routing.probeInterval, logger = logger
        let minHealth = routing.minHealth, events = router.events
        tasks.append(Task.detached {
            // Per agent: (in rotation, breaker, eligible by score) as last reported.
            var last: [String: String] = [:]
            while !Task.isCancelled {
                // The agents now: the roster changes at runtime (admin API, reload).
                let agents = roster.all
                await withTaskGroup(of: Void.self) { g in
                    for a in agents {
                        // A probe holds the handle like a call: a removed agent's is not closed under it.
                        guard a.pin() else { continue }
                        g.addTask {
                            defer { a.unpin() }
                            let o = await a.handle.transport.probe(a.handle, timeoutMs: UInt32(min(interval, 10) * 1000))
                            a.health.recordProbe(ok: o.ok)
                            if !o.ok { logger.warning("probe of agent \(a.name) failed: \(o.status) \(o.error)") }
                        }
                    }
                }
                // agent.health_changed when rotation, breaker or eligibility changed (from probes or real calls).
                for a in agents {
                    let score = a.health.score, breaker = "\(a.health.breaker)", rotation = a.health.inRotation
                    let state = "\(rotation)|\(breaker)|\(score >= minHealth)"
                    if let before = last[a.name], before != state {
                        events?.emit(Event("agent.health_changed", agent: a.name, fields: [
                            ("score", .number(Double(score))), ("breaker", .string(breaker)),
                            ("in_rotation", .bool(rotation)), ("eligible", .bool(score >= minHealth))]))
                    }
                    last[a.name] = state
                }
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            }
        })
        // The purge blocks on the store: a plain thread, not the cooperative pool.
        let retention = routing.retention, store = store
        let every = min(max(retention / 10, 1), 3600)
        let t = Thread { [self] in
            while nap(every) {
                do {
                    let n = try store.purge(beforeMs: nowMillis() - Int64(retention * 1000))
                        + store.purgeUsage(beforeMs: nowMillis() - Int64(retention * 1000))
                        + store.purgeAbuseCounters(beforeMs: nowMillis())
                    if n > 0 { logger.info("retention: purged \(n) row(s) older than \(retention)s") }
                } catch { logger.error("retention purge failed: \(error)") }
            }
        }
        t.name = "darkspere-retention"
        t.start()

        // session.expired: each tick reports the sessions whose timeout passed since the last
        // tick (a window on last activity, so nothing is reported twice by this process).
        let timeoutMs = Int64(routing.sessionTimeout * 1000)
        let tick = min(max(routing.sessionTimeout / 10, 0.05), 30)
        let e = Thread { [self] in
            var from = nowMillis() - timeoutMs
            while nap(tick, step: min(0.05, tick)) {
                let to = nowMillis() - timeoutMs
                do {
                    for s in try store.sessionsWithLastActivity(fromMs: from, toMs: to) {
                        events?.emit(Event("session.expired", session: String(s.id), agent: s.agent,
                                           fields: [("timeout_s", .number(Double(timeoutMs / 1000)))]))
                    }
                    from = to
                } catch { logger.error("session expiry scan failed: \(error)") }
            }
        }
        e.name = "darkspere-session-expiry"
        e.start()

        // Recovery: inbound messages stored but never answered (their turn died) are resumed.
        // At start-up on SQLite (one process owns the file) everything stored before this
        // process started is orphaned; otherwise, and every minute after, only messages
        // older than any live turn could be (another process may still be working on newer ones).
        let started = nowMillis(), soleOwner = store.backend == "sqlite"
        let grace = Int64(max(60, 2 * routing.agentTimeout + routing.inlineReplyBudget) * 1000)
        let r = Thread { [self] in
            guard !stopped.load(ordering: .acquiring) else { return }
            var first = true
            repeat {
                let now = nowMillis()
                let to = first && soleOwner ? started : now - grace
                do {
                    let n = try router.resumeUnanswered(fromMs: now - 86_400_000, toMs: to)
                    if n > 0 { logger.warning("recovery: resumed \(n) unanswered message(s)") }
                } catch { logger.error("recovery sweep failed: \(error)") }
                first = false
            } while nap(60)
        }
        r.name = "darkspere-recovery"
        r.start()
    }

    /// Sleeps `seconds` in steps of `step` on a job's thread: false as soon as `stop` was called.
    private func nap(_ seconds: Double, step: Double = 0.1) -> Bool {
        var slept = 0.0
        while slept < seconds && !stopped.load(ordering: .acquiring) { Thread.sleep(forTimeInterval: step); slept += step }
        return !stopped.load(ordering: .acquiring)
    }

    public func stop() {
        stopped.store(true, ordering: .releasing)
        for t in tasks { t.cancel() }
        tasks.removeAll()
    }
}
