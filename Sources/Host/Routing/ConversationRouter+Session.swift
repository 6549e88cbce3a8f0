import Foundation

extension ConversationRouter {
    /// Step 3, session: the conversation's active session keeps its agent unless
    /// `unusableReason` says otherwise (then it fails over within its route pool); a new
    /// session takes the best agent of the message's route pool. This is the one place
    /// that decides which agent a message goes to. Sets `t.session` (nil for a new one)
    /// and `t.agent`; returns the history for the agent's call, or nil if the turn is over
    /// (no agent: `no_agent_reply` was answered).
    func session(_ t: inout Turn, _ ctx: TurnContext) throws -> [HistoryEntry]? {
        if let s = ctx.session, s.held {
            // In an operator's hands (human takeover, +Takeover): stored, no agent.
            try heldTurn(t.inbound, session: s, now: t.now, reply: t.reply, finish: t.finish)
            return nil
        }
        if let s = ctx.session, agent(named: s.agent) == nil {
            // Its agent was removed (admin API, reload): the session moves on with its history.
            t.session = s
            guard let next = try failoverTarget(t, from: s.agent, reason: "agent removed", excluding: [s.agent]) else {
                try noAgent(t)
                return nil
            }
            t.agent = next
            return try store.history(sessionId: s.id, limit: depth(next))
        }
        if let s = ctx.session, let current = agent(named: s.agent) {
            t.session = s
            t.agent = current
            guard let reason = unusableReason(current) else { return ctx.history }
            guard let next = try failoverTarget(t, from: current.name, reason: reason, excluding: [current.name]) else {
                try noAgent(t)
                return nil
            }
            t.agent = next
            return depth(next) == depth(current) ? ctx.history : try store.history(sessionId: s.id, limit: depth(next))
        }
        guard let chosen = try choose(for: t.inbound, excluding: [], pool: routePool(t.inbound)) else {
            try noAgent(t)
            return nil
        }
        t.agent = chosen
        return []
    }

    /// Why the session's agent must not take this message, or nil if it can.
    /// A draining agent keeps its sessions; a disabled, lapsed or removed one does not.
    func unusableReason(_ a: RoutedAgent) -> String? {
        if let reason = rosterReason(a) { return reason }
        let breaker = a.health.breaker
        if breaker == .open { return "breaker open" }
        if !a.health.inRotation { return "failed probes" }
        if a.isSaturated { return "busy: \(a.maxInFlight) calls in flight" }
        if breaker == .halfOpen { return nil }   // the trial call
        if a.health.score < 40 { return "health \(a.health.score) < 40" }
        return nil
    }

    /// Why the roster keeps `a` from its sessions (removed, disabled, missed heartbeats), or nil.
    func rosterReason(_ a: RoutedAgent) -> String? {
        if a.isRetired { return "agent removed" }
        if a.state == .disabled { return "agent disabled" }
        if a.heartbeatLapsed.load(ordering: .acquiring) { return "missed heartbeats" }
        return nil
    }

    /// The agents a `routes:` entry names for this message (first match wins), or nil for all.
    func routePool(_ m: Inbound) -> [String]? {
        let first = m.text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map { String($0).uppercased() }
        for r in routes {
            if let to = r.to, to == m.to { return r.agents }
            if let k = r.keyword, k == first { return r.agents }
        }
        return nil
    }

    /// The best eligible agent of `pool` (nil: all agents) not in `excluding`, counted as
    /// taking one more session.
    func choose(for m: Inbound, excluding: Set<String>, pool: [String]?) throws -> RoutedAgent? {
        let since = sessionsSince(nowMillis())
        let counts = try capacity.counts { try store.activeSessionCounts(sinceMs: since) }
        let chosen = selector.best(candidates(pool), active: counts, excluding: excluding)
        if let chosen { capacity.add(chosen.name) }
        return chosen
    }
}
