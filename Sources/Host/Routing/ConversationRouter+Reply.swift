import Foundation
import PluginAPI

extension ConversationRouter {
    /// Step 7: the agent's reply is stored with the dedupe key (and its outbox row if the
    /// inline budget passed), then answered inline or sent from the outbox. Ends the turn.
    /// Does not block: any thread (the agent's completion's). The caller does not wait for
    /// the write: the rest runs on the store's writer thread once the reply is durable
    /// (short, non-blocking: answer, events, release), so nothing is acknowledged before.
    func complete(_ t: Turn, _ outcome: OpOutcome) {
        let m = t.inbound
        let used = replyUsage(t, text: outcome.text)
        let media = replyMedia(t, outcome)
        let now = nowMillis()
        var finish = TurnFinish(sessionId: t.session.id, inboundMessageId: t.inboundId, channel: m.channel,
                                channelMessageId: m.channelMessageId, agent: t.agent.name, reply: outcome.text,
                                sessionState: sessionState(outcome), processingMs: now - t.arrived, nowMs: now,
                                outbox: outboxItem(t, outcome.text, media: media), usage: used, replyMedia: media)
        finish.recordsActivity = recordsActivity(t.session, at: now)
        store.finishTurn(finish) { [self] result in
            written(t, result, text: outcome.text, media: media, usage: used, saving: "reply")
        }
    }

    /// Step 7 for an agent that answered before anything of the turn was written
    /// (`callFirst`): the turn's start and end as one durable unit. The turn thread does not
    /// wait for the commit: the rest runs on the store's writer thread once the unit is
    /// durable (short, non-blocking: answer, events, release). Ends the turn.
    func writeAnswered(_ t: Turn, start: TurnStart, _ outcome: OpOutcome) {
        let m = t.inbound
        let state = sessionState(outcome)
        let used = replyUsage(t, text: outcome.text)
        let media = replyMedia(t, outcome)
        store.writeAnsweredTurn(start, finish: { [self] in
            let now = nowMillis()
            var f = TurnFinish(sessionId: t.session.id, inboundMessageId: 0, channel: m.channel, channelMessageId: m.channelMessageId,
                               agent: t.agent.name, reply: outcome.text, sessionState: state,
                               processingMs: now - t.arrived, nowMs: now, outbox: outboxItem(t, outcome.text, media: media),
                               usage: used, replyMedia: media)
            f.recordsActivity = recordsActivity(t.session, at: now)
            return f
        }, completion: { [self] result in
            written(t, result, text: outcome.text, media: media, usage: used, saving: "turn")
        })
    }

    /// The reply's write ended (on the store's writer thread): on success it is sent, on a
    /// store error the channel is told the gateway is unavailable. Ends the turn.
    private func written<R>(_ t: Turn, _ result: Result<R, any Error>, text: String, media: String?, usage used: [UsageEntry],
                            saving what: String) {
        switch result {
        case .success:
            sent(t, text: text, media: media, usage: used)
        case .failure(let error):
            logger.error("store error saving \(what): \(error)")
            t.reply.answer(.rejected(DS_ERR_UNAVAILABLE, "store unavailable"))
        }
        mTurnSeconds.record(Double(nowMillis() - t.arrived) / 1000)
        t.finish()
    }

    /// The reply is durable: `message.sent`, the answer (inline or deferred), the usage events.
    func sent(_ t: Turn, text: String, media: String? = nil, usage used: [UsageEntry]) {
        var fields: [(String, JSONValue)] = [("processing_ms", .number(Double(nowMillis() - t.arrived)))]
        if let media { fields.append(("media", .number(Double(MediaJSON.decode(media).count)))) }
        emit("message.sent", t.inbound, session: t.session.id, agent: t.agent.name, body: text, fields: fields)
        deliver(text, media: media, t.reply)
        usage?.announce(used, channel: t.inbound.channel)
    }

    /// The reply's billable usage (written with it), if its agent belongs to an account.
    func replyUsage(_ t: Turn, text: String) -> [UsageEntry] {
        guard let meter = usage, let account = t.agent.entry.account,
              let e = meter.replyUsage(accountId: account, correlationId: t.correlationId, text: text) else { return [] }
        return [e]
    }

