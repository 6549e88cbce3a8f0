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

    /// Opens the agents to open on the transports they will have after the reload (the
    /// config was checked already: schema and validate_agent_config). Throws
    /// `StartupErrors` with every problem; then none stays open.
    func open(_ new: GatewayConfig, transports: [String: AgentTransportInstance], set: PluginSet) throws -> [String: AgentHandle] {
        var opened: [String: AgentHandle] = [:]
        var problems: [String] = []
        for name in toOpen {
            guard let a = new.agents.first(where: { $0.name == name }), let t = transports[a.transport] else { continue }  // reported by the caller
            do {
                opened[name] = try t.open(name: a.name, configJSON: t.library.agentWithDefaults(a.configJSON))
            } catch let e as PluginLoadError {
                problems.append(e.message)
            } catch {
                problems.append("agent '\(name)': \(error)")
            }
        }
        if !problems.isEmpty {
            for h in opened.values { h.transport.close(h) }
            throw StartupErrors(problems: problems)
        }
        return opened
    }

    /// Removes the removed agents from the router and puts the opened ones in (replacing
    /// those of the same name, which are retired: their calls in flight finish on them,
    /// then their handles close). Sessions of a removed agent move on their next message to
    /// another agent of their pool, with history; a replaced agent's sessions continue on
    /// the new one (same name), with history.
    func commit(_ opened: [String: AgentHandle], new: GatewayConfig, router: ConversationRouter, set: PluginSet) {
        for name in toRemove { router.removeAgent(name) }
        for a in new.agents {
            guard let h = opened[a.name] else { continue }
            set.adoptAgent(h)
            router.putAgent(handle: h, entry: a, source: .config)
        }
    }
}
