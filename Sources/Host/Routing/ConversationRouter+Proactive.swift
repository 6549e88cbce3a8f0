import Foundation

/// A message started from our side (issue 14, item 2: `POST /api/v1/messages`,
/// `darkspere send`): which session and agent it belongs to, decided like an inbound
/// message's — the conversation's active session keeps its agent (unless that agent was
/// removed, disabled or missed its heartbeats: then the session moves, as an inbound
/// message would move it); otherwise a new session takes the requested agent, if it takes
/// new sessions (not draining, disabled, out of rotation or removed: refused, nothing
/// queued), or the best one of the conversation's `routes:` pool — then
/// written with its outbox row (`SQLStore.writeProactive`) while the conversation is held
/// (in this process by its queue, across processes by the store's conversation lock), so
/// it never interleaves with a turn of the same conversation. When the user answers, the
/// turn finds that session and its agent sees the message in the history.
extension ConversationRouter {
    /// A proactive message to send.
    public struct Proactive: Sendable {
        public var channel: String
        /// The recipient (the conversation's remote address).
        public var to: String
        /// Our address (the conversation's local address).
        public var from: String
        public var text: String
        /// `MediaJSON` text; nil = none.
        public var media: String?
        /// The agent asked for, if any.
        public var agent: String?
        /// Outbox message key (idempotency).
        public var key: String
        /// An approved template for channels that need one (WhatsApp outside its window):
        /// `{"content_sid", "content_variables"}`, passed in the send's metadata.
        public var template: JSONValue?
        public init(channel: String, to: String, from: String, text: String, media: String?, agent: String?, key: String,
                    template: JSONValue? = nil) {
            self.channel = channel; self.to = to; self.from = from; self.text = text; self.media = media; self.agent = agent; self.key = key
            self.template = template
        }
    }

    /// Why a proactive message was refused.
    public enum ProactiveRefusal: Error, Equatable, Sendable {
        /// The recipient opted out (STOP): nothing is sent.
        case optedOut
        case unknownAgent(String)
        /// The agent is outside the `routes:` pool of the conversation's address.
        case agentNotInPool(String)
        /// The conversation's active session is another agent's.
        case sessionOfAnotherAgent(session: Int64, agent: String)
        /// The conversation's active session is in an operator's hands.
        case held(session: Int64)
        /// The agent asked for may not take the message: `state` as the admin API shows
        /// agents (`draining`, `disabled`, `out_of_rotation`, `removed`), `detail` why.
        case agentUnavailable(agent: String, state: String, detail: String)
        case noAgent
    }

    /// Queued: the session, the stored message, its correlation id, the agent.
    public struct ProactiveQueued: Sendable {
        public var sessionId: Int64
        public var messageId: Int64
        public var agent: String
        public var correlationId: String
        public var created: Bool
        public var newSession: Bool
    }

    /// Decides and writes a proactive message (blocking; call off the event loops). Throws a
    /// `ProactiveRefusal`, or a store error.
    public func queueProactive(_ p: Proactive, store sql: SQLStore) throws -> ProactiveQueued {
        let key = conversationKey(channel: p.channel, remote: p.to, local: p.from)
        let done = DispatchSemaphore(value: 0)
        let result = ResultBox()
        queues.submit(key: key) { [self] finished in
            defer { finished(); done.signal() }
            do {
                let lock = try store.lockConversation(key)
                defer { lock.release() }
                result.value = .success(try proactiveLocked(p, sql))
            } catch {
                result.value = .failure(error)
            }
        }
        done.wait()
        return try result.value!.get()
    }

    /// Throws `agentUnavailable` if the agent asked for may not take a proactive message: a
    /// removed, disabled or out-of-rotation agent (missed heartbeats, failing probes: as
    /// the admin API shows it) never; a draining one only in a session it already has.
    private func refuseUnavailable(_ a: RoutedAgent, newSession: Bool) throws {
        func refuse(_ state: String, _ detail: String) -> ProactiveRefusal { .agentUnavailable(agent: a.name, state: state, detail: detail) }
        if a.isRetired { throw refuse("removed", "it is no longer one of the gateway's agents") }
        if a.state == .disabled { throw refuse("disabled", "an operator took it out of rotation") }
        if a.state == .draining && newSession { throw refuse("draining", "it keeps its conversations but takes no new one") }
        if a.heartbeatLapsed.load(ordering: .acquiring) { throw refuse("out_of_rotation", "it missed 3 heartbeats") }
        if !a.health.inRotation { throw refuse("out_of_rotation", "its health probes fail") }
    }

