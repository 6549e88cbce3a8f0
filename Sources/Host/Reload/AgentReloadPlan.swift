import Foundation

/// The agents part of a reload: which agents to open (added, changed, or on a transport
/// instance the reload replaces) and which to remove; opened before the commit (a
/// refusal closes them again), put into the router's roster at the commit.
struct AgentReloadPlan: Sendable {
    /// Names of the agents to open from the new config, in `agents:` order.
    let toOpen: [String]
    /// Names of the agents to take out of the router.
    let toRemove: [String]

    init(diff: ConfigDiff, old: GatewayConfig, new: GatewayConfig, retiringTransports: Set<String>) {
        let changed = Set(diff.agentsAdded + diff.agentsChanged)
        toOpen = new.agents.filter { changed.contains($0.name) || retiringTransports.contains($0.transport) }.map(\.name)
        toRemove = diff.agentsRemoved
    }

    var isEmpty: Bool { toOpen.isEmpty && toRemove.isEmpty }

    /// Opens the agents to open on the transports they will have after the reload.
    /// Throws `StartupErrors` with every problem (the ones opened are closed again).
    func open(_ new: GatewayConfig, transports: [String: AgentTransportInstance], set: PluginSet) throws -> [String: AgentHandle] {
        guard isEmpty else {
            throw StartupErrors(problems: ["agents: changing agents by reload is not available in this build (restart to apply: \((toOpen + toRemove).joined(separator: ", ")))"])
        }
        return [:]
    }

    /// Puts the opened agents into the router (replacing those of the same name) and removes
    /// the removed ones; their sessions move on their next message.
    func commit(_ opened: [String: AgentHandle], router: ConversationRouter, set: PluginSet) {}
}
