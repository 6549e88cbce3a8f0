import Foundation

/// A conversation's session row.
public struct SessionRecord: Sendable, Equatable {
    public var id: Int64
    public var channel: String
    public var remote: String
    public var local: String
    public var agent: String
    /// The agent's last `session_state` JSON ("" if none).
    public var state: String
    public var createdMs: Int64
    public var lastMs: Int64
    /// In an operator's hands, or waiting for one (an agent asked for a human): no agent is
    /// called for it, and it stays the conversation's session past the session timeout.
    public var held = false
}

/// One history entry for an agent call.
public struct HistoryEntry: Sendable, Equatable {
    public var role: String   // "user", "assistant" or "operator" (a person's message during a takeover)
    public var text: String
    public var timeMs: Int64
}

/// What a dedupe key says about an earlier submission of the same channel message id.
public enum DedupeState: Sendable, Equatable {
    /// Answered: the same reply again.
    case replied(String)
    /// Seen, not answered (the reply went to the outbox, or the earlier attempt died).
    case pending
}

/// Everything a turn reads before deciding what to do, read in one go.
public struct TurnContext: Sendable {
    public var dedupe: DedupeState?
    public var optedOut: Bool
    /// The active session (last activity at or after `sinceMs`), if any.
    public var session: SessionRecord?
    /// That session's last messages, oldest first (depth of its agent).
    public var history: [HistoryEntry]
}

/// A deferred send waiting in (or claimed from) the outbox.
public struct OutboxItem: Sendable, Equatable {
    public var id: Int64
    /// Stable across retries and restarts: the channel's idempotency key.
    public var messageKey: String
    public var channel: String
    public var to: String
    public var from: String
    public var text: String
    public var correlationId: String
    public var attempts: Int

    /// The message key prefix of a deferred opt-out confirmation: the one message the
    /// outbox sends to a number that opted out (the confirmation carriers require).
    public static let optOutConfirmationPrefix = "optout-confirmation:"
}

/// The start of one agent turn, written in one transaction.
public struct TurnStart: Sendable {
    public var channel: String
    public var channelMessageId: String
    public var remote: String
    public var local: String
    public var text: String
    public var nowMs: Int64
    /// Use this session (sticky); nil = create one for `newAgent`.
    public var sessionId: Int64?
    public var newAgent: String?

    public init(channel: String, channelMessageId: String, remote: String, local: String, text: String, nowMs: Int64,
                sessionId: Int64?, newAgent: String?) {
        self.channel = channel; self.channelMessageId = channelMessageId; self.remote = remote; self.local = local
        self.text = text; self.nowMs = nowMs; self.sessionId = sessionId; self.newAgent = newAgent
    }
}

/// The end of one agent turn, written in one transaction.
public struct TurnFinish: Sendable {
    public var sessionId: Int64
    /// The inbound message's row (from `beginTurn`).
    public var inboundMessageId: Int64
    public var channel: String
    public var channelMessageId: String
    public var agent: String
    public var reply: String
    public var sessionState: String?
    public var processingMs: Int64
    public var nowMs: Int64
    /// Non-nil when the reply goes out later: the outbox row to write with it.
    public var outbox: OutboxItem?
    /// Billable usage of the reply (its outbound segments), written to the ledger with it.
    public var usage: [UsageEntry] = []

    public init(sessionId: Int64, inboundMessageId: Int64, channel: String, channelMessageId: String, agent: String,
                reply: String, sessionState: String?, processingMs: Int64, nowMs: Int64, outbox: OutboxItem?,
                usage: [UsageEntry] = []) {
        self.sessionId = sessionId; self.inboundMessageId = inboundMessageId; self.channel = channel
        self.channelMessageId = channelMessageId; self.agent = agent; self.reply = reply; self.sessionState = sessionState
        self.processingMs = processingMs; self.nowMs = nowMs; self.outbox = outbox; self.usage = usage
    }
}

/// Held while one conversation's turn runs: at most one per conversation key at a time,
/// across every process sharing the database (PostgreSQL: an advisory lock on a dedicated
/// connection). Release exactly once.
public protocol ConversationLock: AnyObject, Sendable {
    func release()
    /// True if `release` may block (a database round trip): then it must not run on a
    /// thread that must not block (an event loop, the store's writer thread).
    var releaseMayBlock: Bool { get }
}

extension ConversationLock {
    public var releaseMayBlock: Bool { true }
}

/// The gateway's persistent state. One protocol, two backends (`SQLStore` over SQLite or
/// PostgreSQL), chosen by `store.url`.
///
/// Threading: every method is synchronous, may block on I/O, and is safe to call from any
/// thread concurrently (backends use connection pools). Call it off the NIO event loops.
public protocol Store: UsageStore, RecoveryStore {
    /// "sqlite" or "postgres".
    var backend: String { get }
    /// True if the database answers a trivial query.
    func ping() -> Bool
    /// Records the configured agents (name, transport, limits) in the agents table.
    func syncAgents(_ agents: [AgentEntry]) throws

    /// Blocks until this process holds the conversation's lock (FIFO among waiters).
    func lockConversation(_ key: String) throws -> any ConversationLock
    /// The lock of a turn whose next store call is `turnContext(..., under: lock)`: the lock
    /// may be taken by that call (PostgreSQL: the lock statement and the context read go to
    /// the server in one round trip, on the lock's connection), so the caller must make no
    /// other store call of the turn before it. `release` is safe either way.
    func lockConversationForTurn(_ key: String) throws -> any ConversationLock

