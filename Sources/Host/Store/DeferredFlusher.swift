import Foundation
import NIOPosix
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
/// that conversation waits at most about `delay` (plus one slot of `timer`) longer than before.
///
/// Threading: `schedule` may be called from any thread and never blocks on I/O. The delay
/// is timed on the host's timer loop, as entries of `timer` (a `SlotTimer` with slots of
/// `delay`: one wake-up per slot however many connections are released); an entry only
/// takes the connection if idle, and the round trip of the flush runs on `io`, a
/// one-thread `NIOThreadPool` (a slow or unreachable database must never hold up the
/// timer loop). A flush never waits on anything but the network (an unlock never waits
/// for a lock).
final class DeferredFlusher: Sendable {
    private let pool: ConnectionPool
    private let delay: Double
    private let timer: SlotTimer
    private let io = NIOThreadPool(numberOfThreads: 1)
    private let flushed = Atomic<Int>(0)
    /// How many idle connections were flushed (for tests).
    var flushCount: Int { flushed.load(ordering: .relaxed) }

    /// `timer`: on the host's timer loop, its slots about `delay` wide.
    init(pool: ConnectionPool, delay: Double = 0.001, timer: SlotTimer) {
        self.pool = pool
        self.delay = delay
        self.timer = timer
        io.start()
    }

    /// `c` was just given back to the pool with deferred statements: send them in `delay`
    /// unless someone else took the connection meanwhile.
    func schedule(_ c: any SQLConnection) {
        nonisolated(unsafe) let conn = c   // touched only after taking it from the pool
        timer.schedule(after: delay) { [self] in
            guard let taken = pool.takeIfIdle(conn) else { return }   // its holder sends them
            nonisolated(unsafe) let held = taken   // ours alone until released
            io.submit { [self] state in
                guard case .active = state else { return pool.release(held, broken: true) }   // stopping: closing drops its locks
                do {
                    try held.flush()
                    pool.release(held)
                } catch {
                    pool.release(held, broken: true)   // closing the connection drops its locks
                }
                flushed.add(1, ordering: .relaxed)
            }
        }
    }

    /// Drops the pending delays and stops the flushing thread (a flush in flight finishes).
    func stop() {
        timer.shutdown()
        io.shutdownGracefully { _ in }
    }
}
