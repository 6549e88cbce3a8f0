import Foundation
import PluginAPI

extension ConversationRouter {
    /// After `t.agent` failed the stored message (or could not be called): the session
    /// moves to the next best agent of its route pool, which is called with the history
    /// from the store; with nobody left, the user gets `routing.no_agent_reply` (stored in
    /// the session, inline or through the outbox). Runs on a `work` thread.
    func failOver(_ t: Turn, reason: String) {
        let from: RoutedAgent = t.agent
        var next = t
        next.tried.insert(from.name)
        do {
            guard let to = try failoverTarget(next, from: from.name, reason: reason, excluding: next.tried) else {
                logger.error("session \(t.session.id): no agent left after \(from.name) failed (\(reason))")
                return try noAgentInSession(t)
            }
            // The new agent gets the conversation from the store (this message included last: drop it).
            let h = try store.history(sessionId: t.session.id, limit: depth(to) + 1)
            next.session.agent = to.name
            next.agent = to
            next.retried = false
            next.call.history = h.dropLast().map { ($0.role, $0.text, $0.timeMs) }
            next.call.sessionState = ""
            attempt(next)
        } catch {
            logger.error("store error during failover: \(error)")
            t.reply.answer(.rejected(DS_ERR_UNAVAILABLE, "store unavailable"))
            t.finish()
        }
    }

    /// The one failover decision, for both moments a session's agent can be found wanting
    /// (unusable before the call, or failed during it): the best agent of the session's
    /// route pool not in `excluding`; if there is one, the session moves to it (a
    /// `failovers` row, `agent.failed_over`). Nil: nobody is left in the pool (the caller
    /// answers `no_agent_reply`). Runs on a `work` thread (store calls).
    func failoverTarget(_ t: Turn, from: String, reason: String, excluding: Set<String>) throws -> RoutedAgent? {
        let s: SessionRecord = t.session
        guard let next = try choose(for: t.inbound, excluding: excluding, pool: sessionPool(t.inbound, agent: s.agent)) else { return nil }
        try moveSession(s.id, t.inbound, from: from, to: next.name, reason: reason)
        return next
    }

    /// Moves session `id` from agent `from` to `to` in the store (a `failovers` row), with
    /// the `agent.failed_over` event, the metric and a log line. Blocking (store).
    func moveSession(_ id: Int64, _ m: Inbound, from: String, to: String, reason: String) throws {
        try store.failover(sessionId: id, from: from, to: to, reason: reason, nowMs: nowMillis())
        emit("agent.failed_over", m, session: id, agent: to, fields: [("from_agent", .string(from)), ("reason", .string(reason))])
        mFailovers.increment()
        logger.warning("session \(id): failover \(from) -> \(to) (\(reason))")
    }

    /// The pool a session's agent was chosen from, for failover: sessions do not store
    /// it, so it is found again from `routes:` in their order: a `to` entry matching the
    /// conversation's number (a tenant's number: every session on it), or a keyword entry
    /// whose pool holds the session's agent (the keyword only picked the first agent);
    /// nil (all agents) if none.
    func sessionPool(_ m: Inbound, agent: String) -> [String]? {
        for r in routes {
            if let to = r.to, to == m.to { return r.agents }
            if r.keyword != nil, r.agents.contains(agent) { return r.agents }
        }
        return nil
    }
}
