import Foundation

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

/// A conversation's key (channel instance, remote number, local number): the router's queue
/// key, the key of its `ConversationLock`, and the history cache's conversation key.
func conversationKey(channel: String, remote: String, local: String) -> String {
    "\(channel)\u{1F}\(remote)\u{1F}\(local)"
}

/// The turn path's part of the store: conversation locks, the context a turn reads,
/// sessions, history, the turn's writes and failovers.
///
/// Threading: every method is synchronous, may block on I/O, and is safe to call from any
/// thread concurrently (backends use connection pools). Call it off the NIO event loops.
public protocol ConversationStore: AnyObject, Sendable {
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
    /// `finishTurn` without waiting: `completion` gets the result once the write is durable
    /// (or failed). With group commit it runs on the writer thread: short, never blocking.
    func finishTurn(_ t: TurnFinish, completion: @escaping @Sendable (Result<Void, any Error>) -> Void)
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

    /// Stores a message handled outside any session (a compliance keyword, an opted-out
    /// sender, no agent available) with its status, the reply (if any) and its dedupe key;
    /// with `outbox` (the reply was decided after the channel was told "deferred") the
    /// reply's outbox row in the same transaction.
    func recordWithoutSession(channel: String, channelMessageId: String, remote: String, local: String,
                              text: String, status: String, reply: String, nowMs: Int64, outbox: OutboxItem?) throws

    /// The largest history depth any turn will ask `turnContext` for (the router sets it
    /// before traffic); a backend may read that much history with the context.
    func setHistoryDepthBound(_ depth: Int)
    /// How long the retention job keeps messages (the router sets it before traffic); a
    /// backend other processes write may cache history only when it knows this.
    func setRetention(seconds: Double)
    /// Threads a router should give blocking store work; 0 = the router's own choice.
    var suggestedThreads: Int { get }
    /// An agent asked for a human: the session waits for an operator (human takeover).
    /// False if it is already held or gone.
    @discardableResult
    func requestHandoff(sessionId: Int64, nowMs: Int64) throws -> Bool
}

extension ConversationStore {
    public func setHistoryDepthBound(_ depth: Int) {}
    public func setRetention(seconds: Double) {}
    public var suggestedThreads: Int { 0 }
}
