import Foundation
import Logging
import NIOCore
import Synchronization

/// The `Store` over SQLite or PostgreSQL: the same statements, two connection kinds.
///
/// - SQLite: one connection serialised by the pool (WAL, synchronous=NORMAL); the
///   conversation lock is a no-op because the router already runs one turn per
///   conversation at a time in-process and a SQLite store serves one gateway process.
/// - PostgreSQL: a pool of connections for statements plus a pool of lock connections,
///   each holding a session-level advisory lock (`pg_advisory_lock`) for one conversation
///   while its turn runs — ordering and atomic session creation across processes.
///
/// Threading: all methods are thread-safe and blocking.
public final class SQLStore: Store, Sendable {
    public let backend: String
    let dialect: SQLDialect
    let pool: ConnectionPool
    /// Where `turnContext` reads. SQLite (WAL): reader connections of their own, so a turn's
    /// reads neither wait for the group-commit writer's batch nor hold up the writer on the
    /// one write connection; a conversation's previous turn has committed before its next
    /// turn reads. PostgreSQL (and SQLite in memory, one database per connection): `pool`.
    let readPool: ConnectionPool
    /// SQLite opened by the gateway: its claim on the file (see `SQLiteOwnerLock`).
    private let owner: SQLiteOwnerLock?
    /// SQLite on disk: WAL checkpoints mostly off the write path.
    private let checkpointer: SQLiteCheckpointer?
    private let lockPool: ConnectionPool?
    /// PostgreSQL: sends the deferred unlocks of lock connections that stay idle.
    let unlockFlusher: DeferredFlusher?
    /// The largest history depth a turn may ask for (0: unknown). When set, PostgreSQL reads
    /// that much history in the same round trip as the turn's context (see `readContext`).
    private let historyBound = Atomic<Int>(0)
    /// How long the retention job keeps messages, in ms (0: unknown). PostgreSQL serves a
    /// history from `historyCache` only when it is known (see `readPostgresContext`).
    let retentionMs = Atomic<Int64>(0)
    private let pingPool: ConnectionPool
    /// Turn writes (begin/finish) go through group commit.
    let writer: GroupCommitter
    /// Recent sessions' history, so most turns skip the history `SELECT`. See `HistoryCache`
    /// for what keeps it right; on PostgreSQL, which other processes write, its entries are
    /// checked against the session's message count (`readPostgresContext`).
    let historyCache: HistoryCache?

    /// - Parameters:
    ///   - walRestartFrames: WAL size (frames) at which the checkpointer restarts the WAL
    ///     between two batches (see `SQLiteCheckpointer`).
    ///   - walAutocheckpoint: the write connection's own automatic checkpoint (frames), a
    ///     fallback should the checkpointer fall behind; default twice `walRestartFrames`,
    ///     0 turns it off (tests).
    ///   - exclusive: claim the file for this process (`SQLiteOwnerLock`): the gateway does,
    ///     commands that only read or maintain the store do not.
    init(sqlitePath: String, walRestartFrames: Int = 16000, walAutocheckpoint: Int? = nil, exclusive: Bool = false) throws {
        backend = "sqlite"
        dialect = .sqlite
        owner = exclusive && sqlitePath != ":memory:" && !sqlitePath.hasPrefix("file:") ? try SQLiteOwnerLock(databasePath: sqlitePath) : nil
        let onDisk = sqlitePath != ":memory:"
        let autockpt = walAutocheckpoint ?? walRestartFrames * 2
        let writePool = ConnectionPool(max: 1) {
            let c = try SQLiteConnection(path: sqlitePath)
            // Checkpoints and WAL restarts happen on the checkpointer's thread (see
            // SQLiteCheckpointer); the write connection's own is a fallback, well above.
            if onDisk { try c.execute("PRAGMA wal_autocheckpoint=\(autockpt)") }
            return c
        }
        pool = writePool
        readPool = sqlitePath == ":memory:" ? pool : ConnectionPool(max: 4) { try SQLiteConnection(path: sqlitePath) }
        lockPool = nil
        unlockFlusher = nil
        pingPool = ConnectionPool(max: 1) { try SQLiteConnection(path: sqlitePath) }
        writer = GroupCommitter(pool: pool)
        historyCache = HistoryCache()
        try pool.with { try StoreMigrations.apply($0) }
        // The checkpointer's gate: holding the only write connection, no batch is open or begins.
        let gate: @Sendable (() -> Void) -> Void = { body in _ = try? writePool.with { _ in body() } }
        checkpointer = onDisk ? SQLiteCheckpointer(path: sqlitePath, restartFrames: walRestartFrames, exclusive: gate) : nil
    }

