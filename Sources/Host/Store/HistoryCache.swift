import Synchronization

/// The last history entries of recently active sessions: a turn reads its history here
/// instead of running the history `SELECT` (on SQLite, instead of reading pages that every
/// commit evicts from the reader connections' caches; on PostgreSQL, instead of a statement
/// that is a tenth of the server's work per message).
///
/// Correctness rests on the store: every write that adds a message to a session either
/// appends it here after its commit (`append`) or drops the session's entry (`invalidate`);
/// a purge and direct SQL drop everything (`clear`). Only one turn per session runs at a
/// time (the router's conversation queue), so a session's fill, reads and appends do not
/// race each other; `clear` may race a fill that read before it, which the generation
/// catches. Bounded: past its share of `maxSessions` entries a shard starts over (no LRU
/// bookkeeping on the hot path; a miss costs one `SELECT`, as without the cache).
///
/// A database other processes write (PostgreSQL) gets the same entries with a *version*:
/// the session's `message_count` the items reflect, which every message insert into a
/// session increments (and nothing decrements; `forget` deletes the session itself). A
/// read passes the count its context read returned and is answered only if they match
/// (`get`), and only if no entry is older than the retention
/// cutoff (another process's purge deletes messages without counting). The count is read
/// before the history (same connection, statement order), so an entry can only be filled
/// with more messages than its version says, never fewer: a mismatch, never a stale hit.
/// Such a store also maps each conversation to its session's entry (`expectedSession`), so a
/// turn knows before its first round trip whether to read the history with the context; a
/// conversation whose entry went stale (another process wrote it) is marked contested and
/// always read.
///
/// Threading: thread-safe. Sixteen shards, each a mutex over its part of the entries (by
/// session id) and of the conversation map (by key), with short critical sections (no
/// allocation but an entry's own array growing): with one mutex, 64 turns at once on two
/// cores spent 5.7 % of the gateway's CPU spinning in `Mutex` (`bench/postgres/probe.sh`,
/// `perf`), more than the history statement it saves.
final class HistoryCache: Sendable {
    private struct Entry {
        var items: [HistoryEntry]
        /// `items` is the session's whole history (fewer messages than ever asked for).
        var complete: Bool
        /// How many entries are kept (the largest depth asked for).
        var cap: Int
        /// The session's `message_count` that `items` reflect (nil: not checked, SQLite).
        var version: Int64?
    }
    private struct Shard {
        var map: [Int64: Entry] = [:]
        /// Versioned entries only: conversation key → its session's id, or `contested`.
        var conversations: [String: Int64] = [:]
        var hits = 0, misses = 0
    }
    /// `conversations`' mark for a conversation another process writes: always read.
    private static let contested: Int64 = -1
    private static let shardCount = 16
    /// A shard's mutex (`Mutex` is not copyable: an array holds references to them).
    private final class Lock: Sendable {
        let mutex = Mutex(Shard())
        func withLock<R>(_ body: (inout sending Shard) -> sending R) -> R { mutex.withLock(body) }
    }
    private let shards: [Lock]
    /// Bumped by `clear` before it empties the shards; a fill from a read begun before is dropped.
    private let clears = Atomic<UInt64>(0)
    /// Entries per shard before that shard starts over.
    private let perShard: Int
    let maxSessions: Int

    init(maxSessions: Int = 50_000) {
        self.maxSessions = maxSessions
        perShard = max(1, maxSessions / Self.shardCount)
        shards = (0..<Self.shardCount).map { _ in Lock() }
    }

    private func shard(_ id: Int64) -> Lock { shards[Int(UInt64(bitPattern: id) % UInt64(Self.shardCount))] }
    private func shard(_ conversation: String) -> Lock {
        shards[Int(UInt(bitPattern: conversation.hashValue) % UInt(Self.shardCount))]
    }

