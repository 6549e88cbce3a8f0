import Foundation
import Logging
import PluginAPI
import Synchronization

/// The store-backed router (design: "One inbound message, end to end", steps 1, 2, 4–7):
/// dedupe, compliance keywords, sticky sessions, health-aware agent choice, ordered agent
/// calls with retry and failover, history, inline or deferred replies.
///
/// Threading: `submit` may be called from any thread; it never blocks. Each message
/// becomes a job of `ConversationQueues` (one turn per conversation at a time, a global
/// limit), run on `work`, a pool of threads where store calls may block. A successful
/// agent completion that arrives on a `work` thread (a synchronous agent) continues
/// there; other completions arrive on plugin threads and hop back to `work`. The inline
/// budget of every message is one entry of `budgets` (one timer thread for all).
public final class ConversationRouter: InboundRouter, @unchecked Sendable {
    let store: any Store
    let routing: RoutingConfig
    let routes: [RouteEntry]
    public let agents: [RoutedAgent]
    let byName: [String: RoutedAgent]
    let selector: AgentSelector
    let queues: ConversationQueues
    /// Where turns run (store calls block). Threads = the global limit plus a few for
    /// completions, so a blocked turn never starves the others.
    let work: BlockingThreadPool
    let logger: Logger
    /// Fires the inline reply budgets (answers "deferred" for replies not ready in time).
    let budgets = DeadlineSweeper(name: "darkspere-inline-budget")
    /// Called after a deferred reply was written to the outbox (wakes the sender).
    var onOutbox: (@Sendable () -> Void)?
    /// Where events go (set by the gateway before traffic); nil emits nothing.
    var events: EventBus?
    /// Billing admission and usage (set by the gateway before traffic); nil meters nothing.
    var usage: UsageMeter?
    /// `takeover.waiting_reply` when an admin listener is configured (see +Takeover); nil: agents' handoff requests are ignored.
    var handoffReply: String?

    /// The correlation id of an inbound message: stable across webhook retries, carried by
    /// its agent call, reply, send, usage and events.
    static func correlation(_ m: Inbound) -> String { "\(m.channel):\(m.channelMessageId)" }

    private func emit(_ type: String, _ m: Inbound, session: Int64? = nil, agent: String? = nil, body: String? = nil,
                      fields: [(String, JSONValue)] = []) {
        events?.emit(Event(type, correlationId: Self.correlation(m), session: session.map { String($0) }, agent: agent,
                           channel: m.channel, from: m.from, to: m.to, body: body, fields: fields))
    }
    private let seq = Atomic<Int>(0)
    let capacity = CapacityCache(ttl: 1)

    let mMessages: Metric, mFailovers: Metric, mDeferred: Metric, mNoAgent: Metric, mDedupe: Metric, mTurnSeconds: Metric

    public init(store: any Store, agents: [AgentHandle], config: GatewayConfig, metrics: MetricsRegistry, logger: Logger) {
        self.store = store
        self.routing = config.routing
        self.routes = config.routes
        self.logger = logger
        var list: [RoutedAgent] = []
        for (i, entry) in config.agents.enumerated() {
            guard let h = agents.first(where: { $0.name == entry.name }) else { continue }
            list.append(RoutedAgent(handle: h, entry: entry,
                                    health: AgentHealth(name: entry.name, cooldown: config.routing.breakerCooldown,
                                                        slowMs: config.routing.agentTimeout * 1000), index: i,
                                    maxInFlight: Self.maxInFlight(entry, routing: config.routing, agentCount: config.agents.count),
                                    metrics: AgentMetrics(agent: entry.name, metrics: metrics)))
        }
        self.agents = list
        byName = Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
        selector = AgentSelector(minHealth: config.routing.minHealth)
        // PostgreSQL reads this much history with a turn's context (one round trip).
        (store as? SQLStore)?.setHistoryDepthBound(list.map { $0.entry.historyDepth ?? config.routing.historyDepth }.max() ?? 0)
        let sqliteThreads = (store as? SQLStore)?.suggestedThreads ?? 0
        work = BlockingThreadPool(name: "darkspere-router", threads: sqliteThreads > 0 ? sqliteThreads : config.routing.maxConcurrent + 4)
        queues = ConversationQueues(limit: config.routing.maxConcurrent, pool: work)
        mMessages = metrics.counter("darkspere_router_messages_total", help: "Inbound messages handled by the router")
        mFailovers = metrics.counter("darkspere_router_failovers_total", help: "Sessions moved to another agent")
        mDeferred = metrics.counter("darkspere_router_deferred_total", help: "Replies that missed the inline budget and went to the outbox")
        mNoAgent = metrics.counter("darkspere_router_no_agent_total", help: "Messages answered with no_agent_reply")
        mDedupe = metrics.counter("darkspere_router_duplicates_total", help: "Repeated channel message ids answered from the dedupe key")
        mTurnSeconds = metrics.histogram("darkspere_router_turn_seconds", help: "Time from submit to reply")
        metrics.addCollector { [list, capacity = self.capacity] in
            let sessions = capacity.snapshot
            for a in list { a.metrics.refresh(a, activeSessions: sessions.map { $0[a.name] ?? 0 }) }
        }
    }