    /// `timerLoop`: where the deferred unlocks are timed (the runtime's timer loop; nil: NIO's
    /// shared group). `logger`: where a server short of connections is reported (at start-up
    /// if its `max_connections` leaves fewer than this process may open, and whenever it
    /// refuses one; see `ConnectionPool`).
    init(postgresURL: String, connections: Int = 12, lockConnections: Int, timerLoop: (any EventLoop)? = nil,
         logger: Logger? = nil) throws {
        backend = "postgres"
        dialect = .postgres
        owner = nil
        let demand = connections + lockConnections + 1   // the pools below, the ping's included
        let shortfall = { (name: String) -> (@Sendable (any Error) -> Void)? in
            guard let logger else { return nil }
            return { error in
                // SQLSTATE 53300 (too_many_connections) has these two texts; a server shutting
                // down or starting up refuses too, and then the advice would mislead.
                let text = "\(error)"
                let full = text.contains("too many clients") || text.contains("remaining connection slots")
                let advice = full ? ". This process may open \(demand) connections (\(connections) + routing.max_concurrent + 1): raise the server's max_connections or lower routing.max_concurrent" : ""
                logger.warning("store: PostgreSQL refused a new \(name) connection (\(text)); turns wait for the pool's open ones\(advice)")
            }
        }
        pool = ConnectionPool(max: connections, onShortfall: shortfall("statement")) { try PostgresConnection(url: postgresURL) }
        readPool = pool
        checkpointer = nil
        let locks = ConnectionPool(max: lockConnections, onShortfall: shortfall("conversation-lock")) {
            let c = try PostgresConnection(url: postgresURL)
            // Prepared up front: a release defers it, and must not wait for a round trip.
            try c.prepare(Self.unlockSQL, parameters: 1)
            return c
        }
        lockPool = locks
        unlockFlusher = DeferredFlusher(pool: locks, timer: SlotTimer(loop: timerLoop ?? SlotTimer.fallbackLoop, granularity: 0.001))
        pingPool = ConnectionPool(max: 1) { try PostgresConnection(url: postgresURL) }
        writer = GroupCommitter(pool: pool, writers: 2)
        historyCache = HistoryCache()   // versioned: other processes write the same sessions
        try pool.with { try StoreMigrations.apply($0) }
        if let logger, let allowed = try? pool.with({ try $0.one(Self.connectionsAllowedSQL, [])?[0].int }), allowed < demand {
            logger.warning("store: PostgreSQL allows this role \(allowed) connections (max_connections, less the reserved ones) and this process may open \(demand) (\(connections) + routing.max_concurrent + 1); under load turns will wait for connections. Raise max_connections (for every gateway process on the database) or lower routing.max_concurrent")
        }
    }

    /// How many connections the server lets the current role open: `max_connections`, less
    /// `superuser_reserved_connections` unless the role is a superuser.
    static let connectionsAllowedSQL = """
        SELECT current_setting('max_connections')::int
             - CASE WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN 0
                    ELSE current_setting('superuser_reserved_connections')::int END
        """

    /// The SQLite checkpointer's counters (nil without one: PostgreSQL, SQLite in memory).
    var checkpointStats: SQLiteCheckpointer.Stats? { checkpointer?.stats }

    public func close() { unlockFlusher?.stop(); checkpointer?.stop(); writer.shutdown(); pool.closeAll(); readPool.closeAll(); lockPool?.closeAll(); pingPool.closeAll(); owner?.release() }

    /// Uses its own connection (a pool of one), so /readyz never queues behind turns
    /// for the busy statement pool and answers quickly from the event loop.
    public func ping() -> Bool {
        (try? pingPool.with { try $0.one("SELECT 1", [])?[0].int }) == 1
    }

    public func syncAgents(_ agents: [AgentEntry]) throws {
        try pool.with { c in
            try c.transaction {
                for a in agents {
                    try c.query("""
                        INSERT INTO agents (name, transport, max_sessions, history_depth, updated_ms) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (name) DO UPDATE SET transport = excluded.transport, max_sessions = excluded.max_sessions,
                        history_depth = excluded.history_depth, updated_ms = excluded.updated_ms, source = 'config'
                        """, [.text(a.name), .text(a.transport), .int(Int64(a.maxSessions ?? 0)),
                              a.historyDepth.map { .int(Int64($0)) } ?? .null, .int(nowMillis())])
                }
            }
        }
    }

    /// Threads a router should give blocking store work: SQLite serialises on one
    /// connection (more threads only add hand-offs); PostgreSQL threads also wait on
    /// conversation locks.
    public var suggestedThreads: Int { dialect == .sqlite ? 24 : 0 }

    // MARK: conversation lock

    private final class NoLock: ConversationLock, Sendable {
        func release() {}
        var releaseMayBlock: Bool { false }
    }

    static let lockSQL = "SELECT pg_advisory_lock(hashtextextended(?, 0))"
    static let unlockSQL = "SELECT pg_advisory_unlock(hashtextextended(?, 0))"

    /// Owned by one turn (one thread at a time: the turn's, then whoever releases it).
    ///
    /// `release` does not wait for the server: the unlock is deferred on the lock connection,
    /// which goes back to the pool; the next user of that connection sends the unlock ahead
    /// of its own first statement (same round trip), or, if nobody takes the connection
    /// within about a millisecond, `flusher` sends it. A conversation's next turn in this
    /// process prefers that connection (`lockConversationForTurn`), so it never waits for
    /// the flusher; another process waits at most about that millisecond longer.
    /// Unchecked Sendable: owned by one turn at a time (handed from the turn to the unlock flusher,
    /// never shared); `conn` is used only by that owner; `pending` is written before the hand-over.
    private final class AdvisoryLock: ConversationLock, @unchecked Sendable {
        let conn: PostgresConnection
        let pool: ConnectionPool
        let flusher: DeferredFlusher?
        let key: String
        /// The lock statement is deferred on `conn` (not yet sent): `turnContext` sends it.
        var pending: Bool
        /// Statements deferred on `conn` before the lock statement (a previous unlock), and
        /// that unlock's key.
        let deferredBefore: Int
        let priorKey: String?
        init(conn: PostgresConnection, pool: ConnectionPool, flusher: DeferredFlusher?, key: String, pending: Bool = false,
             deferredBefore: Int = 0, priorKey: String? = nil) {
            self.conn = conn; self.pool = pool; self.flusher = flusher; self.key = key; self.pending = pending
            self.deferredBefore = deferredBefore; self.priorKey = priorKey
        }
        var releaseMayBlock: Bool { false }
        func release() {
            // A connection that failed (server gone, network): closing it drops its locks; back
            // in the pool it would fail its next turns until the flusher noticed.
            if conn.isBroken { return pool.release(conn, broken: true) }
            if pending {   // never sent: nothing to unlock (an older deferred unlock stays)
                conn.discardDeferred(keeping: deferredBefore)
                conn.unlockKey = deferredBefore > 0 ? priorKey : nil
            } else {
                do { try conn.send(SQLStore.unlockSQL, [.text(key)]) } catch {
                    return pool.release(conn, broken: true)   // closing the connection drops its locks
                }
                conn.unlockKey = key
            }
            let idleWork = conn.deferredCount > 0
            pool.release(conn)
            if idleWork { flusher?.schedule(conn) }
        }
    }