    /// No agent left in the session's pool after the message was stored in it: the
    /// `no_agent_reply` is stored in the session (with its outbox row if the budget
    /// passed), announced and answered. Ends the turn.
    func noAgentInSession(_ t: Turn) throws {
        let m = t.inbound
        emit("message.rejected", m, session: t.session.id, fields: [("reason", .string("no_agent"))])
        try store.finishTurn(TurnFinish(sessionId: t.session.id, inboundMessageId: t.inboundId, channel: m.channel,
                                        channelMessageId: m.channelMessageId, agent: "", reply: routing.noAgentReply, sessionState: nil,
                                        processingMs: nowMillis() - t.arrived, nowMs: nowMillis(), outbox: outboxItem(t, routing.noAgentReply)))
        noAgentSent(t, session: t.session.id)
        deliver(routing.noAgentReply, t.reply)
        t.finish()
    }

    /// No agent for a message before anything of it was stored (no session, or the
    /// session's agent unusable with nobody left in its pool): stored without a session.
    /// Ends the turn.
    func noAgent(_ t: Turn) throws {
        emit("message.rejected", t.inbound, fields: [("reason", .string("no_agent"))])
        try endWithoutSession(t, status: "no_agent", text: routing.noAgentReply, noAgent: true)
    }

    /// The no-agent reply is durable: like any reply the gateway sends, it is a
    /// `message.sent` event (`reply: "no_agent"`, no agent) before it is answered inline or
    /// sent from the outbox.
    func noAgentSent(_ t: Turn, session: Int64?) {
        mNoAgent.increment()
        emit("message.sent", t.inbound, session: session, body: routing.noAgentReply,
             fields: [("reply", .string("no_agent")), ("processing_ms", .number(Double(nowMillis() - t.arrived)))])
    }

    /// Answers a message handled outside any session (compliance, opted out, admission
    /// refused, no agent): stores it with its reply and, if the inline budget already
    /// passed (the channel was told "deferred"), the reply's outbox row in the same
    /// transaction, so the reply is sent like any late reply. `confirmsOptOut`: the reply
    /// confirms an opt-out and must reach the number that just opted out. Ends the turn.
    func endWithoutSession(_ t: Turn, status: String, text: String, confirmsOptOut: Bool = false, noAgent: Bool = false) throws {
        let m = t.inbound
        var outbox = outboxItem(t, text)
        if confirmsOptOut { outbox?.messageKey = OutboxItem.optOutConfirmationPrefix + "\(m.channel):\(m.channelMessageId)" }
        try store.recordWithoutSession(channel: m.channel, channelMessageId: m.channelMessageId, remote: m.from, local: m.to,
                                       text: m.text, status: status, reply: text, nowMs: t.now, outbox: outbox)
        if noAgent { noAgentSent(t, session: nil) }
        deliver(text, t.reply)
        t.finish()
    }

    /// Decides inline vs deferred for good (under the TurnReply's lock): the outbox row
    /// exists iff the reply was deferred.
    func outboxItem(_ t: Turn, _ text: String, media: String? = nil) -> OutboxItem? {
        guard t.reply.commit() == .deferred, !text.isEmpty || media != nil else { return nil }
        let m = t.inbound
        return OutboxItem(id: 0, messageKey: "reply:\(m.channel):\(m.channelMessageId)", channel: m.channel, to: m.from, from: m.to,
                          text: text, correlationId: Self.correlation(m), attempts: 0, media: media,
                          metadata: t.agent.map { JSONValue.object([("agent", .string($0.name))]).text })
    }

    /// Answers inline if the reply was committed inline, else wakes the outbox sender.
    /// `media`: the reply's attachments (`MediaJSON` text), nil for none.
    func deliver(_ text: String, media: String? = nil, _ reply: TurnReply) {
        if reply.committed == .inline {
            reply.answer(media.map { .replyWithMedia(text, mediaJSON: $0) } ?? .reply(text))
        } else { onOutbox?() }
    }
}
