import Foundation
import Logging
import NIOCore
import PluginAPI
import Synchronization

/// The store-backed router (design: "One inbound message, end to end", steps 1, 2, 4–7):
/// dedupe, compliance keywords, sticky sessions, health-aware agent choice, ordered agent
/// calls with retry and failover, history, inline or deferred replies.
///
/// One message is one `Turn`; its steps are functions over it, one file each:
/// `+Dedupe`, `+Compliance`, `+Session` (which agent takes it: the one place that decides
/// whether a session's agent is called), `+Abuse`, `+Admission`, `+Call`, `+Failover`, `+Reply`.
/// `turnLocked` below runs them in order. The agents are `roster` (changeable at runtime,
/// see `AgentRoster` and +Agents), read on the message path only through `agent(named:)`
/// and `candidates(_:)`.
///
/// Threading: `submit` may be called from any thread; it never blocks. Each message
/// becomes a job of `ConversationQueues` (one turn per conversation at a time, a global
/// limit), run on `work`, a pool of threads where store calls may block. A successful
/// agent completion continues on the thread it arrives on (a `work` thread for a
/// synchronous agent, a plugin's or the HTTP client's thread otherwise): its reply is a
/// group-commit unit nobody waits for, answered from the writer thread once durable.
/// Failed completions hop back to `work` (failover may block). The inline
/// budget of every message is one entry of `budgets`, a `SlotTimer` on the host's timer
/// loop (cancelled when the message is answered); a retry delay is a task on that loop.
public final class ConversationRouter: InboundRouter, Sendable {
    let store: any Store
    /// `routing:` and `routes:`, replaced together by a reload (see Reload/); a turn reads
    /// them as they are when it needs them.
    let settings: Mutex<(routing: RoutingConfig, routes: [RouteEntry])>
    var routing: RoutingConfig { settings.withLock { $0.routing } }
    var routes: [RouteEntry] { settings.withLock { $0.routes } }
    /// The agents now (add, replace, remove, state: +Agents).
    public let roster: AgentRoster
    /// Every agent now, `agents:` first.
    public var agents: [RoutedAgent] { roster.all }
    /// The running configuration (its `agents:` tell configured agents from runtime ones):
    /// a reload replaces it together with `settings`.
    private let gatewayConfigBox: Mutex<GatewayConfig>
    var gatewayConfig: GatewayConfig { gatewayConfigBox.withLock { $0 } }

    /// A reload applied `config`: its routing settings, routes and agent list hold from the
    /// next turn on (turns in flight keep what they read).
    func configReloaded(_ config: GatewayConfig) {
        settings.withLock { $0 = (routing: config.routing, routes: config.routes) }
        gatewayConfigBox.withLock { $0 = config }
        store.setRetention(seconds: config.routing.retention)
    }
    let metrics: MetricsRegistry
    /// Closes a retired agent's transport handle (nil: never closed by the router).
    let closeAgent: (@Sendable (AgentHandle) -> Void)?
    let selector: AgentSelector
    let queues: ConversationQueues
    /// Where turns run (store calls block). Threads = the global limit plus a few for
    /// completions, so a blocked turn never starves the others.
    let work: BlockingThreadPool
    let logger: Logger
    /// Fires the inline reply budgets (answers "deferred" for replies not ready in time),
    /// on the host's timer loop (`budgets.loop`, where retry delays run too).
    let budgets: SlotTimer
    /// Called after a deferred reply was written to the outbox (wakes the sender).
    let onOutbox: (@Sendable () -> Void)?
    /// Where events go; nil emits nothing.
    let events: EventBus?
    /// Billing admission and usage; nil meters nothing. A reload may install one once (the
    /// first agent with an account, `installUsage(_:)`) while turns read it, hence the lock.
    private let usageBox: Mutex<UsageMeter?>
    var usage: UsageMeter? { usageBox.withLock { $0 } }

    /// Installs `meter` if the router has none yet; returns the meter in use afterwards.
    /// Called by a reload that adds the first agent with an account.
    @discardableResult
    func installUsage(_ meter: @autoclosure () -> UsageMeter) -> UsageMeter {
        usageBox.withLock { current in
            if let current { return current }
            let m = meter(); current = m; return m
        }
    }
    /// `takeover.waiting_reply` when an admin listener is configured (see +Takeover); nil: agents' handoff requests are ignored.
    let handoffReply: String?
    /// The abuse and cost checks (`abuse:`, see +Abuse); nil without an `abuse:` section.
    let abuseGuard: AbuseGuard?