    func dedupe(channel: String, channelMessageId: String) throws -> DedupeState?
    /// Dedupe key, opt-out, active session and its history in one connection hold; with the
    /// turn's lock from `lockConversationForTurn`, after that lock is held.
    func turnContext(channel: String, channelMessageId: String, remote: String, local: String, sinceMs: Int64,
                     under lock: (any ConversationLock)?, historyDepth: (String) -> Int) throws -> TurnContext
    /// The newest session of the conversation whose last activity is at or after `sinceMs`.
    func activeSession(channel: String, remote: String, local: String, sinceMs: Int64) throws -> SessionRecord?
    /// Sessions per agent with activity at or after `sinceMs` (capacity accounting).
    func activeSessionCounts(sinceMs: Int64) throws -> [String: Int]
    /// Claims the dedupe key, creates the session if asked, stores the user message.
    /// Returns the session and the inbound message id.
    func beginTurn(_ t: TurnStart) throws -> (SessionRecord, messageId: Int64)
    /// Stores the reply, answers the dedupe key, touches the session, enqueues the outbox row.
    func finishTurn(_ t: TurnFinish) throws
    /// The whole turn of an existing session (`t.sessionId` set) whose agent already
    /// answered, as one durable unit (one transaction, one commit): what `beginTurn` and
    /// then `finishTurn(finish())` write, with the inbound message stored already answered
    /// (`finish()`'s `sessionId` and `inboundMessageId` are ignored). `finish` runs on a
    /// store thread inside the unit (it may run twice) and must not block. Does not wait
    /// for the commit: `completion` is called exactly once when the unit is durable (or
    /// failed), on a store thread or the caller's, and must be short and must not block.
    func writeAnsweredTurn(_ t: TurnStart, finish: @escaping @Sendable () -> TurnFinish,
                           completion: @escaping @Sendable (Result<Void, any Error>) -> Void)
    /// Marks the inbound message as answered with nothing (compliance, no agent).
    func markInbound(messageId: Int64, status: String) throws
    /// For a dedupe key without a reply: the stored inbound message (its session and row id).
    func unansweredInbound(channel: String, channelMessageId: String) throws -> (session: SessionRecord, messageId: Int64)?
    /// The session's last `limit` messages (user/assistant), oldest first.
    func history(sessionId: Int64, limit: Int) throws -> [HistoryEntry]
    /// Moves a session to another agent and records the failover event.
    func failover(sessionId: Int64, from: String, to: String, reason: String, nowMs: Int64) throws

    // Compliance ledger
    func setOptOut(channel: String, remote: String, keyword: String, nowMs: Int64) throws
    func clearOptOut(channel: String, remote: String) throws
    func isOptedOut(channel: String, remote: String) throws -> Bool
    /// Stores a message handled outside any session (a compliance keyword, an opted-out
    /// sender, no agent available) with its status, the reply (if any) and its dedupe key;
    /// with `outbox` (the reply was decided after the channel was told "deferred") the
    /// reply's outbox row in the same transaction.
    func recordWithoutSession(channel: String, channelMessageId: String, remote: String, local: String,
                              text: String, status: String, reply: String, nowMs: Int64, outbox: OutboxItem?) throws

    // Outbox
    func enqueueOutbox(_ item: OutboxItem, nowMs: Int64) throws
    /// Claims up to `limit` due rows for `leaseMs` (other processes skip them meanwhile).
    func claimOutbox(nowMs: Int64, limit: Int, leaseMs: Int64) throws -> [OutboxItem]
    func outboxSent(id: Int64, providerId: String, nowMs: Int64) throws
    func outboxRetry(id: Int64, attempts: Int, nextMs: Int64, error: String) throws
    func outboxFailed(id: Int64, error: String, nowMs: Int64) throws
    func pendingOutboxCount() throws -> Int
    /// Records a channel's delivery report for a sent outbox row; false if no row has that provider id.
    func recordDelivery(channel: String, providerId: String, status: String, errorCode: Int32) throws -> Bool

    /// Deletes messages, failovers, dedupe keys and finished outbox rows older than
    /// `beforeMs`, and sessions idle since then. Returns the number of rows removed.
    func purge(beforeMs: Int64) throws -> Int
    /// Sessions whose last activity lies in [fromMs, toMs): they expired when the session
    /// timeout passed (for `session.expired` events).
    func sessionsWithLastActivity(fromMs: Int64, toMs: Int64) throws -> [(id: Int64, agent: String)]
    func close()
}

/// Opens the store named by `store.url`, applying migrations.
public func openStore(url: String, configDir: String, lockConnections: Int) throws -> any Store {
    if url.hasPrefix("sqlite:") {
        var path = String(url.dropFirst("sqlite:".count))
        if !path.hasPrefix("/") && path != ":memory:" { path = (configDir as NSString).appendingPathComponent(path) }
        return try SQLStore(sqlitePath: path)
    }
    if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
        return try SQLStore(postgresURL: url, lockConnections: lockConnections)
    }
    throw StoreError("store.url: expected sqlite:PATH or postgres://..., got '\(Redactor.redactURL(url))'")
}
