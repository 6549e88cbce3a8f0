import Foundation

/// Runtime agents: the gateway's hook (one call in `start()`, after the router exists and
/// before the admin listener and traffic).
extension Gateway {
    /// Applies the agents table once (stored operator states, runtime agents) so the first
    /// message already sees them, then polls it. Without a SQL store there is nothing to sync.
    func startAgentSync() async throws {
        guard let sql = store as? SQLStore else { return }
        let sync = AgentSync(store: sql, plugins: plugins, router: conversations, logger: logger)
        sync.events = events
        do { try await Self.offPool { try sync.sync() } } catch {
            throw StartupErrors(problems: ["store: cannot read the agents table: \(error)"])
        }
        sync.start()
        agentSync = sync
    }
}
