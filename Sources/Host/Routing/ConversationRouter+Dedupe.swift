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
               !s.held, let agent = self.agent(named: s.agent) {
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
}
