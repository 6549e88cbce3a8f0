import Foundation

/// A bounded pool of database connections, created lazily by `factory`.
///
/// When a new connection cannot be opened while the pool has others open (PostgreSQL's
/// `max_connections` reached: "sorry, too many clients already"), the caller waits for one
/// of those instead of failing, and the pool opens no more for `holdOff` seconds: a full
/// server slows turns down instead of failing them, and is not asked for a connection by
/// every waiting turn. `onShortfall` hears of the first refusal of each such episode. With
/// no connection open, a refusal is the caller's error (the server is down or refuses us).
///
/// Ownership: a connection belongs to exactly one caller between `acquire` and `release`
/// (or inside `with`). Threading: thread-safe; `acquire` blocks while all are in use.
/// Unchecked Sendable: `idle`, `created` and `ceiling` only under `cond`; a connection (not
/// Sendable) is used by one caller at a time between acquire and release.
final class ConnectionPool: @unchecked Sendable {
    private let factory: () throws -> any SQLConnection
    private let max: Int
    private var idle: [any SQLConnection] = []
    private var created = 0
    private let cond = NSCondition()
    /// While the server refuses new connections: how many this pool may have open (what it
    /// had, or was opening, when refused), until `until`.
    private var ceiling: (open: Int, until: ContinuousClock.Instant)?
    private let holdOff: Duration
    private let onShortfall: (@Sendable (any Error) -> Void)?

    init(max: Int, holdOff: Duration = .seconds(10),
         onShortfall: (@Sendable (any Error) -> Void)? = nil,
         factory: @escaping () throws -> any SQLConnection) {
        self.max = max
        self.holdOff = holdOff
        self.onShortfall = onShortfall
        self.factory = factory
    }

    /// How many connections the pool may have open now (under `cond`).
    private var limit: Int {
        guard let c = ceiling else { return max }
        if ContinuousClock.now < c.until { return min(max, c.open) }
        ceiling = nil
        return max
    }

    func acquire() throws -> any SQLConnection {
        cond.lock()
        while true {
            if let c = idle.popLast() { cond.unlock(); return c }
            guard created < limit else { cond.wait(); continue }
            created += 1
            cond.unlock()
            do { return try factory() } catch {
                cond.lock()
                created -= 1
                guard created > 0 else { cond.signal(); cond.unlock(); throw error }
                let first = ceiling == nil
                ceiling = (created, .now + holdOff)
                if first, let onShortfall { cond.unlock(); onShortfall(error); cond.lock() }
            }
        }
    }

    /// Like `acquire`, but takes an idle connection for which `prefer` is true if there is
    /// one (`prefer` runs under the pool's lock: keep it short).
    func acquire(preferring prefer: (any SQLConnection) -> Bool) throws -> any SQLConnection {
        cond.lock()
        if let i = idle.lastIndex(where: prefer) {
            let c = idle.remove(at: i)
            cond.unlock()
            return c
        }
        cond.unlock()
        return try acquire()
    }

    /// Takes `c` out of the pool if it is idle (for work on that very connection, e.g.
    /// sending its deferred statements); nil if someone holds it. Give it back with `release`.
    func takeIfIdle(_ c: any SQLConnection) -> (any SQLConnection)? {
        cond.lock()
        defer { cond.unlock() }
        guard let i = idle.firstIndex(where: { $0 === c }) else { return nil }
        return idle.remove(at: i)
    }

    /// Returns a connection; a broken one is dropped (the next acquire opens a fresh one).
    func release(_ c: any SQLConnection, broken: Bool = false) {
        cond.lock()
        if broken { created -= 1 } else { idle.append(c) }
        cond.signal()
        cond.unlock()
    }

    func with<R>(_ body: (any SQLConnection) throws -> R) throws -> R {
        let c = try acquire()
        do {
            let r = try body(c)
            release(c)
            return r
        } catch {
            release(c, broken: (c as? PostgresConnection)?.isBroken ?? false)
            throw error
        }
    }

    func closeAll() {
        cond.lock(); idle.removeAll(); cond.unlock()
    }
}
