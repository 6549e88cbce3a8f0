import Foundation

/// Runtime agents: the gateway's hook (one call in `start()`, after the router exists and
/// before the admin listener and traffic).
extension Gateway {
    /// Applies the agents table once (stored operator states, runtime agents) so the first
    /// message already sees them; the service group's `agent-sync` then polls it. Without a
    /// SQL store there is nothing to sync.
    func startAgentSync() async throws {
        guard let sql = store as? SQLStore else { return }
        let sync = AgentSync(store: sql, plugins: plugins, router: conversations, events: events, blocking: blocking,
                             timerLoop: runtime.timerLoop, logger: logger)
        do { try await Self.offPool { try sync.sync() } } catch {
            throw StartupErrors(problems: ["store: cannot read the agents table: \(error)"])
        }
        agentSync = sync
    }
}
