import Foundation

/// Changing the router's agents while it runs (see `AgentRoster`): the admin API, the
/// runtime-agent sync with the store and reload call these. The message path reads the
/// roster on every turn and sees a change from its next turn on; a session whose agent was
/// removed or disabled fails over on its next message (+Session), a draining agent keeps
/// its sessions but gets no new one (`AgentSelector`).
///
/// Threading: any thread; none of these blocks on I/O except the store's history-depth
/// bound, which is an atomic.
extension ConversationRouter {
    /// A routed agent for an opened transport handle, with the same defaults as the ones
    /// from `agents:` (health, call slots, metrics) and the given operator state. Runtime
    /// agents are placed after every agent so far (ties in the selector go to earlier ones).
    func makeAgent(handle: AgentHandle, entry: AgentEntry, source: AgentSource, state: AgentState = .active) -> RoutedAgent {
        let existing = roster.named(entry.name)
        let a = RoutedAgent(handle: handle, entry: entry,
                            health: AgentHealth(name: entry.name, cooldown: routing.breakerCooldown, slowMs: routing.agentTimeout * 1000),
                            index: existing?.index ?? roster.nextIndex,
                            maxInFlight: Self.maxInFlight(entry, routing: routing, agentCount: roster.all.count + (existing == nil ? 1 : 0)),
                            metrics: AgentMetrics(agent: entry.name, metrics: metrics), source: source, closer: closeAgent)
        a.state = state
        return a
    }

    /// Adds an opened agent, or replaces the agent of that name (the old one is retired:
    /// its calls in flight finish, then its handle is closed; its sessions stay with the
    /// name, so they continue with the new agent).
    @discardableResult
    public func putAgent(handle: AgentHandle, entry: AgentEntry, source: AgentSource, state: AgentState = .active) -> AgentRoster.Change {
        let change = roster.put(makeAgent(handle: handle, entry: entry, source: source, state: state))
        updateHistoryBound()
        return change
    }

    /// Removes the agent called `name` (retired as above); its sessions fail over, with
    /// history, on their next message. False if there is none.
    @discardableResult
    public func removeAgent(_ name: String) -> Bool {
        roster.remove(name) != nil
    }

    /// Sets an agent's operator state; false if there is no such agent.
    @discardableResult
    public func setAgentState(_ name: String, _ state: AgentState) -> Bool { roster.setState(name, state) }

    /// PostgreSQL reads this much history with a turn's context.
    func updateHistoryBound() {
        store.setHistoryDepthBound(roster.all.map { depth($0) }.max() ?? 0)
    }
}