    /// An agent's bound of calls in flight: `max_in_flight` if set, else its fair share of
    /// `routing.max_concurrent` (all of it for a single agent, half each for two, ...), so
    /// that however many agents hang, the others keep their share of the turn slots; never
    /// more than `max_concurrent` nor (when set) `max_sessions`.
    static func maxInFlight(_ e: AgentEntry, routing: RoutingConfig, agentCount: Int) -> Int {
        let share = e.maxInFlight ?? max(1, routing.maxConcurrent / max(1, agentCount))
        return max(1, min(share, routing.maxConcurrent, e.maxSessions ?? Int.max))
    }

    // MARK: InboundRouter

    public func submit(_ m: Inbound, completion: @escaping @Sendable (SubmitOutcome) -> Void) {
        submit(m, resumed: false, completion: completion)
    }

    /// `resumed`: a stored message whose turn died (the recovery sweep): nobody waits for an
    /// inline answer, so its reply goes through the outbox; not counted or announced again.
    func submit(_ m: Inbound, resumed: Bool, completion: @escaping @Sendable (SubmitOutcome) -> Void) {
        guard !m.from.isEmpty, !m.to.isEmpty, !m.channelMessageId.isEmpty else {
            return completion(.rejected(DS_ERR_INVALID, "from, to and channel_message_id are required"))
        }
        let reply = TurnReply(completion: completion)
        if resumed {
            _ = reply.deferIfWaiting()
        } else {
            mMessages.increment()
            emit("message.received", m, body: m.text, fields: [("channel_message_id", .string(m.channelMessageId)),
                                                               ("media", .number(Double(m.media.count)))])
        }
        let key = "\(m.channel)\u{1F}\(m.from)\u{1F}\(m.to)"
        let arrived = nowMillis()
        // The inline budget counts from arrival, including time waiting behind earlier
        // messages (of the conversation, or for a turn slot): a message still queued when it
        // runs out is told "deferred" at once, and its reply goes through the outbox.
        budgets.schedule(after: routing.inlineReplyBudget) { [weak reply, mDeferred] in
            if reply?.deferIfWaiting() == true { mDeferred.increment() }
        }
        queues.submit(key: key) { [self] done in
            turn(m, key: key, arrived: arrived, reply: reply, done: done)
        }
    }

    /// Delivery reports match deferred sends (the outbox row's provider id). Inline replies
    /// are sent by the channel itself, so the host has no provider id for them.
    /// Called on a host I/O thread: one short store write.
    /// Stops the turn threads once the queued turns are done (after the server drained).
    public func shutdown() { work.shutdown(); budgets.shutdown() }

    public func reportStatus(channel: String, providerMessageId: String, status: String, errorCode: Int32) -> Bool {
        events?.emit(Event("message.status", channel: channel, fields: [("provider_message_id", .string(providerMessageId)),
                                                                         ("status", .string(status)), ("error_code", .number(Double(errorCode)))]))
        do { return try store.recordDelivery(channel: channel, providerId: providerMessageId, status: status, errorCode: errorCode) } catch {
            logger.error("store: cannot record delivery status: \(error)")
            return false
        }
    }

    // MARK: one turn

    /// Runs on `work`, holding the conversation's queue slot until `done`.
    private func turn(_ m: Inbound, key: String, arrived: Int64, reply: TurnReply, done: @escaping @Sendable () -> Void) {
        let lock: any ConversationLock
        do { lock = try store.lockConversationForTurn(key) } catch {
            logger.error("store: cannot lock conversation: \(error)")
            reply.answer(.rejected(DS_ERR_UNAVAILABLE, "store unavailable"))
            return done()
        }
        // `finish` may be called on a store writer thread or a plugin thread: a lock whose
        // release blocks (PostgreSQL) is released on `work`.
        let finish: @Sendable () -> Void
        if lock.releaseMayBlock {
            finish = { [work] in
                if work.isCurrentThread { lock.release(); done() } else { work.async { lock.release(); done() } }
            }
        } else {
            finish = { lock.release(); done() }
        }
        do {
            try turnLocked(m, arrived: arrived, lock: lock, reply: reply, finish: finish)
        } catch {
            logger.error("store error handling \(m.channel)/\(m.channelMessageId): \(error)")
            reply.answer(.rejected(DS_ERR_UNAVAILABLE, "store unavailable"))
            finish()
        }
    }

