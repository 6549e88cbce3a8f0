import Foundation

/// Sends the deferred statements of idle pooled connections after a short delay.
///
/// PostgreSQL's conversation locks are released by a deferred `pg_advisory_unlock` on the
/// lock connection (see `SQLStore.AdvisoryLock`): under load the connection is taken by the
/// next turn within microseconds, and the unlock travels in that turn's first pipeline
/// (no round trip of its own). A connection that stays idle would keep the lock held, so
/// every release schedules the connection here: after `delay`, if it is still idle (still
/// in the pool), this thread takes it, sends what is deferred and gives it back. If someone
/// holds it, they send the unlock with their first statement. Another process waiting for
/// that conversation waits at most about `delay` longer than before.
///
/// Threading: `schedule` may be called from any thread and never blocks on I/O. One
/// thread of its own does the flushing; it never waits on anything but the network (an
/// unlock never waits for a lock).
final class DeferredFlusher: @unchecked Sendable {
    private let pool: ConnectionPool
    private let delayNs: UInt64
    private var due: [(conn: any SQLConnection, atNs: UInt64)] = []
    private let cond = NSCondition()
    private var stopping = false
    private var flushed = 0
    /// How many idle connections this thread flushed (for tests).
    var flushCount: Int { cond.lock(); defer { cond.unlock() }; return flushed }

    init(pool: ConnectionPool, delay: Double = 0.001, name: String = "darkspere-store-unlock") {
        self.pool = pool
        delayNs = UInt64(delay * 1e9)
        let t = Thread { [self] in loop() }
        t.name = name
        t.start()
    }

    /// `c` was just given back to the pool with deferred statements: send them in `delay`
    /// unless someone else took the connection meanwhile.
    func schedule(_ c: any SQLConnection) {
        let at = DispatchTime.now().uptimeNanoseconds + delayNs
        cond.lock()
        due.append((c, at))
        if due.count == 1 { cond.signal() }
        cond.unlock()
    }

    func stop() {
        cond.lock(); stopping = true; due.removeAll(); cond.signal(); cond.unlock()
    }

    private func loop() {
        cond.lock()
        while true {
            if stopping { cond.unlock(); return }
            guard let first = due.first else { cond.wait(); continue }
            let now = DispatchTime.now().uptimeNanoseconds
            if first.atNs > now {
                _ = cond.wait(until: Date(timeIntervalSinceNow: Double(first.atNs - now) / 1e9))
                continue
            }
            // Entries are in schedule order, so due ones are a prefix.
            let n = due.firstIndex { $0.atNs > now } ?? due.count
            let batch = due.prefix(n).map(\.conn)
            due.removeFirst(n)
            cond.unlock()
            var seen: [ObjectIdentifier] = []
            for c in batch where !seen.contains(ObjectIdentifier(c)) {
                seen.append(ObjectIdentifier(c))
                guard let held = pool.takeIfIdle(c) else { continue }   // its holder sends them
                do {
                    try held.flush()
                    pool.release(held)
                } catch {
                    pool.release(held, broken: true)   // closing the connection drops its locks
                }
                cond.lock(); flushed += 1; cond.unlock()
            }
            cond.lock()
        }
    }
}
