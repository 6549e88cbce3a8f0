import Synchronization

/// The last history entries of recently active sessions, for a store that one process owns
/// (SQLite): a turn reads its history here instead of running the history `SELECT` (and
/// reading its pages, which every commit evicts from the reader connections' caches).
///
/// Correctness rests on the store: every write that adds a message to a session either
/// appends it here after its commit (`append`) or drops the session's entry (`invalidate`);
/// a purge and direct SQL drop everything (`clear`). Only one turn per session runs at a
/// time (the router's conversation queue), so a session's fill, reads and appends do not
/// race each other; `clear` may race a fill that read before it, which the generation
/// catches. Bounded: past `maxSessions` entries the cache starts over (no LRU bookkeeping
/// on the hot path; a miss costs one `SELECT`, as without the cache).
///
/// Threading: thread-safe (one mutex, short critical sections; entries are copied out).
final class HistoryCache: Sendable {
    private struct Entry {
        var items: [HistoryEntry]
        /// `items` is the session's whole history (fewer messages than ever asked for).
        var complete: Bool
        /// How many entries are kept (the largest depth asked for).
        var cap: Int
    }
    private struct State {
        var map: [Int64: Entry] = [:]
        var generation: UInt64 = 0
        var hits = 0, misses = 0
    }
    private let state = Mutex(State())
    let maxSessions: Int

    init(maxSessions: Int = 50_000) { self.maxSessions = maxSessions }

    /// The session's last `limit` entries (oldest first), or nil if they are not all here.
    func get(_ id: Int64, limit: Int) -> [HistoryEntry]? {
        state.withLock { s in
            guard let e = s.map[id], e.complete || e.items.count >= limit else { s.misses += 1; return nil }
            s.hits += 1
            return e.items.count <= limit ? e.items : Array(e.items.suffix(limit))
        }
    }

    /// Read before the `SELECT` whose rows `fill` then stores.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Stores what the database returned for `limit` (oldest first), unless a `clear`
    /// happened since `generation` was read.
    func fill(_ id: Int64, _ items: [HistoryEntry], limit: Int, generation: UInt64) {
        guard limit > 0 else { return }
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.map.count >= maxSessions, s.map[id] == nil { s.map.removeAll(keepingCapacity: true) }
            s.map[id] = Entry(items: items, complete: items.count < limit, cap: limit)
        }
    }

    /// Messages the session got, in id order, after their commit.
    func append(_ id: Int64, _ items: [HistoryEntry]) {
        state.withLock { s in
            guard var e = s.map[id] else { return }
            s.map[id] = nil   // no copy of the array while it is changed
            e.items.append(contentsOf: items)
            if e.items.count > e.cap {
                e.items.removeFirst(e.items.count - e.cap)
                e.complete = false
            }
            s.map[id] = e
        }
    }

    func invalidate(_ id: Int64) { _ = state.withLock { $0.map.removeValue(forKey: id) } }

    func clear() {
        state.withLock { s in
            s.map.removeAll()
            s.generation &+= 1
        }
    }

    /// For tests: lookups answered here and not.
    var counts: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }
}