    /// `lock` is taken at the latest by the context read, the turn's first store call.
    private func turnLocked(_ m: Inbound, arrived: Int64, lock: any ConversationLock, reply: TurnReply,
                            finish: @escaping @Sendable () -> Void) throws {
        let now = nowMillis()
        let since = now - Int64(routing.sessionTimeout * 1000)
        let ctx = try store.turnContext(channel: m.channel, channelMessageId: m.channelMessageId, remote: m.from, local: m.to,
                                        sinceMs: since, under: lock, historyDepth: { [byName, routing] in byName[$0]?.entry.historyDepth ?? routing.historyDepth })
        // 1. dedupe
        if let seen = ctx.dedupe {
            mDedupe.increment()
            switch seen {
            case .replied(let text): reply.answer(.reply(text))
            case .pending:
                // We hold the conversation's lock, so no turn for it is running: the attempt
                // that stored this message died before answering (a crash). Resume it.
                if let (s, inboundId) = try store.unansweredInbound(channel: m.channel, channelMessageId: m.channelMessageId),
                   !s.held, let agent = byName[s.agent] {
                    logger.warning("resuming unanswered message \(m.channel)/\(m.channelMessageId) of session \(s.id)")
                    var h = try store.history(sessionId: s.id, limit: depth(agent) + 1)
                    if let i = h.lastIndex(where: { $0.role == "user" && $0.text == m.text }) { h.remove(at: i) }
                    var call = makeCall(m, session: s, agent: agent, arrived: arrived)
                    call.history = h.suffix(depth(agent)).map { ($0.role, $0.text, $0.timeMs) }
                    return attempt(m, session: s, inbound: inboundId, agent: agent, call: call, tried: [], retried: false,
                                   arrived: arrived, reply: reply, finish: finish)
                }
                reply.answer(.deferred)
            }
            return finish()
        }
        // 2. compliance
        if let kw = ComplianceKeyword.parse(m.text) {
            let text: String
            switch kw {
            case .optOut(let w): try store.setOptOut(channel: m.channel, remote: m.from, keyword: w, nowMs: now); text = routing.optOutReply
            case .optIn: try store.clearOptOut(channel: m.channel, remote: m.from); text = routing.optInReply
            case .help: text = routing.helpReply
            }
            let optOut: Bool
            if case .optOut = kw { optOut = true } else { optOut = false }
            emit("message.rejected", m, fields: [("reason", .string("compliance")), ("keyword", .string("\(kw)"))])
            try answerWithoutSession(m, status: "compliance", text: text, now: now, reply: reply, confirmsOptOut: optOut)
            return finish()
        }
        if ctx.optedOut {
            emit("message.rejected", m, fields: [("reason", .string("opted_out"))])
            try answerWithoutSession(m, status: "opted_out", text: "", now: now, reply: reply)
            return finish()
        }
        // 4. session
        var session = ctx.session
        var history = ctx.history
        var agent: RoutedAgent
        if let s = session, s.held { return try heldTurn(m, session: s, now: now, reply: reply, finish: finish) }
        if let s = session, let current = byName[s.agent] {
            agent = current
            if let reason = unusableReason(current) {
                guard let next = try failoverTarget(m, session: s, from: current, reason: reason, tried: [current.name]) else {
                    return try noAgent(m, now: now, reply: reply, finish: finish)
                }
                agent = next
                if depth(next) != depth(current) { history = try store.history(sessionId: s.id, limit: depth(next)) }
            }
        } else {
            session = nil
            guard let chosen = try choose(for: m, since: since, excluding: [], pool: routePool(m)) else {
                return try noAgent(m, now: now, reply: reply, finish: finish)
            }
            agent = chosen
        }
        // 3. admission: the chosen agent's account is checked and counted atomically
        if let meter = usage, let account = agent.entry.account,
           case .denied(let reason, let detail) = try meter.admit(accountId: account, correlationId: Self.correlation(m), channel: m.channel) {
            let text = meter.reply(for: reason)
            emit("message.rejected", m, agent: agent.name, fields: [("reason", .string(reason.rawValue)), ("detail", .string(detail)),
                                                                    ("account", .string(account))])
            try answerWithoutSession(m, status: "denied_\(reason.rawValue)", text: text, now: now, reply: reply)
            return finish()
        }
        // 5. persist the inbound message (and the session) before calling anyone
        if session == nil { history = [] }
        let start = TurnStart(channel: m.channel, channelMessageId: m.channelMessageId, remote: m.from,
                              local: m.to, text: m.text, nowMs: now, sessionId: session?.id,
                              newAgent: session == nil ? agent.name : nil)
        if let existing = session, existing.agent == agent.name, agent.answersInline.load(ordering: .relaxed),
           agent.health.breaker == .closed {
            // An agent that answers synchronously: call it first, then write the turn once
            // (or store the inbound message at once if this call did not answer inline).
            var call = makeCall(m, session: existing, agent: agent, arrived: arrived)
            call.history = history.map { ($0.role, $0.text, $0.timeMs) }
            return try callFirst(m, session: existing, start: start, agent: agent, call: call, arrived: arrived, reply: reply, finish: finish)
        }
        let (s, inboundId) = try store.beginTurn(start)
        if session == nil { emit("session.started", m, session: s.id, agent: agent.name) }
        var call = makeCall(m, session: s, agent: agent, arrived: arrived)
        call.history = history.map { ($0.role, $0.text, $0.timeMs) }
        // 6. call, with one retry on a retryable error, then failover
        attempt(m, session: s, inbound: inboundId, agent: agent, call: call, tried: [], retried: false, arrived: arrived, reply: reply, finish: finish)
    }

