import Foundation
import Synchronization

/// Sends the deferred statements of idle pooled connections after a short delay.
///
/// PostgreSQL's conversation locks are released by a deferred `pg_advisory_unlock` on the
/// lock connection (see `SQLStore.AdvisoryLock`): under load the connection is taken by the
/// next turn within microseconds, and the unlock travels in that turn's first pipeline
/// (no round trip of its own). A connection that stays idle would keep the lock held, so
/// every release schedules the connection here: after `delay`, if it is still idle (still
/// in the pool), the flusher takes it, sends what is deferred and gives it back. If someone
/// holds it, they send the unlock with their first statement. Another process waiting for
/// that conversation waits at most about `delay` longer than before.
///
/// Threading: `schedule` may be called from any thread and never blocks on I/O. The
/// flushing runs on a `DeadlineSweeper` thread of its own; it never waits on anything but
/// the network (an unlock never waits for a lock).
final class DeferredFlusher: Sendable {
    private let pool: ConnectionPool
    private let delay: Double
    private let sweeper: DeadlineSweeper
    private let flushed = Atomic<Int>(0)
    /// How many idle connections were flushed (for tests).
    var flushCount: Int { flushed.load(ordering: .relaxed) }

    init(pool: ConnectionPool, delay: Double = 0.001, name: String = "darkspere-store-unlock") {
        self.pool = pool
        self.delay = delay
        sweeper = DeadlineSweeper(name: name, granularity: delay)
    }

    /// `c` was just given back to the pool with deferred statements: send them in `delay`
    /// unless someone else took the connection meanwhile.
    func schedule(_ c: any SQLConnection) {
        nonisolated(unsafe) let conn = c   // touched only after taking it from the pool
        sweeper.schedule(after: delay) { [self] in
            guard let held = pool.takeIfIdle(conn) else { return }   // its holder sends them
            do {
                try held.flush()
                pool.release(held)
            } catch {
                pool.release(held, broken: true)   // closing the connection drops its locks
            }
            flushed.add(1, ordering: .relaxed)
        }
    }

    func stop() { sweeper.shutdown() }
}
