import Foundation
import Logging

/// The router's periodic work: active health probes of every agent and the retention
/// purge. Threading: each job is a detached task loop; `stop()` ends both.
public final class RouterJobs: @unchecked Sendable {
    let router: ConversationRouter
    let store: any Store
    let routing: RoutingConfig
    let logger: Logger
    private var tasks: [Task<Void, Never>] = []

    public init(router: ConversationRouter, store: any Store, routing: RoutingConfig, logger: Logger) {
        self.router = router; self.store = store; self.routing = routing; self.logger = logger
    }

    public func start() {
        let agents = router.agents, interval = routing.probeInterval, logger = logger
        tasks.append(Task.detached {
            while !Task.isCancelled {
                await withTaskGroup(of: Void.self) { g in
                    for a in agents {
                        g.addTask {
                            let o = await a.handle.transport.probe(a.handle, timeoutMs: UInt32(min(interval, 10) * 1000))
                            a.health.recordProbe(ok: o.ok)
                            if !o.ok { logger.warning("probe of agent \(a.name) failed: \(o.status) \(o.error)") }
                        }
                    }
                }
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            }
        })
        let retention = routing.retention, store = store
        let every = min(max(retention / 10, 1), 3600)
        tasks.append(Task.detached {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(every * 1e9))
                if Task.isCancelled { break }
                do {
                    let n = try store.purge(beforeMs: nowMillis() - Int64(retention * 1000))
                    if n > 0 { logger.info("retention: purged \(n) row(s) older than \(retention)s") }
                } catch { logger.error("retention purge failed: \(error)") }
            }
        })
    }

    public func stop() { for t in tasks { t.cancel() }; tasks.removeAll() }
}