    private func makeCall(_ m: Inbound, session s: SessionRecord, agent: RoutedAgent, arrived: Int64) -> AgentCall {
        var call = AgentCall()
        call.messageId = "\(m.channel):\(m.channelMessageId)"
        call.correlationId = Self.correlation(m)
        call.sessionId = String(s.id)
        call.channel = m.channel
        call.from = m.from
        call.to = m.to
        call.text = m.text
        call.sessionState = agent.name == s.agent ? s.state : ""
        call.timeoutMs = UInt32(routing.agentTimeout * 1000)
        call.timeMs = arrived
        return call
    }

    /// Why the session's agent must not take this message, or nil if it can.
    private func unusableReason(_ a: RoutedAgent) -> String? {
        let breaker = a.health.breaker
        if breaker == .open { return "breaker open" }
        if !a.health.inRotation { return "failed probes" }
        if a.isSaturated { return "busy: \(a.maxInFlight) calls in flight" }
        if breaker == .halfOpen { return nil }   // the trial call
        if a.health.score < 40 { return "health \(a.health.score) < 40" }
        return nil
    }

    private func depth(_ a: RoutedAgent) -> Int { a.entry.historyDepth ?? routing.historyDepth }

    /// The pool a session's agent was chosen from, for failover: sessions do not store
    /// it, so it is found again from `routes:` in their order: a `to` entry matching the
    /// conversation's number (a tenant's number: every session on it), or a keyword entry
    /// whose pool holds the session's agent (the keyword only picked the first agent);
    /// nil (all agents) if none.
    private func sessionPool(_ m: Inbound, agent: String) -> [RoutedAgent]? {
        for r in routes {
            if let to = r.to, to == m.to { return r.agents.compactMap { byName[$0] } }
            if r.keyword != nil, r.agents.contains(agent) { return r.agents.compactMap { byName[$0] } }
        }
        return nil
    }

    /// The agents a `routes:` entry names for this message, or nil for all.
    private func routePool(_ m: Inbound) -> [RoutedAgent]? {
        let first = m.text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map { String($0).uppercased() }
        for r in routes {
            if let to = r.to, to == m.to { return r.agents.compactMap { byName[$0] } }
            if let k = r.keyword, k == first { return r.agents.compactMap { byName[$0] } }
        }
        return nil
    }

    private func choose(for m: Inbound, since: Int64, excluding: Set<String>, pool: [RoutedAgent]?) throws -> RoutedAgent? {
        let counts = try capacity.counts { try store.activeSessionCounts(sinceMs: since) }
        let chosen = selector.best(pool ?? agents, active: counts, excluding: excluding)
        if let chosen { capacity.add(chosen.name) }
        return chosen
    }

