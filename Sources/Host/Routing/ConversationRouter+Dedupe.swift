import Foundation

extension ConversationRouter {
    /// Step 1, dedupe: a known `(channel, channel message id)` gets the stored reply inline.
    /// A key without a reply, under the conversation's lock, means the attempt that stored
    /// the message died before answering (a crash): the turn resumes it (one agent call,
    /// the stored message, its session; the reply through the outbox unless still inline).
    /// Returns true if the turn is over (answered, or resumed by an agent call).
    func dedupe(_ t: Turn, _ ctx: TurnContext) throws -> Bool {
        guard let seen = ctx.dedupe else { return false }
        let m = t.inbound
        mDedupe.increment()
        switch seen {
        case .replied(let text): t.reply.answer(.reply(text))
        case .pending:
            // We hold the conversation's lock, so no turn for it is running: the attempt
            // that stored this message died before answering (a crash). Resume it.
            if let (s, inboundId) = try store.unansweredInbound(channel: m.channel, channelMessageId: m.channelMessageId),
               !s.held, let agent = try resumingAgent(t, s) {
                logger.warning("resuming unanswered message \(m.channel)/\(m.channelMessageId) of session \(s.id)")
                var h = try store.history(sessionId: s.id, limit: depth(agent) + 1)
                if let i = h.lastIndex(where: { $0.role == "user" && $0.text == m.text }) { h.remove(at: i) }
                var r = t
                r.session = s
                r.inboundId = inboundId
                r.agent = agent
                r.call = makeCall(r, history: h.suffix(depth(agent)))
                attempt(r)
                return true
            }
            t.reply.answer(.deferred)
        }
        t.finish()
        return true
    }

    /// The agent that resumes an unanswered message of session `s`: its own, unless it was
    /// removed, disabled or missed its heartbeats (then the session fails over, as its next
    /// message would: +Session); nil if nobody can take it (the message stays unanswered
    /// for a later recovery sweep). Breaker and call slots are left to `attempt`.
    func resumingAgent(_ t: Turn, _ s: SessionRecord) throws -> RoutedAgent? {
        let own = agent(named: s.agent)
        guard let reason = own == nil ? "agent removed" : rosterReason(own!) else { return own }
        var r = t
        r.session = s
        return try failoverTarget(r, from: s.agent, reason: reason, excluding: [s.agent])
    }
}