    public func lockConversation(_ key: String) throws -> any ConversationLock {
        guard let lockPool else { return NoLock() }
        let c = try lockPool.acquire() as! PostgresConnection
        do {
            try c.query(Self.lockSQL, [.text(key)])   // after the connection's deferred unlock, if any
        } catch {
            lockPool.release(c, broken: true)
            throw error
        }
        c.unlockKey = nil
        return AdvisoryLock(conn: c, pool: lockPool, flusher: unlockFlusher, key: key)
    }

    /// PostgreSQL: the lock statement is deferred on the lock connection; `turnContext`
    /// given this lock sends it together with its first read (one round trip).
    public func lockConversationForTurn(_ key: String) throws -> any ConversationLock {
        guard let lockPool else { return NoLock() }
        // The connection whose deferred unlock still holds this conversation, if idle: its
        // pipeline unlocks and locks again, so this turn never waits for the flusher.
        let c = try lockPool.acquire(preferring: { ($0 as! PostgresConnection).unlockKey == key }) as! PostgresConnection
        let prior = c.unlockKey
        c.unlockKey = nil   // its deferred unlock (if any) goes with this turn's first read
        let before = c.deferredCount
        do {
            try c.send(Self.lockSQL, [.text(key)])
        } catch {
            lockPool.release(c, broken: true)
            throw error
        }
        return AdvisoryLock(conn: c, pool: lockPool, flusher: unlockFlusher, key: key, pending: true, deferredBefore: before,
                            priorKey: prior)
    }

    /// The largest history depth any turn will ask `turnContext` for (the router sets it
    /// before traffic). With it, PostgreSQL reads the history in the context's round trip.
    public func setHistoryDepthBound(_ depth: Int) { historyBound.store(max(0, depth), ordering: .relaxed) }

    public func setRetention(seconds: Double) {
        retentionMs.store(seconds > 0 ? Int64(min(seconds, 1e12) * 1000) : 0, ordering: .relaxed)
    }

    // MARK: turns

    public func dedupe(channel: String, channelMessageId: String) throws -> DedupeState? {
        try pool.with { c in
            guard let row = try c.one("SELECT reply FROM dedupe_keys WHERE channel = ? AND channel_message_id = ?",
                                      [.text(channel), .text(channelMessageId)]) else { return nil }
            return row[0].text.map { .replied($0) } ?? .pending
        }
    }

    public func turnContext(channel: String, channelMessageId: String, remote: String, local: String, sinceMs: Int64,
                            under lock: (any ConversationLock)?, historyDepth: (String) -> Int) throws -> TurnContext {
        // Two statements instead of four (on PostgreSQL, two round trips): the dedupe key,
        // the opt-out and the active session in one row (each lookup is by a unique key or
        // LIMIT 1, so the joins give exactly one row), then the session's history.
        // PostgreSQL with a pending turn lock: on the lock's connection, the first statement
        // pipelined behind the deferred lock statement (the server runs it once the lock is held).
        let advisory = lock as? AdvisoryLock
        if let lock = advisory, lock.pending {
            lock.pending = false   // sent now; if that fails, release unlocks or drops the connection
            return try readContext(lock.conn, channel: channel, channelMessageId: channelMessageId, remote: remote, local: local,
                                   sinceMs: sinceMs, conversation: lock.key, historyDepth: historyDepth)
        }
        return try readPool.with { c in
            try readContext(c, channel: channel, channelMessageId: channelMessageId, remote: remote, local: local,
                            sinceMs: sinceMs, conversation: advisory?.key, historyDepth: historyDepth)
        }
    }

    /// `conversation`: the turn lock's key (`conversationKey`), if the turn holds one.
    private func readContext(_ c: any SQLConnection, channel: String, channelMessageId: String, remote: String, local: String,
                             sinceMs: Int64, conversation: String?, historyDepth: (String) -> Int) throws -> TurnContext {
        let contextParams: [SQLValue] = [.text(channel), .text(channelMessageId), .text(channel), .text(remote),
                                         .text(channel), .text(remote), .text(local), .int(sinceMs)]
        // PostgreSQL with a known bound: the history with the context, or from the cache.
        let bound = historyBound.load(ordering: .relaxed)
        if bound > 0, let pg = c as? PostgresConnection {
            return try readPostgresContext(pg, contextParams, channel: channel, remote: remote, local: local, sinceMs: sinceMs,
                                           conversation: conversation ?? conversationKey(channel: channel, remote: remote, local: local),
                                           bound: bound, historyDepth: historyDepth)
        }
        let sql = c.dialect == .sqlite ? Self.sqliteContextSQL : Self.contextSQL
        guard let r = try c.one(sql, contextParams) else { throw StoreError("turn context query returned no row") }
        if let repeated = Self.repeated(r) { return repeated }
        let s = r[3].isNull ? nil : Self.session(Array(r[3...]))
        let h = try s.map { s -> [HistoryEntry] in
            let limit = historyDepth(s.agent)
            // Unversioned entries: only where this process is the only writer.
            guard let cache = historyCache, c.dialect == .sqlite else { return try Self.history(c, sessionId: s.id, limit: limit) }
            if let h = cache.get(s.id, limit: limit) { return h }
            let generation = cache.generation
            let h = try Self.history(c, sessionId: s.id, limit: limit)
            cache.fill(s.id, h, limit: limit, generation: generation)
            return h
        } ?? []
        return TurnContext(dedupe: nil, optedOut: !r[2].isNull, session: s, history: h)
    }