    /// No agent for a message before anything of it was stored (no session, or the
    /// session's agent unusable with nobody left in its pool): stored without a session.
    private func noAgent(_ m: Inbound, now: Int64, reply: TurnReply, finish: @escaping @Sendable () -> Void) throws {
        emit("message.rejected", m, fields: [("reason", .string("no_agent"))])
        try answerWithoutSession(m, status: "no_agent", text: routing.noAgentReply, now: now, reply: reply, noAgent: true)
        finish()
    }

    /// The no-agent reply is durable: like any reply the gateway sends, it is a
    /// `message.sent` event (`reply: "no_agent"`, no agent) before it is answered inline or
    /// sent from the outbox.
    private func noAgentSent(_ m: Inbound, session: Int64?, arrived: Int64) {
        mNoAgent.increment()
        emit("message.sent", m, session: session, body: routing.noAgentReply,
             fields: [("reply", .string("no_agent")), ("processing_ms", .number(Double(nowMillis() - arrived)))])
    }

    /// The one failover decision, for both moments a session's agent can be found wanting
    /// (unusable before the call, or failed during it): the best agent of the session's
    /// route pool not yet tried; if there is one, the session moves to it (a `failovers`
    /// row, `agent.failed_over`). Nil: nobody is left in the pool (the caller answers
    /// `no_agent_reply`). Runs on a `work` thread (store calls).
    private func failoverTarget(_ m: Inbound, session: SessionRecord, from: RoutedAgent, reason: String,
                                tried: Set<String>) throws -> RoutedAgent? {
        let since = nowMillis() - Int64(routing.sessionTimeout * 1000)
        guard let next = try choose(for: m, since: since, excluding: tried, pool: sessionPool(m, agent: session.agent)) else { return nil }
        try store.failover(sessionId: session.id, from: from.name, to: next.name, reason: reason, nowMs: nowMillis())
        emit("agent.failed_over", m, session: session.id, agent: next.name, fields: [("from_agent", .string(from.name)), ("reason", .string(reason))])
        mFailovers.increment()
        logger.warning("session \(session.id): failover \(from.name) -> \(next.name) (\(reason))")
        return next
    }

    /// Answers a message handled outside any session (compliance, opted out, admission
    /// refused, no agent): stores it with its reply and, if the inline budget already
    /// passed (the channel was told "deferred"), the reply's outbox row in the same
    /// transaction, so the reply is sent like any late reply. `confirmsOptOut`: the reply
    /// confirms an opt-out and must reach the number that just opted out.
    private func answerWithoutSession(_ m: Inbound, status: String, text: String, now: Int64, reply: TurnReply,
                                      confirmsOptOut: Bool = false, noAgent: Bool = false) throws {
        var outbox = outboxItem(m, text, reply)
        if confirmsOptOut { outbox?.messageKey = OutboxItem.optOutConfirmationPrefix + "\(m.channel):\(m.channelMessageId)" }
        try store.recordWithoutSession(channel: m.channel, channelMessageId: m.channelMessageId, remote: m.from, local: m.to,
                                       text: m.text, status: status, reply: text, nowMs: now, outbox: outbox)
        if noAgent { noAgentSent(m, session: nil, arrived: now) }
        deliver(text, reply)
    }

    private func attempt(_ m: Inbound, session: SessionRecord, inbound: Int64, agent: RoutedAgent, call: AgentCall, tried: Set<String>,
                         retried: Bool, arrived: Int64, reply: TurnReply, finish: @escaping @Sendable () -> Void) {
        // A call slot first: `allowCall` may hand out a half-open breaker's one trial.
        guard agent.reserveCall() else {
            return failOver(m, session: session, inbound: inbound, from: agent, reason: "busy: \(agent.maxInFlight) calls in flight", call: call,
                            tried: tried.union([agent.name]), arrived: arrived, reply: reply, finish: finish)
        }
        guard agent.health.allowCall() else {
            agent.endCall()
            return failOver(m, session: session, inbound: inbound, from: agent, reason: "breaker open", call: call, tried: tried.union([agent.name]),
                            arrived: arrived, reply: reply, finish: finish)
        }
        let calling = CallFlag()
        callAgent(m, session: session, agent: agent, call: call) { [self] outcome in
            // Still inside `call`: the agent answered synchronously.
            if calling.inCall.exchange(false, ordering: .acquiringAndReleasing) { agent.answersInline.store(true, ordering: .relaxed) }
            // A success on a turn thread (a synchronous agent) is finished right here; the rest
            // (and failures, whose failover may call the same plugin again) hop to `work`.
            if outcome.ok && work.isCurrentThread {
                return settle(m, session: session, inbound: inbound, agent: agent, call: call, outcome: outcome, tried: tried,
                              retried: retried, arrived: arrived, reply: reply, finish: finish)
            }
            work.async { [self] in
                settle(m, session: session, inbound: inbound, agent: agent, call: call, outcome: outcome, tried: tried,
                       retried: retried, arrived: arrived, reply: reply, finish: finish)
            }
        }
        // Still "in call" when `call` returned: the completion comes later (an asynchronous agent).
        if calling.inCall.exchange(false, ordering: .acquiringAndReleasing) { agent.answersInline.store(false, ordering: .relaxed) }
    }

