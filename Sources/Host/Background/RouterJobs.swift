import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The router's periodic work, one swift-service-lifecycle `Service`: active health probes
/// of every agent, the retention purge, `session.expired` events and the recovery of turns
/// that died. Each is a loop of `run()`'s task group, timed by a `ServiceSleeper` on the
/// host's timer loop; graceful shutdown or cancellation closes the sleepers and `run()`
/// returns once the current rounds are over.
///
/// Threading: probes only await plugin operations (a round hung on an agent is not waited
/// for at shutdown: it ends by its own timeout); the purge, the expiry scan and the recovery
/// sweep block on the store and run on `blocking` (a `NIOThreadPool`).
public final class RouterJobs: Service, Sendable {
    let router: ConversationRouter
    let store: any Store
    let routing: RoutingConfig
    let logger: Logger
    let blocking: NIOThreadPool
    let timerLoop: any EventLoop

    public init(router: ConversationRouter, store: any Store, routing: RoutingConfig, blocking: NIOThreadPool, timerLoop: any EventLoop,
                logger: Logger) {
        self.router = router; self.store = store; self.routing = routing; self.logger = logger
        self.blocking = blocking; self.timerLoop = timerLoop
    }

    public func run() async {
        let sleepers = (0..<4).map { _ in ServiceSleeper(loop: timerLoop) }
        await withTaskCancellationOrGracefulShutdownHandler {
            await withDiscardingTaskGroup { g in
                g.addTask { await self.probes(sleepers[0]) }
                g.addTask { await self.retention(sleepers[1]) }
                g.addTask { await self.expiry(sleepers[2]) }
                g.addTask { await self.recovery(sleepers[3]) }
            }
        } onCancelOrGracefulShutdown: { for s in sleepers { s.close() } }
    }

    /// Probes every agent each `probe_interval`; `agent.health_changed` when rotation,
    /// breaker or eligibility changed (from probes or real calls).
    private func probes(_ sleeper: ServiceSleeper) async {
        let roster = router.roster, interval = routing.probeInterval, logger = logger
        let minHealth = routing.minHealth, events = router.events
        let timeoutMs = UInt32(min(interval, 10) * 1000)
        // Per agent: (in rotation, breaker, eligible by score) as last reported.
        var last: [String: String] = [:]
        repeat {
            // The agents now: the roster changes at runtime (admin API, reload).
            let agents = roster.all
            // Unstructured, so that shutdown need not wait for a hung agent's probe: the round
            // wakes the sleeper when done; a close ends the wait at once.
            Task {
                await withTaskGroup(of: Void.self) { g in
                    for a in agents {
                        // A probe holds the handle like a call: a removed agent's is not closed under it.
                        guard a.pin() else { continue }
                        g.addTask {
                            defer { a.unpin() }
                            let o = await a.handle.transport.probe(a.handle, timeoutMs: timeoutMs)
                            a.health.recordProbe(ok: o.ok)
                            if !o.ok { logger.warning("probe of agent \(a.name) failed: \(o.status) \(o.error)") }
                        }
                    }
                }
                sleeper.wake()
            }
            guard await sleeper.sleep(Double(timeoutMs) / 1000 + 1) else { return }
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
        } while await sleeper.sleep(interval)
    }

    /// Purges rows older than `retention` every tenth of it (1 s to 1 h).
    private func retention(_ sleeper: ServiceSleeper) async {
        let retention = routing.retention, store = store, logger = logger
        let every = min(max(retention / 10, 1), 3600)
        while await sleeper.sleep(every) {
            _ = try? await blocking.runIfActive {
                do {
                    let n = try store.purge(beforeMs: nowMillis() - Int64(retention * 1000))
                        + store.purgeUsage(beforeMs: nowMillis() - Int64(retention * 1000))
                        + store.purgeAbuseCounters(beforeMs: nowMillis())
                    if n > 0 { logger.info("retention: purged \(n) row(s) older than \(retention)s") }
                } catch { logger.error("retention purge failed: \(error)") }
            }
        }
    }

    /// `session.expired`: each tick reports the sessions whose timeout passed since the last
    /// tick (a window on last activity, so nothing is reported twice by this process).
    private func expiry(_ sleeper: ServiceSleeper) async {
        let timeoutMs = Int64(routing.sessionTimeout * 1000), store = store, logger = logger, events = router.events
        let tick = min(max(routing.sessionTimeout / 10, 0.05), 30)
        var from = nowMillis() - timeoutMs
        while await sleeper.sleep(tick) {
            let to = nowMillis() - timeoutMs
            let scanned = (try? await blocking.runIfActive { [from] () -> Bool in
                do {
                    for s in try store.sessionsWithLastActivity(fromMs: from, toMs: to) {
                        events?.emit(Event("session.expired", session: String(s.id), agent: s.agent,
                                           fields: [("timeout_s", .number(Double(timeoutMs / 1000)))]))
                    }
                    return true
                } catch {
                    logger.error("session expiry scan failed: \(error)")
                    return false
                }
            }) ?? false
            if scanned { from = to }
        }
    }

    /// Recovery: inbound messages stored but never answered (their turn died) are resumed.
    /// At start-up on SQLite (one process owns the file) everything stored before this
    /// process started is orphaned; otherwise, and every minute after, only messages older
    /// than any live turn could be (another process may still be working on newer ones).
    private func recovery(_ sleeper: ServiceSleeper) async {
        let started = nowMillis(), soleOwner = store.backend == "sqlite", router = router, logger = logger
        let grace = Int64(max(60, 2 * routing.agentTimeout + routing.inlineReplyBudget) * 1000)
        var first = true
        repeat {
            let now = nowMillis()
            let to = first && soleOwner ? started : now - grace
            _ = try? await blocking.runIfActive {
                do {
                    let n = try router.resumeUnanswered(fromMs: now - 86_400_000, toMs: to)
                    if n > 0 { logger.warning("recovery: resumed \(n) unanswered message(s)") }
                } catch { logger.error("recovery sweep failed: \(error)") }
            }
            first = false
        } while await sleeper.sleep(60)
    }
}