    /// Unchecked Sendable: `value` is written by the turn before `done.signal()` and read after
    /// `done.wait()` (the semaphore orders them).
    private final class ResultBox: @unchecked Sendable { var value: Result<ProactiveQueued, any Error>? }

    private func proactiveLocked(_ p: Proactive, _ sql: SQLStore) throws -> ProactiveQueued {
        let correlation = "\(p.channel):\(p.key)"
        let probe = Inbound(channel: p.channel, channelMessageId: p.key, from: p.to, to: p.from, text: "")
        if try store.isOptedOut(channel: p.channel, remote: p.to) {
            emit("message.rejected", probe, fields: [("reason", .string("opted_out")), ("proactive", .bool(true))])
            throw ProactiveRefusal.optedOut
        }
        let pool = routePool(probe)
        var named: RoutedAgent?
        if let name = p.agent {
            guard let a = agent(named: name) else {
                // Gone from the roster: removed (it had conversations) or never there.
                if try sql.agentHasSessions(name) {
                    throw ProactiveRefusal.agentUnavailable(agent: name, state: "removed", detail: "it is no longer one of the gateway's agents")
                }
                throw ProactiveRefusal.unknownAgent(name)
            }
            if let pool, !pool.contains(name) { throw ProactiveRefusal.agentNotInPool(name) }
            named = a
        }
        var sessionId: Int64?
        let agentName: String
        if let s = try store.activeSession(channel: p.channel, remote: p.to, local: p.from, sinceMs: sessionsSince(nowMillis())) {
            if s.held { throw ProactiveRefusal.held(session: s.id) }
            // Nil: the session's agent keeps it (a draining one too); else why it must move.
            let moveReason: String? = agent(named: s.agent).map { rosterReason($0) } ?? "agent removed"
            if let named, named.name == s.agent {
                try refuseUnavailable(named, newSession: false)
                agentName = named.name
            } else if let named {
                guard let reason = moveReason else { throw ProactiveRefusal.sessionOfAnotherAgent(session: s.id, agent: s.agent) }
                // A session stays in the pool that took it (tenants stay apart), as in a failover.
                if let sp = sessionPool(probe, agent: s.agent), !sp.contains(named.name) { throw ProactiveRefusal.agentNotInPool(named.name) }
                try refuseUnavailable(named, newSession: true)
                try moveSession(s.id, probe, from: s.agent, to: named.name, reason: reason)
                agentName = named.name
            } else if let reason = moveReason {
                guard let next = try choose(for: probe, excluding: [s.agent], pool: sessionPool(probe, agent: s.agent)) else {
                    throw ProactiveRefusal.noAgent
                }
                try moveSession(s.id, probe, from: s.agent, to: next.name, reason: reason)
                agentName = next.name
            } else {
                agentName = s.agent
            }
            sessionId = s.id
        } else if let named {
            try refuseUnavailable(named, newSession: true)
            agentName = named.name
        } else {
            guard let chosen = try choose(for: probe, excluding: [], pool: pool) else { throw ProactiveRefusal.noAgent }
            agentName = chosen.name
        }
        let metadata = JSONValue.object([("agent", .string(agentName))] + (p.template.map { [("template", $0)] } ?? [])).text
        let w = try sql.writeProactive(channel: p.channel, remote: p.to, local: p.from, agent: agentName, sessionId: sessionId,
                                       text: p.text, media: p.media, metadata: metadata, key: p.key, correlationId: correlation,
                                       nowMs: nowMillis())
        if w.created {
            if w.newSession { emit("session.started", probe, session: w.sessionId, agent: agentName, fields: [("proactive", .bool(true))]) }
            var fields: [(String, JSONValue)] = [("proactive", .bool(true))]
            if let m = p.media { fields.append(("media", .number(Double(MediaJSON.decode(m).count)))) }
            events?.emit(Event("message.sent", correlationId: correlation, session: String(w.sessionId), agent: agentName,
                               channel: p.channel, from: p.from, to: p.to, body: p.text, fields: fields))
            onOutbox?()
        }
        return ProactiveQueued(sessionId: w.sessionId, messageId: w.messageId, agent: agentName, correlationId: correlation,
                               created: w.created, newSession: w.newSession)
    }
}
