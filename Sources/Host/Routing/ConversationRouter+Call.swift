import Foundation
import NIOCore
import PluginAPI

extension ConversationRouter {
    /// Steps 5 and 6: the inbound message (and a new session) is stored, then the agent is
    /// called with `history`; a retryable error is retried once, then the session fails
    /// over. An agent that answers synchronously on a sticky session is called first and
    /// the turn written once (`callFirst`). The turn ends in `complete` or `failOver`.
    func call(_ turn: Turn, history: [HistoryEntry]) throws {
        var t = turn
        let m = t.inbound
        var start = TurnStart(channel: m.channel, channelMessageId: m.channelMessageId, remote: m.from,
                              local: m.to, text: m.text, nowMs: t.now, sessionId: t.session?.id,
                              newAgent: t.session == nil ? t.agent.name : nil, media: MediaJSON.encode(m.media))
        start.recordsActivity = t.session.map { recordsActivity($0, at: t.now) } ?? true
        if let existing = t.session, existing.agent == t.agent.name, t.agent.answersInline.load(ordering: .relaxed),
           t.agent.health.breaker == .closed {
            // An agent that answers synchronously: call it first, then write the turn once
            // (or store the inbound message at once if this call did not answer inline).
            t.call = makeCall(t, history: history)
            return try callFirst(t, start: start)
        }
        let isNew = t.session == nil
        let (s, inboundId) = try store.beginTurn(start)
        t.session = s
        t.inboundId = inboundId
        if isNew { emit("session.started", m, session: t.session.id, agent: t.agent.name) }
        t.call = makeCall(t, history: history)
        attempt(t)
    }

    /// The request for `t.agent` in `t.session` (its state only if the session is its own).
    func makeCall(_ t: Turn, history: some Collection<HistoryEntry>) -> AgentCall {
        let m = t.inbound
        var call = AgentCall()
        call.messageId = "\(m.channel):\(m.channelMessageId)"
        call.correlationId = t.correlationId
        call.sessionId = String(t.session.id)
        call.channel = m.channel
        call.from = m.from
        call.to = m.to
        call.text = m.text
        call.sessionState = t.agent.name == t.session.agent ? t.session.state : ""
        call.timeoutMs = UInt32(routing.agentTimeout * 1000)
        call.timeMs = t.arrived
        call.history = history.map { ($0.role, $0.text, $0.timeMs) }
        call.media = m.media
        for (i, h) in history.enumerated() where h.media != nil {
            for x in MediaJSON.decode(h.media) { call.historyMedia.append((i, x.url, x.contentType)) }
        }
        return call
    }

    /// One call of `t.agent` for the stored message; its outcome goes to `settle`.
    func attempt(_ t: Turn) {
        let agent: RoutedAgent = t.agent
        // A call slot first: `allowCall` may hand out a half-open breaker's one trial.
        guard agent.reserveCall() else {
            return failOver(t, reason: agent.isRetired ? "agent removed" : "busy: \(agent.maxInFlight) calls in flight")
        }
        guard agent.health.allowCall() else {
            agent.endCall()
            return failOver(t, reason: "breaker open")
        }
        let calling = CallFlag()
        callAgent(t) { [self] outcome in
            // Still inside `call`: the agent answered synchronously.
            if calling.inCall.exchange(false, ordering: .acquiringAndReleasing) { agent.answersInline.store(true, ordering: .relaxed) }
            // A success is finished right here, on whatever thread it arrived (`complete`
            // does not block: the reply's write is a group-commit unit it does not wait for);
            // failures (whose failover may block on the store or call the same plugin again)
            // hop to `work`.
            if outcome.ok { return settle(t, outcome) }
            work.async { [self] in settle(t, outcome) }
        }
        // Still "in call" when `call` returned: the completion comes later (an asynchronous agent).
        if calling.inCall.exchange(false, ordering: .acquiringAndReleasing) { agent.answersInline.store(false, ordering: .relaxed) }
    }

    /// Calls `t.agent` with `t.call`, holding one of its call slots (the caller took it
    /// with `reserveCall`; it is given back here when the call completes): the
    /// `agent.called` event, then the transport's `call`; the outcome goes into the agent's
    /// health and metrics before `completion` sees it (on the completing thread, possibly
    /// inside `call`).
    func callAgent(_ t: Turn, completion: @escaping @Sendable (OpOutcome) -> Void) {
        let agent: RoutedAgent = t.agent
        let started = DispatchTime.now().uptimeNanoseconds
        emit("agent.called", t.inbound, session: t.session.id, agent: agent.name, fields: [("history", .number(Double(t.call.history.count)))])
        HopProbe.record("agent.call", correlation: t.correlationId)
        agent.handle.transport.call(agent.handle, t.call) { outcome in
            HopProbe.record("agent.completion", correlation: t.correlationId)
            agent.endCall()
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            agent.health.record(success: outcome.ok, latencyMs: ms)
            agent.metrics.recordCall(ok: outcome.ok, seconds: ms / 1000)
            completion(self.applyHandoff(outcome, t.inbound, session: t.session, agent: agent.name))
        }
    }