    /// Calls the agent, holding one of its call slots (the caller took it with
    /// `reserveCall`; it is given back here when the call completes): the `agent.called`
    /// event, then the transport's `call`; the outcome goes into the agent's health before
    /// `completion` sees it (on the completing thread, possibly inside `call`).
    private func callAgent(_ m: Inbound, session: SessionRecord, agent: RoutedAgent, call: AgentCall,
                           completion: @escaping @Sendable (OpOutcome) -> Void) {
        let started = DispatchTime.now().uptimeNanoseconds
        emit("agent.called", m, session: session.id, agent: agent.name, fields: [("history", .number(Double(call.history.count)))])
        agent.handle.transport.call(agent.handle, call) { outcome in
            agent.endCall()
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            agent.health.record(success: outcome.ok, latencyMs: ms)
            agent.metrics.recordCall(ok: outcome.ok, seconds: ms / 1000)
            completion(self.applyHandoff(outcome, m, session: session, agent: agent.name))
        }
    }

    /// An agent call's outcome, after the inbound message was stored: the reply (step 7), or
    /// one retry on a retryable error, or failover. Runs on a `work` thread.
    private func settle(_ m: Inbound, session: SessionRecord, inbound: Int64, agent: RoutedAgent, call: AgentCall, outcome: OpOutcome,
                        tried: Set<String>, retried: Bool, arrived: Int64, reply: TurnReply, finish: @escaping @Sendable () -> Void) {
        if outcome.ok {
            return complete(m, session: session, inbound: inbound, agent: agent, outcome: outcome, arrived: arrived, reply: reply, finish: finish)
        }
        logger.warning("agent \(agent.name) failed (\(outcome.status)): \(outcome.error)")
        emit("agent.failed", m, session: session.id, agent: agent.name,
             fields: [("status", .number(Double(outcome.status))), ("error", .string(outcome.error)), ("retryable", .bool(outcome.isRetryable))])
        if outcome.isRetryable && !retried && agent.health.breaker == .closed {
            let delay = outcome.retryAfterMs > 0 ? min(Double(outcome.retryAfterMs) / 1000, 2) : 0.05
            work.asyncAfter(deadline: .now() + delay) { [self] in
                attempt(m, session: session, inbound: inbound, agent: agent, call: call, tried: tried, retried: true, arrived: arrived,
                        reply: reply, finish: finish)
            }
            return
        }
        failOver(m, session: session, inbound: inbound, from: agent, reason: "call failed: status \(outcome.status)", call: call,
                 tried: tried.union([agent.name]), arrived: arrived, reply: reply, finish: finish)
    }

