import Foundation

/// Human takeover on the message path (issue 13): the router's two hooks.
///
/// - A session held by an operator, or waiting for one after its agent asked for a human
///   (`SessionRecord.held`, read with the turn's context, so every process sharing the
///   database agrees): the message is stored and announced, no agent is called, and the
///   user gets nothing automatic.
/// - An agent's reply that asks for a human (`"handoff"` in the outcome's data, see
///   `handoffRequested`): the user gets `takeover.waiting_reply` instead, and the session
///   waits for an operator (`session.handoff_requested`).
extension ConversationRouter {
    /// Step 4 for a held session. Runs on `work`, holding the conversation.
    func heldTurn(_ m: Inbound, session: SessionRecord, now: Int64, reply: TurnReply, finish: @escaping @Sendable () -> Void) throws {
        let start = TurnStart(channel: m.channel, channelMessageId: m.channelMessageId, remote: m.from, local: m.to, text: m.text,
                              nowMs: now, sessionId: session.id, newAgent: nil, media: MediaJSON.encode(m.media))
        let (s, inboundId) = try store.beginTurn(start)
        try store.markInbound(messageId: inboundId, status: "held")
        events?.emit(Event("message.held", correlationId: Self.correlation(m), session: String(s.id), agent: s.agent, channel: m.channel,
                           from: m.from, to: m.to, body: m.text))
        reply.answer(.reply(""))
        finish()
    }

    /// The reason an agent gave for asking for a human, if its outcome does: the data
    /// object's `"handoff"` — `true`, or an object `{"reason": "..."}`, or a string reason.
    static func handoffRequested(_ outcome: OpOutcome) -> String? {
        guard outcome.ok, outcome.data.contains("\"handoff\""), let o = try? JSONValue.parse(outcome.data), let h = o["handoff"] else { return nil }
        switch h {
        case .bool(true): return ""
        case .string(let s): return s
        case .object: return h["reason"]?.stringValue ?? ""
        default: return nil
        }
    }

    /// Applied to every agent outcome (in `callAgent`): a handoff request becomes the waiting
    /// reply, and the session is marked waiting (on `work`: the completion may run on a
    /// plugin thread, which must not block on the store). Without an admin listener
    /// (`handoffReply` nil) nobody could answer: the agent's own text goes out.
    func applyHandoff(_ outcome: OpOutcome, _ m: Inbound, session: SessionRecord, agent: String) -> OpOutcome {
        guard let waiting = handoffReply, let reason = Self.handoffRequested(outcome) else { return outcome }
        var o = outcome
        if !waiting.isEmpty { o.text = waiting }
        let store = self.store, events = self.events, logger = self.logger
        work.async {
            do {
                guard try store.requestHandoff(sessionId: session.id, nowMs: nowMillis()) else { return }
                events?.emit(Event("session.handoff_requested", correlationId: Self.correlation(m), session: String(session.id), agent: agent,
                                   channel: m.channel, from: m.from, to: m.to, fields: [("reason", .string(reason))]))
                logger.info("session \(session.id): agent \(agent) asked for a human")
            } catch {
                logger.error("store: cannot mark session \(session.id) waiting for an operator: \(error)")
            }
        }
        return o
    }
}