    /// The history of the session `contextSQL` finds (channel, remote, local, since), newest
    /// first, with each row's session id, up to a limit.
    static let conversationHistorySQL = """
        SELECT session_id, direction, body, created_ms, role, media FROM messages
        WHERE session_id = (SELECT id FROM sessions WHERE channel = ? AND remote = ? AND local = ? AND \(activeCondition)
                            ORDER BY last_ms DESC LIMIT 1)
        ORDER BY id DESC LIMIT ?
        """
    static let sessionColumns = "id, channel, remote, local, agent, state, created_ms, last_ms, operator, handoff_ms"
    static let sessionColumnCount = 10
    /// The context row's column holding the session's `message_count` (PostgreSQL's history
    /// cache checks its entries against it): after the dedupe key, opt-out and session.
    static let contextCountColumn = 3 + sessionColumnCount
    /// A conversation's current session: active since the `?` (now − session timeout), or
    /// held by an operator / waiting for one (sticky until released), and not closed.
    static let activeCondition = "(last_ms >= ? OR operator IS NOT NULL OR handoff_ms IS NOT NULL) AND closed_ms IS NULL"
    /// `sessionColumns` of the sessions row aliased `s`.
    static let sessionColumnsOfS = sessionColumns.split(separator: ",").map { "s." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")
    /// `turnContext`'s first statement: dedupe key (present, reply), opt-out, active session
    /// and its message count.
    static let contextSQL = contextSQL(session: """
        LEFT JOIN (SELECT \(sessionColumns), message_count FROM sessions WHERE channel = ? AND remote = ? AND local = ? AND \(activeCondition)
                   ORDER BY last_ms DESC LIMIT 1) s ON 1 = 1
        """)
    /// `contextSQL` for SQLite, the same parameters and row: the session is joined by the id
    /// a scalar subquery finds (evaluated once). SQLite materialises `contextSQL`'s joined
    /// `SELECT … LIMIT 1` into a temporary b-tree on every turn (a pager opened, its pages
    /// allocated, and closed); PostgreSQL runs either form as an index scan, and keeps the
    /// one bench/postgres's pgbench scripts copy.
    static let sqliteContextSQL = contextSQL(session: """
        LEFT JOIN sessions s ON s.id = (SELECT id FROM sessions WHERE channel = ? AND remote = ? AND local = ? AND \(activeCondition)
                                        ORDER BY last_ms DESC LIMIT 1)
        """)
    private static func contextSQL(session join: String) -> String {
        """
        SELECT d.channel_message_id, d.reply, o.keyword, \(sessionColumnsOfS), s.message_count
        FROM (SELECT 1 AS one) k
        LEFT JOIN dedupe_keys d ON d.channel = ? AND d.channel_message_id = ?
        LEFT JOIN opt_outs o ON o.channel = ? AND o.remote = ?
        \(join)
        """
    }
    /// A context row whose dedupe key is there (a repeated message): the whole context.
    static func repeated(_ r: [SQLValue]) -> TurnContext? {
        r[0].isNull ? nil : TurnContext(dedupe: r[1].text.map { .replied($0) } ?? .pending, optedOut: false, session: nil, history: [])
    }
    static func session(_ r: [SQLValue]) -> SessionRecord {
        SessionRecord(id: r[0].int ?? 0, channel: r[1].text ?? "", remote: r[2].text ?? "", local: r[3].text ?? "",
                      agent: r[4].text ?? "", state: r[5].text ?? "", createdMs: r[6].int ?? 0, lastMs: r[7].int ?? 0,
                      held: r.count > 9 && (!r[8].isNull || !r[9].isNull))
    }

    public func activeSession(channel: String, remote: String, local: String, sinceMs: Int64) throws -> SessionRecord? {
        try pool.with { c in
            try c.one("""
                SELECT \(Self.sessionColumns) FROM sessions WHERE channel = ? AND remote = ? AND local = ? AND \(Self.activeCondition)
                ORDER BY last_ms DESC LIMIT 1
                """, [.text(channel), .text(remote), .text(local), .int(sinceMs)]).map(Self.session)
        }
    }

    public func activeSessionCounts(sinceMs: Int64) throws -> [String: Int] {
        try pool.with { c in
            let names = try c.query("SELECT name FROM agents", []).compactMap { $0[0].text }
            var out: [String: Int] = [:]
            for n in names {
                out[n] = Int(try c.one("SELECT COUNT(*) FROM sessions WHERE agent = ? AND last_ms >= ?", [.text(n), .int(sinceMs)])?[0].int ?? 0)
            }
            return out
        }
    }

    public func beginTurn(_ t: TurnStart) throws -> (SessionRecord, messageId: Int64) {
        defer { if let id = t.sessionId { historyCache?.invalidate(id) } }
        return try writer.write { c in
            HopProbe.record("store.begin_turn", correlation: "\(t.channel):\(t.channelMessageId)")
            if c.dialect == .postgres { return try Self.beginTurnPostgres(c, t) }
            guard let lite = c as? SQLiteConnection else { throw StoreError("beginTurn: not a SQLite connection") }
            return try {
                let session: SessionRecord
                if let id = t.sessionId {
                    let update = Self.beginSessionUpdate(t.recordsActivity, nowMs: t.nowMs, [.int(id)])
                    guard let r = try c.one(update.sql, update.params) else { throw StoreError("session \(id) vanished") }
                    session = Self.session(r)
                } else {
                    // The new row's id from the connection, not `RETURNING` (see `SQLiteConnection.run`):
                    // every other column is what this statement wrote.
                    guard let agent = t.newAgent else { throw StoreError("beginTurn: neither a session nor an agent") }
                    let id = try lite.run("""
                        INSERT INTO sessions (channel, remote, local, agent, state, created_ms, last_ms, message_count)
                        VALUES (?, ?, ?, ?, '', ?, ?, 1)
                        """, [.text(t.channel), .text(t.remote), .text(t.local), .text(agent), .int(t.nowMs), .int(t.nowMs)]).lastRowid
                    session = SessionRecord(id: id, channel: t.channel, remote: t.remote, local: t.local, agent: agent, state: "",
                                            createdMs: t.nowMs, lastMs: t.nowMs)
                }
                let mid = try lite.run("""
                    INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
                        created_ms, remote, local, media) VALUES (?, 'in', ?, 'received', ?, ?, 1, ?, ?, ?, ?, ?)
                    """, [.int(session.id), .text(t.text), .text(t.channel), .text(t.channelMessageId), .text(session.agent),
                          .int(t.nowMs), .text(t.remote), .text(t.local), Self.media(t.media)]).lastRowid
                try c.query("INSERT INTO dedupe_keys (channel, channel_message_id, message_id, created_ms) VALUES (?, ?, ?, ?)",
                            [.text(t.channel), .text(t.channelMessageId), .int(mid), .int(t.nowMs)])
                return (session, mid)
            }()
        }
    }

    /// PostgreSQL: `beginTurn`'s three statements (session, inbound message, dedupe key) as
    /// data-modifying CTEs of one statement: one round trip inside the unit instead of three.
    private static func beginTurnPostgres(_ c: any SQLConnection, _ t: TurnStart) throws -> (SessionRecord, messageId: Int64) {
        let sql: String
        let sessionParams: [SQLValue]
        if let id = t.sessionId {
            (sql, sessionParams) = beginExistingUpdate(t.recordsActivity, nowMs: t.nowMs, [.int(id)])
        } else {
            guard let agent = t.newAgent else { throw StoreError("beginTurn: neither a session nor an agent") }
            sql = beginNewSQL
            sessionParams = [.text(t.channel), .text(t.remote), .text(t.local), .text(agent), .int(t.nowMs), .int(t.nowMs)]
        }
        guard let r = try c.one(sql, sessionParams + [.text(t.text), .text(t.channel), .text(t.channelMessageId), .int(t.nowMs),
                                                      .text(t.remote), .text(t.local), media(t.media),
                                                      .text(t.channel), .text(t.channelMessageId), .int(t.nowMs)]) else {
            throw StoreError(t.sessionId.map { "session \($0) vanished" } ?? "session insert returned nothing")
        }
        return (session(Array(r.prefix(sessionColumnCount))), r[sessionColumnCount].int ?? 0)
    }

    private static func beginSQL(session: String) -> String {
        """
        WITH s AS (\(session)),
        m AS (INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
                  created_ms, remote, local, media)
              SELECT s.id, 'in', ?, 'received', ?, ?, 1, s.agent, ?, ?, ?, ? FROM s RETURNING id),
        d AS (INSERT INTO dedupe_keys (channel, channel_message_id, message_id, created_ms) SELECT ?, ?, m.id, ? FROM m)
        SELECT \(sessionColumnsOfS), m.id
        FROM s, m
        """
    }
    /// `beginTurn`'s update of a sticky session (its row returned), alone (SQLite) and with
    /// the inbound message and its dedupe key (PostgreSQL).
    static let beginSessionSQL = "UPDATE sessions SET last_ms = ?, message_count = message_count + 1 WHERE id = ? RETURNING \(sessionColumns)"
    static let beginSessionUpdate = ActivityUpdate(beginSessionSQL)
    static let beginExistingUpdate = ActivityUpdate(beginSQL(session: beginSessionSQL))
    static let beginNewSQL = beginSQL(session: """
        INSERT INTO sessions (channel, remote, local, agent, state, created_ms, last_ms, message_count)
        VALUES (?, ?, ?, ?, '', ?, ?, 1) RETURNING \(sessionColumns)
        """)

    /// Its statements need no result: `send` lets PostgreSQL run them in one round trip.
    public func finishTurn(_ t: TurnFinish) throws {
        defer { historyCache?.invalidate(t.sessionId) }
        try writer.write { c in try self.finishTurnUnit(c, t) }
    }

    /// `finishTurn` as a group-commit unit the caller does not wait for: `completion` runs on
    /// the writer thread after the commit (the history cache is invalidated first, before
    /// the conversation's next turn can read).
    public func finishTurn(_ t: TurnFinish, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        writer.submit({ c in try self.finishTurnUnit(c, t) }, completion: { [historyCache] r in
            historyCache?.invalidate(t.sessionId)
            completion(r)
        })
    }

    private func finishTurnUnit(_ c: any SQLConnection, _ t: TurnFinish) throws {
        HopProbe.record("store.finish_turn", correlation: "\(t.channel):\(t.channelMessageId)")
        let outbound: [SQLValue] = [.int(t.sessionId), .text(t.reply), .text(t.outbox == nil ? "replied_inline" : "queued"), .text(t.agent),
                                    .int(t.processingMs), .int(t.nowMs), Self.media(t.replyMedia), .int(t.sessionId)]
        let inbound: [SQLValue] = [.int(t.processingMs), .int(t.inboundMessageId)]
        let dedupe: [SQLValue] = [.text(t.reply), .text(t.channel), .text(t.channelMessageId)]
        let session: [SQLValue] = [t.sessionState.map { .text($0) } ?? .null, .int(t.sessionId)]
        if c.dialect == .postgres {
            // The four as data-modifying CTEs of one statement (one executor start
            // instead of four), deferred like them.
            let update = Self.finishTurnUpdate(t.recordsActivity, nowMs: t.nowMs, session)
            try c.send(update.sql, outbound + inbound + dedupe + update.params)
        } else {
            try c.send(Self.finishOutboundSQL, outbound)
            try c.send(Self.finishInboundSQL, inbound)
            try c.send(Self.finishDedupeSQL, dedupe)
            let update = Self.finishSessionUpdate(t.recordsActivity, nowMs: t.nowMs, session)
            try c.send(update.sql, update.params)
        }
        if let o = t.outbox { try insertOutbox(c, o, t.nowMs) }
        if !t.usage.isEmpty { _ = try writeUsage(c, t.usage, nowMs: t.nowMs) }
    }

    /// `finishTurn`'s statements: the reply (its session's channel and numbers), the inbound
    /// message answered, the dedupe key's reply, the session's activity and state. A
    /// vanished session inserts and updates nothing, as before.
    static let finishOutboundSQL = """
        INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
            processing_ms, created_ms, remote, local, media)
        SELECT ?, 'out', ?, ?, channel, NULL, 1, ?, ?, ?, remote, local, ? FROM sessions WHERE id = ?
        """
    static let finishInboundSQL = "UPDATE messages SET status = 'answered', processing_ms = ? WHERE id = ?"
    static let finishDedupeSQL = "UPDATE dedupe_keys SET reply = ? WHERE channel = ? AND channel_message_id = ?"
    static let finishSessionSQL = "UPDATE sessions SET last_ms = ?, message_count = message_count + 1, state = COALESCE(?, state) WHERE id = ?"
    /// PostgreSQL: the four in one statement. Every sub-statement sees the snapshot from
    /// before the statement (the reply reads the session's numbers, which the update does not
    /// change) and each touches other rows (the reply is a new row; the inbound message is
    /// the one `beginTurn` inserted), so the effect is that of the four in order.
    static let finishTurnSQL = """
        WITH o AS (\(finishOutboundSQL)),
        i AS (\(finishInboundSQL)),
        d AS (\(finishDedupeSQL))
        \(finishSessionSQL)
        """
    static let finishSessionUpdate = ActivityUpdate(finishSessionSQL)
    static let finishTurnUpdate = ActivityUpdate(finishTurnSQL)

    /// The whole turn of an existing session whose agent already answered, as one
    /// group-commit unit of four statements instead of `beginTurn` + `finishTurn`'s seven:
    /// one `UPDATE sessions` (both messages counted, the state set), the inbound message
    /// inserted already answered, the dedupe key inserted already with its reply, the
    /// outbound message; plus the outbox row and the usage rows, as in `finishTurn`.
    /// The caller does not wait: `completion` runs on the writer thread after the commit.
    /// `finish` runs inside the unit (possibly twice, see GroupCommitter) and must not block.
    public func writeAnsweredTurn(_ t: TurnStart, finish: @escaping @Sendable () -> TurnFinish,
                                  completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard let sessionId = t.sessionId else {
            return completion(.failure(StoreError("writeAnsweredTurn: the turn has no session")))
        }
        guard let cache = historyCache else {
            return writer.submit({ c in try self.answeredTurn(c, t, sessionId: sessionId, finish()) }, completion: completion)
        }
        writer.submit({ c -> TurnFinish in
            let f = finish()
            try self.answeredTurn(c, t, sessionId: sessionId, f)
            return f
        }, completion: { r in
            // After the commit, before the conversation's next turn can read.
            switch r {
            case .success(let f):
                cache.append(sessionId, [HistoryEntry(role: "user", text: t.text, timeMs: t.nowMs, media: t.media),
                                         HistoryEntry(role: "assistant", text: f.reply, timeMs: f.nowMs, media: f.replyMedia)])
                completion(.success(()))
            case .failure(let e):
                cache.invalidate(sessionId)
                completion(.failure(e))
            }
        })
    }

    private func answeredTurn(_ c: any SQLConnection, _ t: TurnStart, sessionId: Int64, _ f: TurnFinish) throws {
        HopProbe.record("store.answered_turn", correlation: "\(t.channel):\(t.channelMessageId)")
        let inboundParams: [SQLValue] = [.text(t.text), .text(t.channel), .text(t.channelMessageId), .text(f.agent),
                                         .int(f.processingMs), .int(t.nowMs), .text(t.remote), .text(t.local), Self.media(t.media)]
        let session: [SQLValue] = [f.sessionState.map { .text($0) } ?? .null, .int(sessionId)]
        let outbound: [SQLValue] = [.int(sessionId), .text(f.reply), .text(f.outbox == nil ? "replied_inline" : "queued"), .text(t.channel),
                                    .text(f.agent), .int(f.processingMs), .int(f.nowMs), .text(t.remote), .text(t.local),
                                    Self.media(f.replyMedia)]
        let outboundSQL = """
            INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
                processing_ms, created_ms, remote, local, media) VALUES (?, 'out', ?, ?, ?, NULL, 1, ?, ?, ?, ?, ?, ?)
            """
        if dialect == .postgres {
            // One statement, deferred: it goes to the server with the batch's COMMIT
            // (GroupCommitter), in one round trip. The session update, the inbound message,
            // its dedupe key and the outbound message are data-modifying CTEs of one
            // statement (one executor start, one parse of the parameters, instead of four).
            // The outbound message reads `m`, so it is inserted after the inbound one (its id
            // is larger: history order). A vanished session inserts nothing and fails the
            // unit (the final SELECT divides by zero).
            let update = Self.answeredTurnUpdate(f.recordsActivity, nowMs: f.nowMs, session)
            try c.send(update.sql, update.params + inboundParams
                        + [.text(t.channel), .text(t.channelMessageId), .text(f.reply), .int(t.nowMs)]
                        + Array(outbound.dropFirst()))
        } else {
            // Changes and the new rowid from the connection, not `RETURNING` (see `run`).
            guard let lite = c as? SQLiteConnection else { throw StoreError("answeredTurn: not a SQLite connection") }
            let update = Self.answeredSessionUpdate(f.recordsActivity, nowMs: f.nowMs, session)
            guard try lite.run(update.sql, update.params).changes == 1
            else { throw StoreError("session \(sessionId) vanished") }
            let inbound = try lite.run("""
                INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
                    processing_ms, created_ms, remote, local, media) VALUES (?, 'in', ?, 'answered', ?, ?, 1, ?, ?, ?, ?, ?, ?)
                """, [.int(sessionId)] + inboundParams).lastRowid
            try c.query("INSERT INTO dedupe_keys (channel, channel_message_id, message_id, reply, created_ms) VALUES (?, ?, ?, ?, ?)",
                        [.text(t.channel), .text(t.channelMessageId), .int(inbound), .text(f.reply), .int(t.nowMs)])
            try c.query(outboundSQL, outbound)
        }
        if let o = f.outbox { try insertOutbox(c, o, f.nowMs) }
        if !f.usage.isEmpty { _ = try writeUsage(c, f.usage, nowMs: f.nowMs) }
    }

    /// SQLite: `answeredTurn`'s session update (both messages counted, the state set).
    static let answeredSessionSQL = "UPDATE sessions SET last_ms = ?, message_count = message_count + 2, state = COALESCE(?, state) WHERE id = ?"
    static let answeredSessionUpdate = ActivityUpdate(answeredSessionSQL)
    static let answeredTurnUpdate = ActivityUpdate(answeredTurnSQL)

    /// PostgreSQL: `writeAnsweredTurn`'s records in one statement (see `answeredTurn`).
    static let answeredTurnSQL = """
        WITH s AS (UPDATE sessions SET last_ms = ?, message_count = message_count + 2, state = COALESCE(?, state)
                   WHERE id = ? RETURNING id),
        m AS (INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
                  processing_ms, created_ms, remote, local, media)
              SELECT s.id, 'in', ?, 'answered', ?, ?, 1, ?, ?, ?, ?, ?, ? FROM s RETURNING id, session_id),
        d AS (INSERT INTO dedupe_keys (channel, channel_message_id, message_id, reply, created_ms)
              SELECT ?, ?, m.id, ?, ? FROM m),
        o AS (INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,
                  processing_ms, created_ms, remote, local, media)
              SELECT m.session_id, 'out', ?, ?, ?, NULL, 1, ?, ?, ?, ?, ?, ? FROM m)
        SELECT 1 / COUNT(*) FROM m
        """

    public func unansweredInbound(channel: String, channelMessageId: String) throws -> (session: SessionRecord, messageId: Int64)? {
        try pool.with { c in
            guard let r = try c.one("""
                SELECT m.id, \(Self.sessionColumnsOfS)
                FROM dedupe_keys d JOIN messages m ON m.id = d.message_id JOIN sessions s ON s.id = m.session_id
                WHERE d.channel = ? AND d.channel_message_id = ? AND d.reply IS NULL
                """, [.text(channel), .text(channelMessageId)]) else { return nil }
            return (Self.session(Array(r.dropFirst())), r[0].int ?? 0)
        }
    }

    public func markInbound(messageId: Int64, status: String) throws {
        _ = try pool.with { try $0.query("UPDATE messages SET status = ? WHERE id = ?", [.text(status), .int(messageId)]) }
    }

    public func history(sessionId: Int64, limit: Int) throws -> [HistoryEntry] {
        try pool.with { try Self.history($0, sessionId: sessionId, limit: limit) }
    }

    static func history(_ c: any SQLConnection, sessionId: Int64, limit: Int) throws -> [HistoryEntry] {
        guard limit > 0 else { return [] }
        return historyEntries(try c.query("SELECT direction, body, created_ms, role, media FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT ?",
                                          [.int(sessionId), .int(Int64(limit))]))
    }

    /// Rows of (direction, body, created_ms, role, media), newest first → entries, oldest first.
    /// An operator's message (takeover) keeps its role; every other outbound one is the assistant's.
    static func historyEntries(_ rows: [[SQLValue]]) -> [HistoryEntry] {
        rows.reversed().map {
            HistoryEntry(role: $0[0].text == "in" ? "user" : ($0.count > 3 && $0[3].text == "operator" ? "operator" : "assistant"),
                         text: $0[1].text ?? "", timeMs: $0[2].int ?? 0, media: $0.count > 4 ? $0[4].text : nil)
        }
    }

    /// A `MediaJSON` column value: NULL for none.
    static func media(_ json: String?) -> SQLValue { json.map { .text($0) } ?? .null }

    public func failover(sessionId: Int64, from: String, to: String, reason: String, nowMs: Int64) throws {
        try pool.with { c in
            try c.transaction {
                try c.query("UPDATE sessions SET agent = ?, state = '' WHERE id = ?", [.text(to), .int(sessionId)])
                try c.query("INSERT INTO failovers (session_id, old_agent, new_agent, reason, created_ms) VALUES (?, ?, ?, ?, ?)",
                            [.int(sessionId), .text(from), .text(to), .text(reason), .int(nowMs)])
            }
        }
    }

    // MARK: compliance

    public func setOptOut(channel: String, remote: String, keyword: String, nowMs: Int64) throws {
        _ = try pool.with { try $0.query("""
            INSERT INTO opt_outs (channel, remote, keyword, created_ms) VALUES (?, ?, ?, ?)
            ON CONFLICT (channel, remote) DO UPDATE SET keyword = excluded.keyword, created_ms = excluded.created_ms
            """, [.text(channel), .text(remote), .text(keyword), .int(nowMs)]) }
    }

    public func clearOptOut(channel: String, remote: String) throws {
        _ = try pool.with { try $0.query("DELETE FROM opt_outs WHERE channel = ? AND remote = ?", [.text(channel), .text(remote)]) }
    }

    public func isOptedOut(channel: String, remote: String) throws -> Bool {
        try pool.with { try $0.one("SELECT 1 FROM opt_outs WHERE channel = ? AND remote = ?", [.text(channel), .text(remote)]) != nil }
    }

    public func recordWithoutSession(channel: String, channelMessageId: String, remote: String, local: String,
                                     text: String, status: String, reply: String, nowMs: Int64, outbox: OutboxItem?) throws {
        try pool.with { c in
            try c.transaction {
                guard let mid = try c.one("""
                    INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, created_ms, remote, local)
                    VALUES (NULL, 'in', ?, ?, ?, ?, ?, ?, ?) RETURNING id
                    """, [.text(text), .text(status), .text(channel), .text(channelMessageId), .int(nowMs), .text(remote), .text(local)])?[0].int
                else { throw StoreError("message insert returned nothing") }
                if !reply.isEmpty {
                    try c.query("""
                        INSERT INTO messages (session_id, direction, body, status, channel, created_ms, remote, local)
                        VALUES (NULL, 'out', ?, ?, ?, ?, ?, ?)
                        """, [.text(reply), .text(outbox == nil ? "replied_inline" : "queued"), .text(channel), .int(nowMs), .text(remote), .text(local)])
                }
                if let o = outbox { try self.insertOutbox(c, o, nowMs) }
                try c.query("INSERT INTO dedupe_keys (channel, channel_message_id, message_id, reply, created_ms) VALUES (?, ?, ?, ?, ?)",
                            [.text(channel), .text(channelMessageId), .int(mid), .text(reply), .int(nowMs)])
            }
        }
    }

    // MARK: outbox

    private func insertOutbox(_ c: any SQLConnection, _ o: OutboxItem, _ nowMs: Int64) throws {
        try c.query("""
            INSERT INTO outbox (message_key, channel, to_number, from_number, body, correlation_id, state, attempts, next_ms, created_ms, media, metadata)
            VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?) ON CONFLICT (message_key) DO NOTHING
            """, [.text(o.messageKey), .text(o.channel), .text(o.to), .text(o.from), .text(o.text), .text(o.correlationId),
                  .int(nowMs), .int(nowMs), Self.media(o.media), Self.media(o.metadata)])
    }

    public func enqueueOutbox(_ item: OutboxItem, nowMs: Int64) throws {
        try pool.with { try insertOutbox($0, item, nowMs) }
    }

    public func claimOutbox(nowMs: Int64, limit: Int, leaseMs: Int64) throws -> [OutboxItem] {
        let skip = dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try pool.with { c in
            try c.transaction {
                try c.query("""
                    UPDATE outbox SET lease_until_ms = ? WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_ms <= ?
                    AND lease_until_ms <= ? ORDER BY id LIMIT ?\(skip))
                    RETURNING id, message_key, channel, to_number, from_number, body, correlation_id, attempts, media, metadata
                    """, [.int(nowMs + leaseMs), .int(nowMs), .int(nowMs), .int(Int64(limit))])
                .map { OutboxItem(id: $0[0].int ?? 0, messageKey: $0[1].text ?? "", channel: $0[2].text ?? "", to: $0[3].text ?? "",
                                  from: $0[4].text ?? "", text: $0[5].text ?? "", correlationId: $0[6].text ?? "", attempts: Int($0[7].int ?? 0),
                                  media: $0[8].text, metadata: $0[9].text) }
                .sorted { $0.id < $1.id }
            }
        }
    }

    public func outboxSent(id: Int64, providerId: String, nowMs: Int64) throws {
        _ = try pool.with { try $0.query("UPDATE outbox SET state = 'sent', provider_id = ?, sent_ms = ?, attempts = attempts + 1 WHERE id = ?",
                                     [.text(providerId), .int(nowMs), .int(id)]) }
    }

    public func outboxRetry(id: Int64, attempts: Int, nextMs: Int64, error: String) throws {
        _ = try pool.with { try $0.query("UPDATE outbox SET attempts = ?, next_ms = ?, lease_until_ms = 0, last_error = ? WHERE id = ?",
                                     [.int(Int64(attempts)), .int(nextMs), .text(error), .int(id)]) }
    }

    public func outboxFailed(id: Int64, error: String, nowMs: Int64) throws {
        _ = try pool.with { try $0.query("UPDATE outbox SET state = 'failed', last_error = ?, sent_ms = ?, attempts = attempts + 1 WHERE id = ?",
                                     [.text(error), .int(nowMs), .int(id)]) }
    }

    public func outboxBacklog() throws -> (pending: Int, oldestCreatedMs: Int64?) {
        try pool.with {
            let r = try $0.one("SELECT COUNT(*), MIN(created_ms) FROM outbox WHERE state = 'pending'", [])
            return (Int(r?[0].int ?? 0), r?[1].int)
        }
    }

    public func pendingOutboxCount() throws -> Int {
        try pool.with { Int(try $0.one("SELECT COUNT(*) FROM outbox WHERE state = 'pending'", [])?[0].int ?? 0) }
    }

    public func recordDelivery(channel: String, providerId: String, status: String, errorCode: Int32) throws -> Bool {
        try pool.with { c in
            !(try c.query("UPDATE outbox SET delivery_status = ?, delivery_error_code = ? WHERE channel = ? AND provider_id = ? RETURNING id",
                          [.text(status), .int(Int64(errorCode)), .text(channel), .text(providerId)]).isEmpty)
        }
    }

    // MARK: retention

    public func sessionsWithLastActivity(fromMs: Int64, toMs: Int64) throws -> [(id: Int64, agent: String)] {
        try pool.with { c in
            try c.query("SELECT id, agent FROM sessions WHERE last_ms >= ? AND last_ms < ? ORDER BY last_ms", [.int(fromMs), .int(toMs)])
                .compactMap { row in row[0].int.map { ($0, row[1].text ?? "") } }
        }
    }

    public func purge(beforeMs: Int64) throws -> Int {
        defer { historyCache?.clear() }
        return try pool.with { c in
            var n = 0
            for sql in ["DELETE FROM messages WHERE created_ms < ? RETURNING id",
                        "DELETE FROM failovers WHERE created_ms < ? RETURNING id",
                        "DELETE FROM dedupe_keys WHERE created_ms < ? RETURNING message_id",
                        "DELETE FROM outbox WHERE state <> 'pending' AND created_ms < ? RETURNING id",
                        "DELETE FROM sessions WHERE last_ms < ? RETURNING id"] {
                n += try c.query(sql, [.int(beforeMs)]).count
            }
            return n
        }
    }

    /// Direct SQL for tests and the benchmark (bulk loading, counting).
    public func withConnection<R>(_ body: (any SQLConnection) throws -> R) throws -> R {
        defer { historyCache?.clear() }   // it may change messages
        return try pool.with(body)
    }
}