    /// The fast path for an agent that answers synchronously (`answersInline`): the call is
    /// made before anything of the turn is written. If it answers inside `call`, the turn's
    /// start and end are written as one durable unit (`writeAnsweredTurn`: one commit
    /// instead of two) before the reply is released, so nothing is acknowledged before it is
    /// durable. If it fails synchronously, the inbound message is stored and the usual retry
    /// and failover follow. If it goes asynchronous, the inbound message is stored at once
    /// (before anything is acknowledged) and the agent loses the hint, so its next calls
    /// store the message first. Runs on a `work` thread, holding the conversation.
    private func callFirst(_ m: Inbound, session: SessionRecord, start: TurnStart, agent: RoutedAgent, call: AgentCall, arrived: Int64,
                           reply: TurnReply, finish: @escaping @Sendable () -> Void) throws {
        guard agent.reserveCall() else {
            // No call slot: store the message, then the usual path (which fails over).
            let (s, inboundId) = try store.beginTurn(start)
            return attempt(m, session: s, inbound: inboundId, agent: agent, call: call, tried: [], retried: false, arrived: arrived, reply: reply, finish: finish)
        }
        guard agent.health.allowCall() else {
            agent.endCall()
            // Breaker: store the message, then the usual path (which fails over).
            let (s, inboundId) = try store.beginTurn(start)
            return attempt(m, session: s, inbound: inboundId, agent: agent, call: call, tried: [], retried: false, arrived: arrived, reply: reply, finish: finish)
        }
        let gate = InlineCallGate()
        callAgent(m, session: session, agent: agent, call: call) { [self] outcome in
            switch gate.completed(outcome) {
            case .leave: return
            case .endTurn: finish()
            case .continueWith(let s, let inboundId):
                work.async { [self] in
                    settle(m, session: s, inbound: inboundId, agent: agent, call: call, outcome: outcome, tried: [], retried: false,
                           arrived: arrived, reply: reply, finish: finish)
                }
            }
        }
        if let outcome = gate.callReturned() {
            guard outcome.ok else {
                let (s, inboundId) = try store.beginTurn(start)
                return settle(m, session: s, inbound: inboundId, agent: agent, call: call, outcome: outcome, tried: [], retried: false,
                              arrived: arrived, reply: reply, finish: finish)
            }
            let state = sessionState(outcome)
            let used = replyUsage(m, agent: agent, text: outcome.text)
            // The turn thread does not wait for the commit: the rest runs on the store's writer
            // thread once the unit is durable (short, non-blocking: answer, events, release).
            store.writeAnsweredTurn(start, finish: { [self] in
                TurnFinish(sessionId: session.id, inboundMessageId: 0, channel: m.channel, channelMessageId: m.channelMessageId,
                           agent: agent.name, reply: outcome.text, sessionState: state,
                           processingMs: nowMillis() - arrived, nowMs: nowMillis(), outbox: outboxItem(m, outcome.text, reply), usage: used)
            }, completion: { [self] result in
                switch result {
                case .success:
                    sent(m, session: session, agent: agent, text: outcome.text, usage: used, arrived: arrived, reply: reply)
                case .failure(let error):
                    logger.error("store error saving turn: \(error)")
                    reply.answer(.rejected(DS_ERR_UNAVAILABLE, "store unavailable"))
                }
                mTurnSeconds.record(Double(nowMillis() - arrived) / 1000)
                finish()
            })
            return
        }
        // The call went asynchronous: store the inbound message now; the completion continues.
        agent.answersInline.store(false, ordering: .relaxed)
        let written: (SessionRecord, messageId: Int64)
        do { written = try store.beginTurn(start) } catch {
            logger.error("store error handling \(m.channel)/\(m.channelMessageId): \(error)")
            reply.answer(.rejected(DS_ERR_UNAVAILABLE, "store unavailable"))
            // The conversation stays held until the call settles (one call per session at a time).
            if gate.beginFailed() { finish() }
            return
        }
        if let outcome = gate.begun(written.0, written.messageId) {
            settle(m, session: written.0, inbound: written.messageId, agent: agent, call: call, outcome: outcome, tried: [], retried: false,
                   arrived: arrived, reply: reply, finish: finish)
        }
    }

    private func sessionState(_ outcome: OpOutcome) -> String? {
        guard !outcome.data.isEmpty, let obj = try? JSONValue.parse(outcome.data), let st = obj["session_state"] else { return nil }
        return st.text
    }

    /// Moves the session to the next best agent and calls it with the history from the store.
    private func failOver(_ m: Inbound, session: SessionRecord, inbound: Int64, from: RoutedAgent, reason: String, call: AgentCall, tried: Set<String>,
                          arrived: Int64, reply: TurnReply, finish: @escaping @Sendable () -> Void) {
        do {
            guard let next = try failoverTarget(m, session: session, from: from, reason: reason, tried: tried) else {
                logger.error("session \(session.id): no agent left after \(from.name) failed (\(reason))")
                emit("message.rejected", m, session: session.id, fields: [("reason", .string("no_agent"))])
                try store.finishTurn(TurnFinish(sessionId: session.id, inboundMessageId: inbound, channel: m.channel, channelMessageId: m.channelMessageId,
                                                agent: "", reply: routing.noAgentReply, sessionState: nil,
                                                processingMs: nowMillis() - arrived, nowMs: nowMillis(), outbox: outboxItem(m, routing.noAgentReply, reply)))
                noAgentSent(m, session: session.id, arrived: arrived)
                deliver(routing.noAgentReply, reply)
                return finish()
            }
            var c = call
            // The new agent gets the conversation from the store (this message included last: drop it).
            let h = try store.history(sessionId: session.id, limit: depth(next) + 1)
            c.history = h.dropLast().map { ($0.role, $0.text, $0.timeMs) }
            c.sessionState = ""
            var s = session
            s.agent = next.name
            attempt(m, session: s, inbound: inbound, agent: next, call: c, tried: tried, retried: false, arrived: arrived, reply: reply, finish: finish)
        } catch {
            logger.error("store error during failover: \(error)")
            reply.answer(.rejected(DS_ERR_UNAVAILABLE, "store unavailable"))
            finish()
        }
    }