    /// The correlation id of an inbound message: stable across webhook retries, carried by
    /// its agent call, reply, send, usage and events.
    static func correlation(_ m: Inbound) -> String { "\(m.channel):\(m.channelMessageId)" }

    func emit(_ type: String, _ m: Inbound, session: Int64? = nil, agent: String? = nil, body: String? = nil,
                      fields: [(String, JSONValue)] = []) {
        events?.emit(Event(type, correlationId: Self.correlation(m), session: session.map { String($0) }, agent: agent,
                           channel: m.channel, from: m.from, to: m.to, body: body, fields: fields))
    }
    let capacity = CapacityCache(ttl: 1)

    let mMessages: Metric, mFailovers: Metric, mDeferred: Metric, mNoAgent: Metric, mDedupe: Metric, mTurnSeconds: Metric

    /// A router without events, metering, outbox wake-ups or takeover replies.
    /// `timerLoop`: where budgets and retry delays run (the runtime's `timerLoop`; nil: NIO's
    /// shared group).
    public convenience init(store: any Store, agents: [AgentHandle], config: GatewayConfig, metrics: MetricsRegistry, logger: Logger,
                            closeAgent: (@Sendable (AgentHandle) -> Void)? = nil, timerLoop: (any EventLoop)? = nil) {
        self.init(store: store, agents: agents, config: config, metrics: metrics, logger: logger, closeAgent: closeAgent,
                  events: nil, usage: nil, onOutbox: nil, handoffReply: nil, timerLoop: timerLoop)
    }

