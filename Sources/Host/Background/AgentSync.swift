import Foundation
import Logging
import Synchronization

/// Keeps the router's agents (`AgentRoster`) in step with the store's `agents` table, so
/// every gateway process on one PostgreSQL sees an agent added, removed, drained, disabled
/// or re-enabled on any of them within one poll (`interval`, 2 s), and a restart finds them
/// again:
/// - operator state (`agents.state`) applies to every agent, from the config or runtime;
/// - runtime rows (`source = 'runtime'`) are opened through their transport plugin and
///   added; a changed row (`updated_ms`) is opened again and replaces the agent; a row that
///   is gone removes it (its sessions fail over on their next message);
/// - an agent that declared a heartbeat interval and missed 3 beats leaves rotation
///   (`RoutedAgent.heartbeatLapsed`) until it beats again.
/// A runtime row this process cannot open (its transport plugin is not configured here, or
/// refuses the config) is logged once per version and skipped: the process still starts,
/// and the other agents keep working.
///
/// Ownership: made and started by the `Gateway` (one first `sync()` before traffic), stopped
/// by it. Threading: `sync()` may be called from any thread (the poll thread, the admin API
/// after a change, so the process that made it sees it at once); calls are serialised.
/// It blocks on the store and on transports' `open`.
/// Unchecked Sendable: `events` and `thread` are set by the gateway's start (before the poll thread
/// runs) and read by stop; the rest is immutable, atomic or behind a Mutex.
public final class AgentSync: @unchecked Sendable {
    let store: SQLStore
    let plugins: PluginSet
    let router: ConversationRouter
    let logger: Logger
    let interval: Double
    var events: EventBus?
    private struct State {
        /// Runtime agents this process opened: name -> the row's `updated_ms` then.
        var opened: [String: Int64] = [:]
        /// Rows that failed to open: name -> `updated_ms` and why (logged once).
        var failed: [String: (Int64, String)] = [:]
    }
    private let state = Mutex(State())
    private let stopped = Atomic<Bool>(false)
    private var thread: Thread?

    public init(store: SQLStore, plugins: PluginSet, router: ConversationRouter, logger: Logger, interval: Double = 2) {
        self.store = store; self.plugins = plugins; self.router = router; self.logger = logger; self.interval = interval
    }

    /// Applies the agents table once. Throws only if the store cannot be read.
    /// The table is read under the same lock as it is applied: a poll that read before an
    /// admin change cannot apply its older rows after that change was applied.
    public func sync() throws {
        let mine = Set(router.gatewayConfig.agents.map(\.name))
        try state.withLock { st in
            let rows = try store.agentRows()
            let now = nowMillis()
            var runtimeNames = Set<String>()
            for r in rows {
                let existing = router.roster.named(r.name)
                let stateValue = AgentState(rawValue: r.state) ?? .active
                if r.source == AgentSource.runtime.rawValue && !mine.contains(r.name) {
                    runtimeNames.insert(r.name)
                    if existing == nil || existing?.source == .runtime && st.opened[r.name] != r.updatedMs {
                        if st.failed[r.name]?.0 == r.updatedMs { continue }
                        do {
                            let h = try plugins.openAgent(r.entry)
                            let change = router.putAgent(handle: h, entry: r.entry, source: .runtime, state: stateValue)
                            st.opened[r.name] = r.updatedMs
                            st.failed[r.name] = nil
                            logger.info("agents: runtime agent '\(r.name)' (transport \(r.transport)) \(change == .added ? "added" : "replaced")")
                        } catch {
                            st.failed[r.name] = (r.updatedMs, "\(error)")
                            logger.error("agents: cannot open runtime agent '\(r.name)': \(error)")
                            continue
                        }
                    }
                }
                guard let a = router.roster.named(r.name) else { continue }
                if a.state != stateValue {
                    router.setAgentState(r.name, stateValue)
                    logger.info("agents: '\(r.name)' is \(stateValue.rawValue)")
                }
                let lapsed = r.lapsed(nowMs: now)
                if a.heartbeatLapsed.exchange(lapsed, ordering: .acquiringAndReleasing) != lapsed {
                    if lapsed { logger.warning("agents: '\(r.name)' missed 3 heartbeats: out of rotation until it beats again") }
                    else { logger.info("agents: '\(r.name)' beats again: back in rotation") }
                    // Like a probe-driven change (RouterJobs), reported by each process that sees it.
                    events?.emit(Event("agent.health_changed", agent: r.name, fields: [
                        ("in_rotation", .bool(!lapsed && a.health.inRotation)), ("reason", .string(lapsed ? "missed heartbeats" : "heartbeat"))]))
                }
            }
            // Runtime agents whose row is gone (deleted on any process).
            for a in router.roster.all where a.source == .runtime && !runtimeNames.contains(a.name) {
                router.removeAgent(a.name)
                st.opened[a.name] = nil
                logger.info("agents: runtime agent '\(a.name)' removed")
            }
            for name in st.failed.keys where !runtimeNames.contains(name) { st.failed[name] = nil }
        }
    }

    /// A heartbeat of `name` was just stored: back in rotation here at once, without reading
    /// the table (under the sync lock, so a poll that read before the beat cannot undo it).
    public func beat(_ name: String) {
        state.withLock { _ in
            guard let a = router.agent(named: name), a.heartbeatLapsed.exchange(false, ordering: .acquiringAndReleasing) else { return }
            logger.info("agents: '\(name)' beats again: back in rotation")
            events?.emit(Event("agent.health_changed", agent: name, fields: [
                ("in_rotation", .bool(a.health.inRotation)), ("reason", .string("heartbeat"))]))
        }
    }

    /// Why the runtime agent `name` could not be opened at the last try (nil: it was, or
    /// was not tried).
    public func openError(_ name: String) -> String? { state.withLock { $0.failed[name]?.1 } }

    /// Polls every `interval` seconds on a thread of its own.
    public func start() {
        let t = Thread { [self] in
            while !stopped.load(ordering: .acquiring) {
                var slept = 0.0
                while slept < interval && !stopped.load(ordering: .acquiring) { Thread.sleep(forTimeInterval: 0.05); slept += 0.05 }
                if stopped.load(ordering: .acquiring) { break }
                do { try sync() } catch { logger.error("agents: cannot read the agents table: \(error)") }
            }
        }
        t.name = "darkspere-agent-sync"
        thread = t
        t.start()
    }

    public func stop() { stopped.store(true, ordering: .releasing) }
}
