import Foundation

/// A message started from our side (issue 14, item 2: `POST /api/v1/messages`,
/// `darkspere send`): which session and agent it belongs to, decided like an inbound
/// message's — the conversation's active session keeps its agent; otherwise a new session
/// takes the requested agent or the best one of the conversation's `routes:` pool — then
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
        let key = "\(p.channel)\u{1F}\(p.to)\u{1F}\(p.from)"
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
        if let name = p.agent {
            guard agent(named: name) != nil else { throw ProactiveRefusal.unknownAgent(name) }
            if let pool, !pool.contains(name) { throw ProactiveRefusal.agentNotInPool(name) }
        }
        var sessionId: Int64?
        let agentName: String
        if let s = try store.activeSession(channel: p.channel, remote: p.to, local: p.from, sinceMs: sessionsSince(nowMillis())) {
            if s.held { throw ProactiveRefusal.held(session: s.id) }
            if let name = p.agent, name != s.agent { throw ProactiveRefusal.sessionOfAnotherAgent(session: s.id, agent: s.agent) }
            sessionId = s.id
            agentName = s.agent
        } else if let name = p.agent {
            agentName = name
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