    /// `events`, `usage`, `onOutbox` and `handoffReply`: see the properties; nil leaves each out.
    /// `timerLoop`: the host's timer loop (`HostRuntime.timerLoop`; nil: NIO's shared group).
    init(store: any Store, agents: [AgentHandle], config: GatewayConfig, metrics: MetricsRegistry, logger: Logger,
         closeAgent: (@Sendable (AgentHandle) -> Void)?, events: EventBus?, usage: UsageMeter?,
         onOutbox: (@Sendable () -> Void)?, handoffReply: String?, timerLoop: (any EventLoop)?) {
        self.store = store
        budgets = SlotTimer(loop: timerLoop ?? SlotTimer.fallbackLoop)
        gatewayConfigBox = Mutex(config)
        self.events = events; self.usageBox = Mutex(usage); self.onOutbox = onOutbox; self.handoffReply = handoffReply
        self.metrics = metrics
        self.closeAgent = closeAgent
        settings = Mutex((routing: config.routing, routes: config.routes))
        self.logger = logger
        abuseGuard = config.abuse.map { AbuseGuard(config: $0, store: store, metrics: metrics, logger: logger) }
        var list: [RoutedAgent] = []
        for (i, entry) in config.agents.enumerated() {
            guard let h = agents.first(where: { $0.name == entry.name }) else { continue }
            list.append(RoutedAgent(handle: h, entry: entry,
                                    health: AgentHealth(name: entry.name, cooldown: config.routing.breakerCooldown,
                                                        slowMs: config.routing.agentTimeout * 1000), index: i,
                                    maxInFlight: Self.maxInFlight(entry, routing: config.routing, agentCount: config.agents.count),
                                    metrics: AgentMetrics(agent: entry.name, metrics: metrics), closer: closeAgent))
        }
        roster = AgentRoster(list)
        selector = AgentSelector(minHealth: config.routing.minHealth)
        // PostgreSQL reads this much history with a turn's context (one round trip).
        store.setHistoryDepthBound(list.map { $0.entry.historyDepth ?? config.routing.historyDepth }.max() ?? 0)
        store.setRetention(seconds: config.routing.retention)   // PostgreSQL's history cache checks entries' age
        let storeThreads = store.suggestedThreads
        work = BlockingThreadPool(name: "darkspere-router", threads: storeThreads > 0 ? storeThreads : config.routing.maxConcurrent + 4)
        queues = ConversationQueues(limit: config.routing.maxConcurrent, pool: work)
        mMessages = metrics.counter("darkspere_router_messages_total", help: "Inbound messages handled by the router")
        mFailovers = metrics.counter("darkspere_router_failovers_total", help: "Sessions moved to another agent")
        mDeferred = metrics.counter("darkspere_router_deferred_total", help: "Replies that missed the inline budget and went to the outbox")
        mNoAgent = metrics.counter("darkspere_router_no_agent_total", help: "Messages answered with no_agent_reply")
        mDedupe = metrics.counter("darkspere_router_duplicates_total", help: "Repeated channel message ids answered from the dedupe key")
        mTurnSeconds = metrics.histogram("darkspere_router_turn_seconds", help: "Time from submit to reply")
        metrics.gauge("darkspere_routing_min_health", help: "routing.min_health: agents below it get no new sessions").record(Double(config.routing.minHealth))
        metrics.addCollector { [roster, capacity = self.capacity] in
            let sessions = capacity.snapshot
            for a in roster.all { a.metrics.refresh(a, activeSessions: sessions.map { $0[a.name] ?? 0 }) }
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
        HopProbe.record("router.submit", correlation: Self.correlation(m))
        let reply = TurnReply(budgets: budgets, completion: completion)
        if resumed {
            _ = reply.deferIfWaiting()
        } else {
            mMessages.increment()
            emit("message.received", m, body: m.text, fields: [("channel_message_id", .string(m.channelMessageId)),
                                                               ("media", .number(Double(m.media.count)))])
        }
        let key = conversationKey(channel: m.channel, remote: m.from, local: m.to)
        let arrived = nowMillis()
        // The inline budget counts from arrival, including time waiting behind earlier
        // messages (of the conversation, or for a turn slot): a message still queued when it
        // runs out is told "deferred" at once, and its reply goes through the outbox.
        // (A resumed message was deferred above: no budget.) Answering cancels the entry.
        if !resumed {
            reply.budget = budgets.schedule(after: routing.inlineReplyBudget) { [weak reply, mDeferred] in
                if reply?.deferIfWaiting() == true { mDeferred.increment() }
            }
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
        HopProbe.record("turn.start", correlation: Self.correlation(m))
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
        let t = Turn(inbound: m, arrived: arrived, now: nowMillis(), reply: reply, finish: finish)
        do {
            try turnLocked(t, lock: lock)
        } catch {
            logger.error("store error handling \(m.channel)/\(m.channelMessageId): \(error)")
            reply.answer(.rejected(DS_ERR_UNAVAILABLE, "store unavailable"))
            finish()
        }
    }

    /// The steps of one turn, in order. Each returns whether the turn is over (answered,
    /// or handed to an agent call that ends it). `lock` is taken at the latest by the
    /// context read, the turn's first store call.
    private func turnLocked(_ turn: Turn, lock: any ConversationLock) throws {
        var t = turn
        let m = t.inbound
        let ctx = try store.turnContext(channel: m.channel, channelMessageId: m.channelMessageId, remote: m.from, local: m.to,
                                        sinceMs: sessionsSince(t.now), under: lock,
                                        historyDepth: { [roster, routing] in roster.named($0)?.entry.historyDepth ?? routing.historyDepth })
        if try dedupe(t, ctx) { return }
        if try compliance(t, optedOut: ctx.optedOut) { return }
        guard let history = try session(&t, ctx) else { return }
        if try abuse(t) { return }
        if try admission(t) { return }
        try call(t, history: history)
    }

    /// Sessions active at or after this are current (`routing.session_timeout`).
    func sessionsSince(_ now: Int64) -> Int64 { now - Int64(routing.sessionTimeout * 1000) }

    /// How stale a session's stored last activity (`last_ms`) may be: a turn within this of
    /// it leaves it as it is (`TurnStart.recordsActivity`), so a busy conversation's turns
    /// change no indexed column of its session (`last_ms` is in three indexes that SQLite
    /// would rewrite on every message: about 6 % of the saturated path's CPU, BENCHMARKS.md).
    /// 1/64 of `routing.session_timeout`, at most 10 s (the default 30 min gives 10 s): a
    /// session may expire that much early, and the admin API's last activity and its
    /// newest-first order are exact to that much.
    var activityGranularityMs: Int64 { min(Int64(routing.sessionTimeout * 1000) / 64, 10_000) }

    /// Whether a turn at `nowMs` writes `s`'s last activity (see `activityGranularityMs`).
    func recordsActivity(_ s: SessionRecord, at nowMs: Int64) -> Bool { nowMs - s.lastMs >= activityGranularityMs }

    /// The history depth of an agent's calls.
    func depth(_ a: RoutedAgent) -> Int { a.entry.historyDepth ?? routing.historyDepth }

    /// The agent called `name` now, if any (a removed agent's sessions find none).
    func agent(named name: String) -> RoutedAgent? { roster.named(name) }

    /// The agents a pool names (nil: every agent), in roster order.
    func candidates(_ pool: [String]?) -> [RoutedAgent] { roster.candidates(pool) }
}