    /// An agent call's outcome, after the inbound message was stored: the reply (step 7), or
    /// one retry on a retryable error, or failover. A failure runs on a `work` thread; a
    /// success on the thread its completion arrived on (`complete` does not block).
    func settle(_ t: Turn, _ outcome: OpOutcome) {
        HopProbe.record("turn.settle", correlation: t.correlationId)
        if outcome.ok { return complete(t, outcome) }
        let agent: RoutedAgent = t.agent
        logger.warning("agent \(agent.name) failed (\(outcome.status)): \(outcome.error)")
        emit("agent.failed", t.inbound, session: t.session.id, agent: agent.name,
             fields: [("status", .number(Double(outcome.status))), ("error", .string(outcome.error)), ("retryable", .bool(outcome.isRetryable))])
        if outcome.isRetryable && !t.retried && agent.health.breaker == .closed {
            let delay = outcome.retryAfterMs > 0 ? min(Double(outcome.retryAfterMs) / 1000, 2) : 0.05
            var again = t
            again.retried = true
            // The delay runs on the host's timer loop; the retry itself on `work`.
            budgets.loop.scheduleTask(in: .nanoseconds(Int64(delay * 1e9))) { [self, again] in work.async { [self] in attempt(again) } }
            return
        }
        failOver(t, reason: "call failed: status \(outcome.status)")
    }

    /// The fast path for an agent that answers synchronously (`answersInline`): the call is
    /// made before anything of the turn is written. If it answers inside `call`, the turn's
    /// start and end are written as one durable unit (`writeAnsweredTurn`: one commit
    /// instead of two) before the reply is released, so nothing is acknowledged before it is
    /// durable. If it fails synchronously, the inbound message is stored and the usual retry
    /// and failover follow. If it goes asynchronous, the inbound message is stored at once
    /// (before anything is acknowledged) and the agent loses the hint, so its next calls
    /// store the message first. Runs on a `work` thread, holding the conversation.
    func callFirst(_ t: Turn, start: TurnStart) throws {
        let agent: RoutedAgent = t.agent
        /// `t` with the inbound message stored.
        @Sendable func stored(_ s: SessionRecord, _ inboundId: Int64) -> Turn {
            var w = t
            w.session = s
            w.inboundId = inboundId
            return w
        }
        guard agent.reserveCall() else {
            // No call slot: store the message, then the usual path (which fails over).
            let (s, inboundId) = try store.beginTurn(start)
            return attempt(stored(s, inboundId))
        }
        guard agent.health.allowCall() else {
            agent.endCall()
            // Breaker: store the message, then the usual path (which fails over).
            let (s, inboundId) = try store.beginTurn(start)
            return attempt(stored(s, inboundId))
        }
        let gate = InlineCallGate()
        callAgent(t) { [self] outcome in
            switch gate.completed(outcome) {
            case .leave: return
            case .endTurn: t.finish()
            case .continueWith(let s, let inboundId):
                let w = stored(s, inboundId)
                // As in `attempt`: a success continues here, a failure on `work`.
                if outcome.ok { return settle(w, outcome) }
                work.async { [self] in settle(w, outcome) }
            }
        }
        if let outcome = gate.callReturned() {
            guard outcome.ok else {
                let (s, inboundId) = try store.beginTurn(start)
                return settle(stored(s, inboundId), outcome)
            }
            return writeAnswered(t, start: start, outcome)
        }
        // The call went asynchronous: store the inbound message now; the completion continues.
        agent.answersInline.store(false, ordering: .relaxed)
        let written: (SessionRecord, messageId: Int64)
        do { written = try store.beginTurn(start) } catch {
            logger.error("store error handling \(t.inbound.channel)/\(t.inbound.channelMessageId): \(error)")
            t.reply.answer(.rejected(DS_ERR_UNAVAILABLE, "store unavailable"))
            // The conversation stays held until the call settles (one call per session at a time).
            if gate.beginFailed() { t.finish() }
            return
        }
        if let outcome = gate.begun(written.0, written.messageId) {
            settle(stored(written.0, written.messageId), outcome)
        }
    }

    /// The attachments of the agent's answer (`{"media": […]}` in its data) as `MediaJSON`
    /// text, nil if none; a malformed list is logged and dropped (the text still goes out).
    func replyMedia(_ t: Turn, _ outcome: OpOutcome) -> String? {
        let (media, problem) = MediaJSON.fromOutcome(outcome.data)
        if let problem { logger.warning("agent \(t.agent.name): media of the answer to \(t.correlationId) dropped: \(problem)") }
        return MediaJSON.encode(media)
    }

    /// The agent's `session_state`, if its answer carried one.
    func sessionState(_ outcome: OpOutcome) -> String? {
        guard !outcome.data.isEmpty, let obj = try? JSONValue.parse(outcome.data), let st = obj["session_state"] else { return nil }
        return st.text
    }
}