    /// The reply is durable: `message.sent`, the answer (inline or deferred), the usage events.
    private func sent(_ m: Inbound, session: SessionRecord, agent: RoutedAgent, text: String, usage used: [UsageEntry], arrived: Int64,
                      reply: TurnReply) {
        emit("message.sent", m, session: session.id, agent: agent.name, body: text,
             fields: [("processing_ms", .number(Double(nowMillis() - arrived)))])
        deliver(text, reply)
        usage?.announce(used, channel: m.channel)
    }

    /// The reply's billable usage (written with it), if its agent belongs to an account.
    private func replyUsage(_ m: Inbound, agent: RoutedAgent, text: String) -> [UsageEntry] {
        guard let meter = usage, let account = agent.entry.account,
              let e = meter.replyUsage(accountId: account, correlationId: Self.correlation(m), text: text) else { return [] }
        return [e]
    }

    /// 7. persist the reply; answer inline, or through the outbox if the budget passed.
    private func complete(_ m: Inbound, session: SessionRecord, inbound: Int64, agent: RoutedAgent, outcome: OpOutcome, arrived: Int64,
                          reply: TurnReply, finish: @escaping @Sendable () -> Void) {
        let state = sessionState(outcome)
        do {
            let used = replyUsage(m, agent: agent, text: outcome.text)
            try store.finishTurn(TurnFinish(sessionId: session.id, inboundMessageId: inbound, channel: m.channel, channelMessageId: m.channelMessageId,
                                            agent: agent.name, reply: outcome.text, sessionState: state,
                                            processingMs: nowMillis() - arrived, nowMs: nowMillis(), outbox: outboxItem(m, outcome.text, reply),
                                            usage: used))
            sent(m, session: session, agent: agent, text: outcome.text, usage: used, arrived: arrived, reply: reply)
        } catch {
            logger.error("store error saving reply: \(error)")
            reply.answer(.rejected(DS_ERR_UNAVAILABLE, "store unavailable"))
        }
        mTurnSeconds.record(Double(nowMillis() - arrived) / 1000)
        finish()
    }

    /// Decides inline vs deferred for good (under the TurnReply's lock): the outbox row
    /// exists iff the reply was deferred.
    private func outboxItem(_ m: Inbound, _ text: String, _ reply: TurnReply) -> OutboxItem? {
        guard reply.commit() == .deferred, !text.isEmpty else { return nil }
        return OutboxItem(id: 0, messageKey: "reply:\(m.channel):\(m.channelMessageId)", channel: m.channel, to: m.from, from: m.to,
                          text: text, correlationId: m.channelMessageId, attempts: 0)
    }

    private func deliver(_ text: String, _ reply: TurnReply) {
        if reply.committed == .inline { reply.answer(.reply(text)) } else { onOutbox?() }
    }
}

/// One message's answer: inline (the channel's submit callback) or deferred (the outbox),
/// decided exactly once. Threading: thread-safe.
final class TurnReply: @unchecked Sendable {
    enum Mode: Sendable, Equatable { case waiting, inline, deferred }
    private let mode = Mutex(Mode.waiting)
    private let answered = Atomic<Bool>(false)
    private let completion: @Sendable (SubmitOutcome) -> Void

    init(completion: @escaping @Sendable (SubmitOutcome) -> Void) { self.completion = completion }

    /// The budget ran out: tell the channel "deferred" if no reply was committed yet.
    func deferIfWaiting() -> Bool {
        let deferred: Bool = mode.withLock { m in
            guard m == .waiting else { return false }
            m = .deferred
            return true
        }
        if deferred { answer(.deferred) }
        return deferred
    }

    /// The reply is ready: fixes the mode (inline unless already deferred) and returns it.
    func commit() -> Mode {
        mode.withLock { m in
            if m == .waiting { m = .inline }
            return m
        }
    }

    var committed: Mode { mode.withLock { $0 } }

    /// Calls the channel's completion once; later calls are ignored.
    func answer(_ o: SubmitOutcome) {
        if answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged { completion(o) }
    }
}

/// Whether an agent call is still inside the transport's `call` (its completion then came
/// synchronously). Threading: thread-safe.
final class CallFlag: Sendable {
    let inCall = Atomic<Bool>(true)
}