    /// The session's last `limit` entries (oldest first), or nil if they are not all here.
    /// With `version` (a database other processes write), only if the entry reflects that
    /// many messages (the session's `message_count` read in this turn, under its lock) and
    /// none is older than `notBeforeMs`.
    func get(_ id: Int64, limit: Int, version: Int64? = nil, notBeforeMs: Int64 = .min) -> [HistoryEntry]? {
        let items = shard(id).withLock { s -> [HistoryEntry]? in
            guard let e = s.map[id], e.version == version, e.complete || e.items.count >= limit,
                  (e.items.first?.timeMs ?? .max) >= notBeforeMs
            else { s.misses += 1; return nil }
            s.hits += 1
            return e.items
        }
        return items.map { $0.count <= limit ? $0 : Array($0.suffix(limit)) }
    }

    /// The session whose entry this conversation has (nil: none, or the conversation is contested).
    func expectedSession(conversation: String) -> Int64? {
        guard let id = shard(conversation).withLock({ $0.conversations[conversation] }), id != Self.contested else { return nil }
        return shard(id).withLock { $0.map[id] != nil } ? id : nil
    }

    /// A `get` for the conversation's entry missed. If the entry is there, it went stale:
    /// another process writes the conversation, whose turns read the history with their
    /// context from now on, and fill nothing. If it is gone (invalidated, or the cache
    /// started over), the next turn reads and fills as for a new one.
    func contest(conversation: String, session id: Int64) {
        let stale = shard(id).withLock { $0.map.removeValue(forKey: id) != nil }
        shard(conversation).withLock { $0.conversations[conversation] = stale ? Self.contested : nil }
    }

    /// The conversation has no active session: its next session gets a new entry.
    func forget(conversation: String) {
        shard(conversation).withLock { s in
            if s.conversations[conversation] != Self.contested { s.conversations[conversation] = nil }
        }
    }

    /// Read before the `SELECT` whose rows `fill` then stores.
    var generation: UInt64 { clears.load(ordering: .acquiring) }

    /// Stores what the database returned for `limit` (oldest first), unless a `clear`
    /// happened since `generation` was read.
    /// With `version`, the entry is checked against it (see `get`)
    /// and `conversation` maps to it, unless that conversation is contested.
    func fill(_ id: Int64, _ items: [HistoryEntry], limit: Int, generation: UInt64,
              version: Int64? = nil, conversation: String? = nil) {
        guard limit > 0 else { return }
        if let conversation {
            let mapped = shard(conversation).withLock { s -> Bool in
                guard s.conversations[conversation] != Self.contested, self.generation == generation else { return false }
                if s.conversations.count >= 2 * perShard { s.conversations.removeAll(keepingCapacity: true) }
                s.conversations[conversation] = id
                return true
            }
            guard mapped else { return }
        }
        shard(id).withLock { s in
            guard self.generation == generation else { return }   // checked under the lock `clear` takes after bumping it
            if s.map.count >= perShard && s.map[id] == nil { s.map.removeAll(keepingCapacity: true) }
            s.map[id] = Entry(items: items, complete: items.count < limit, cap: limit, version: version)
        }
    }

    /// Messages the session got, in id order, after their commit (each counted once in a
    /// versioned entry's message count).
    func append(_ id: Int64, _ items: [HistoryEntry]) {
        shard(id).withLock { s in
            guard var e = s.map.removeValue(forKey: id) else { return }   // no copy of the array while it is changed
            e.items.append(contentsOf: items)
            e.version = e.version.map { $0 + Int64(items.count) }
            if e.items.count > e.cap {
                e.items.removeFirst(e.items.count - e.cap)
                e.complete = false
            }
            s.map[id] = e
        }
    }

    func invalidate(_ id: Int64) { _ = shard(id).withLock { $0.map.removeValue(forKey: id) } }

    func clear() {
        clears.add(1, ordering: .releasing)
        for shard in shards {
            shard.withLock { s in
                s.map.removeAll()
                s.conversations.removeAll()
            }
        }
    }

    /// For tests: lookups answered here and not.
    var counts: (hits: Int, misses: Int) {
        shards.reduce((0, 0)) { sum, shard in shard.withLock { (sum.0 + $0.hits, sum.1 + $0.misses) } }
    }
}
