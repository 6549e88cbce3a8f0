import Foundation
import Logging
import NIOCore

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
    /// Its attachments as `MediaJSON` text; nil = none.
    public var media: String?
    public init(role: String, text: String, timeMs: Int64, media: String? = nil) {
        self.role = role; self.text = text; self.timeMs = timeMs; self.media = media
    }
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
    /// The inbound message's attachments (`MediaJSON` text); nil = none.
    public var media: String?
    /// False: the sticky session's stored last activity is recent enough (see
    /// `ConversationRouter.activityGranularityMs`) and the turn leaves its `last_ms` as it is;
    /// the session's counts and state are written all the same. An update that changes no
    /// indexed column writes no index entries in SQLite and is a HOT update in PostgreSQL.
    /// Used by `beginTurn` (a sticky session) and ignored for a new one.
    public var recordsActivity = true

    public init(channel: String, channelMessageId: String, remote: String, local: String, text: String, nowMs: Int64,
                sessionId: Int64?, newAgent: String?, media: String? = nil) {
        self.channel = channel; self.channelMessageId = channelMessageId; self.remote = remote; self.local = local
        self.text = text; self.nowMs = nowMs; self.sessionId = sessionId; self.newAgent = newAgent; self.media = media
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
    /// The reply's attachments (`MediaJSON` text); nil = none.
    public var replyMedia: String?
    /// False: the turn leaves the session's `last_ms` as it is (see `TurnStart.recordsActivity`).
    /// Used by `finishTurn` and `writeAnsweredTurn`.
    public var recordsActivity = true

    public init(sessionId: Int64, inboundMessageId: Int64, channel: String, channelMessageId: String, agent: String,
                reply: String, sessionState: String?, processingMs: Int64, nowMs: Int64, outbox: OutboxItem?,
                usage: [UsageEntry] = [], replyMedia: String? = nil) {
        self.sessionId = sessionId; self.inboundMessageId = inboundMessageId; self.channel = channel
        self.channelMessageId = channelMessageId; self.agent = agent; self.reply = reply; self.sessionState = sessionState
        self.processingMs = processingMs; self.nowMs = nowMs; self.outbox = outbox; self.usage = usage; self.replyMedia = replyMedia
    }
}

/// The gateway's persistent state: one store, split by concern into the protocols it
/// composes (`ConversationStore` for turns, `ComplianceStore` for opt-outs, `OutboxStore`
/// for deferred sends, `UsageStore` for billing, `RecoveryStore` for the recovery sweep,
/// `AbuseStore` for rate limits, access lists and known users),
/// plus what keeps it running (health, agents table, retention). Two backends
/// (`SQLStore` over SQLite or PostgreSQL), chosen by `store.url`.
///
/// Threading: every method is synchronous, may block on I/O, and is safe to call from any
/// thread concurrently (backends use connection pools). Call it off the NIO event loops.
public protocol Store: ConversationStore, ComplianceStore, OutboxStore, UsageStore, RecoveryStore, AbuseStore {
    /// "sqlite" or "postgres".
    var backend: String { get }
    /// True if the database answers a trivial query.
    func ping() -> Bool
    /// Records the configured agents (name, transport, limits) in the agents table.
    func syncAgents(_ agents: [AgentEntry]) throws

    /// Deletes messages, failovers, dedupe keys and finished outbox rows older than
    /// `beforeMs`, and sessions idle since then. Returns the number of rows removed.
    func purge(beforeMs: Int64) throws -> Int
    /// Sessions whose last activity lies in [fromMs, toMs): they expired when the session
    /// timeout passed (for `session.expired` events).
    func sessionsWithLastActivity(fromMs: Int64, toMs: Int64) throws -> [(id: Int64, agent: String)]
    func close()
}

/// Opens the store named by `store.url`, applying migrations.
/// `timerLoop`: where PostgreSQL's deferred unlocks are timed (the runtime's timer loop; nil:
/// NIO's shared group).
/// `exclusive`: the gateway's own store, which claims a SQLite file for this process
/// (`SQLiteOwnerLock`); commands that only read or maintain the store leave it false.
public func openStore(url: String, configDir: String, lockConnections: Int, timerLoop: (any EventLoop)? = nil,
                      logger: Logger? = nil, exclusive: Bool = false) throws -> any Store {
    if url.hasPrefix("sqlite:") {
        var path = String(url.dropFirst("sqlite:".count))
        if !path.hasPrefix("/") && path != ":memory:" { path = (configDir as NSString).appendingPathComponent(path) }
        return try SQLStore(sqlitePath: path, exclusive: exclusive)
    }
    if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
        return try SQLStore(postgresURL: url, lockConnections: lockConnections, timerLoop: timerLoop, logger: logger)
    }
    throw StoreError("store.url: expected sqlite:PATH or postgres://..., got '\(Redactor.redactURL(url))'")
}
