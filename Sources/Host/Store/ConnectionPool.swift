import Foundation

/// A bounded pool of database connections, created lazily by `factory`.
///
/// Ownership: a connection belongs to exactly one caller between `acquire` and `release`
/// (or inside `with`). Threading: thread-safe; `acquire` blocks while all are in use.
/// Unchecked Sendable: `idle` and `created` only under `cond`; a connection (not Sendable) is used
/// by one caller at a time between acquire and release; `factory` is called only under `cond`.
final class ConnectionPool: @unchecked Sendable {
    private let factory: () throws -> any SQLConnection
    private let max: Int
    private var idle: [any SQLConnection] = []
    private var created = 0
    private let cond = NSCondition()

    init(max: Int, factory: @escaping () throws -> any SQLConnection) {
        self.max = max
        self.factory = factory
    }

    func acquire() throws -> any SQLConnection {
        cond.lock()
        while idle.isEmpty && created >= max { cond.wait() }
        if let c = idle.popLast() { cond.unlock(); return c }
        created += 1
        cond.unlock()
        do { return try factory() } catch {
            cond.lock(); created -= 1; cond.signal(); cond.unlock()
            throw error
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
