import Foundation

/// Group commit: write units from many threads are collected by one writer thread and
/// committed together in one transaction (each unit inside its own SAVEPOINT, so a unit
/// that throws rolls back alone). One WAL append + sync per batch instead of per unit.
///
/// Threading: `write` blocks the calling thread until its batch committed (or failed) and
/// returns its unit's result. Never call it while holding the pool's only connection.
final class GroupCommitter: @unchecked Sendable {
    private final class Unit {
        let body: (any SQLConnection) throws -> Any
        var result: Result<Any, any Error>?
        let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping (any SQLConnection) throws -> Any) { self.body = body }
    }

    private let pool: ConnectionPool
    private var pending: [Unit] = []
    private let cond = NSCondition()
    private var stopping = false
    let maxBatch: Int

    /// `writers` threads commit batches in parallel (1 for SQLite, which has one writer
    /// anyway; several for PostgreSQL, whose round trips would otherwise serialise).
    init(pool: ConnectionPool, writers: Int = 1, maxBatch: Int = 256) {
        self.pool = pool
        self.maxBatch = maxBatch
        for i in 0..<max(1, writers) {
            let t = Thread { [self] in loop() }
            t.name = "darkspere-store-writer-\(i)"
            t.start()
        }
    }

    func write<R>(_ body: @escaping (any SQLConnection) throws -> R) throws -> R {
        let u = Unit { try body($0) }
        cond.lock(); pending.append(u); cond.signal(); cond.unlock()
        u.done.wait()
        switch u.result! {
        case .success(let v): return v as! R
        case .failure(let e): throw e
        }
    }

    /// Commits what is queued, then the writer threads exit.
    func shutdown() {
        cond.lock(); stopping = true; cond.broadcast(); cond.unlock()
    }

    private func loop() {
        while true {
            cond.lock()
            while pending.isEmpty && !stopping { cond.wait() }
            if pending.isEmpty { cond.unlock(); return }
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            cond.unlock()
            do {
                try pool.with { c in
                    try c.execute(c.dialect == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN")
                    for u in batch {
                        do {
                            try c.execute("SAVEPOINT unit")
                            u.result = .success(try u.body(c))
                            try c.execute("RELEASE unit")
                        } catch {
                            u.result = .failure(error)
                            try c.execute("ROLLBACK TO unit")
                            try c.execute("RELEASE unit")
                        }
                    }
                    try c.execute("COMMIT")
                }
            } catch {
                // The batch did not commit: every unit fails (its caller reports a store error).
                for u in batch { u.result = .failure(error) }
                try? pool.with { try $0.execute("ROLLBACK") }
            }
            for u in batch { u.done.signal() }
        }
    }
}
