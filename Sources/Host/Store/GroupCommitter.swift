import Foundation

/// Group commit: write units from many threads are collected by one writer thread and
/// committed together in one transaction. One WAL append + sync per batch instead of per
/// unit. A unit that throws must roll back alone: the batch first runs optimistically with
/// no savepoints (they cost two statements, on PostgreSQL two round trips, per unit); if a
/// unit throws, the transaction is rolled back and the batch runs again with each unit
/// inside its own SAVEPOINT. Unit bodies must therefore be database work only (or
/// idempotent besides it): a body may run twice, and only the run that commits counts.
/// A unit that PostgreSQL aborted to break a deadlock or a serialization conflict runs again
/// (up to `transientRetries` times) before its error reaches the caller.
///
/// Units nest: `write` called from inside a unit (on the writer thread, e.g. a combined
/// begin-and-finish unit calling `beginTurn` and `finishTurn`) runs its body at once on
/// the unit's connection, inside the outer unit: they commit or roll back together.
///
/// Threading: `write` blocks the calling thread until its batch committed (or failed) and
/// returns its unit's result. Never call it while holding the pool's only connection.
/// `submit` does not block: its completion runs on the writer thread after the commit
/// (so it must be short and must not block: it holds up the next batch).
/// Unchecked Sendable: `pending` and `stopping` only under `cond`; a batch's connection is used
/// only by the writer thread.
final class GroupCommitter: @unchecked Sendable {
    private final class Unit {
        let body: (any SQLConnection) throws -> Any
        var result: Result<Any, any Error>?
        /// Called once with `result` after the batch committed or failed.
        let done: (Result<Any, any Error>) -> Void
        init(_ body: @escaping (any SQLConnection) throws -> Any, done: @escaping (Result<Any, any Error>) -> Void) {
            self.body = body; self.done = done
        }
    }

    private let pool: ConnectionPool
    private var pending: [Unit] = []
    private let cond = NSCondition()
    private var stopping = false
    let maxBatch: Int
    /// The connection of the unit running on this thread (writer threads only), for nesting.
    private let currentKey: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

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
        if let p = pthread_getspecific(currentKey) {
            // Nested inside a unit on the writer thread: same connection, same transaction.
            return try body(Unmanaged<UnitConnection>.fromOpaque(p).takeUnretainedValue().conn)
        }
        let sem = DispatchSemaphore(value: 0)
        // Written by the writer thread before `sem.signal()`, read after `sem.wait()`: the
        // semaphore orders the two, and nothing else touches it.
        nonisolated(unsafe) var result: Result<Any, any Error>?
        let u = Unit({ try body($0) }, done: { result = $0; sem.signal() })
        enqueue(u)
        sem.wait()
        switch result! {
        case .success(let v): return v as! R
        case .failure(let e): throw e
        }
    }

    /// Queues a unit without waiting: `completion` gets its result on the writer thread once
    /// its batch committed (or failed). Called from inside a unit, the body runs at once
    /// (nested, see `write`) and the completion runs when the outer unit's batch is done...
    /// which is not supported: nested units must use `write`.
    func submit<R>(_ body: @escaping (any SQLConnection) throws -> R, completion: @escaping (Result<R, any Error>) -> Void) {
        precondition(pthread_getspecific(currentKey) == nil, "GroupCommitter.submit inside a unit")
        enqueue(Unit({ try body($0) }, done: { r in completion(r.map { $0 as! R }) }))
    }

    private func enqueue(_ u: Unit) {
        cond.lock(); pending.append(u); cond.unlock()
        cond.signal()   // after the unlock (see BlockingThreadPool.async)
    }

    /// Commits what is queued, then the writer threads exit.
    func shutdown() {
        cond.lock(); stopping = true; cond.broadcast(); cond.unlock()
    }

    /// `flush: false` leaves the unit's deferred statements for the COMMIT to send (on
    /// PostgreSQL the whole batch's statements and the COMMIT in one round trip); then an
    /// error in them fails the COMMIT, not the unit, and the caller reruns the batch.
    private func run(_ u: Unit, on c: any SQLConnection, flush: Bool = true) throws -> Any {
        let box = Unmanaged.passRetained(UnitConnection(c))
        pthread_setspecific(currentKey, box.toOpaque())
        defer { pthread_setspecific(currentKey, nil); box.release() }
        do {
            let r = try u.body(c)
            if flush { try c.flush() }   // the unit's deferred statements: their errors are the unit's
            return r
        } catch {
            c.discardDeferred()
            throw error
        }
    }

    /// Opens the batch's transaction. PostgreSQL: `BEGIN` is deferred, sent with the batch's
    /// first statements.
    private func begin(_ c: any SQLConnection) throws {
        if c.dialect == .sqlite { try c.query("BEGIN IMMEDIATE", []) } else { try c.send("BEGIN", []) }
    }

    /// Runs every unit of `batch` in the open transaction and commits: true if all succeeded.
    /// If one throws (or the COMMIT, which sends the units' deferred statements), rolls the
    /// transaction back, opens a new one and returns false.
    private func runOptimistically(_ batch: [Unit], on c: any SQLConnection) throws -> Bool {
        do {
            for u in batch { u.result = .success(try run(u, on: c, flush: false)) }
            try c.query("COMMIT", [])
            return true
        } catch {
            c.discardDeferred()
            try rollBack(c, after: error)
            try begin(c)
            return false
        }
    }

    /// Rolls the batch's transaction back after `cause`, if it is still open (see
    /// `SQLConnection.inTransaction`). A rollback that fails reports `cause` first: the
    /// operator must read "database or disk is full", not "cannot rollback - no transaction
    /// is active".
    private func rollBack(_ c: any SQLConnection, after cause: any Error) throws {
        guard c.inTransaction else { return }
        do { try c.query("ROLLBACK", []) } catch { throw Self.error(cause, then: "then the rollback failed: \(error)") }
    }

    /// Rolls back to the unit's savepoint after `cause`. If the transaction itself ended
    /// with `cause`, the units before this one went with it: the batch fails, with `cause`.
    private func rollBackUnit(_ c: any SQLConnection, after cause: any Error) throws {
        guard c.inTransaction else { throw Self.error(cause, then: "the batch's transaction ended with it") }
        do {
            try c.query("ROLLBACK TO unit", [])
            try c.query("RELEASE unit", [])
        } catch {
            throw Self.error(cause, then: "then the rollback failed: \(error)")
        }
    }

    /// `cause` with what followed it, keeping its SQLSTATE (a transient cause stays transient).
    private static func error(_ cause: any Error, then: String) -> StoreError {
        StoreError("\(cause) (\(then))", sqlState: (cause as? StoreError)?.sqlState)
    }

    /// How often a unit that failed with a transient conflict (a PostgreSQL deadlock or
    /// serialization failure, `StoreError.isTransient`) is run again before its error stands.
    static let transientRetries = 5

    private func loop() {
        while true {
            cond.lock()
            while pending.isEmpty && !stopping { cond.wait() }
            if pending.isEmpty { cond.unlock(); return }
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            cond.unlock()
            // Two processes on one PostgreSQL database (or two writers) can take the same
            // counter rows in different orders, and the server then aborts one of them. The
            // work is valid: the units that failed that way (and only they: the others have
            // committed) run again, after a short pause that lets the other transaction finish.
            var todo = batch
            for attempt in 0...Self.transientRetries {
                commit(todo)
                let again = todo.filter { if case .failure(let e as StoreError) = $0.result { e.isTransient } else { false } }
                if again.isEmpty || attempt == Self.transientRetries { break }
                for u in again { u.result = nil }
                usleep(UInt32.random(in: 1_000...5_000) * UInt32(attempt + 1))
                todo = again
            }
            for u in batch { u.done(u.result!) }
        }
    }

    /// Runs `batch` in one transaction and sets every unit's `result`; a unit whose result is
    /// a failure did not commit (its savepoint or the whole transaction rolled back).
    private func commit(_ batch: [Unit]) {
        do {
            try pool.with { c in
                try begin(c)
                if batch.count == 1 {
                    // The transaction is the unit: a failure rolls back just it.
                    let u = batch[0]
                    do {
                        u.result = .success(try run(u, on: c, flush: false))
                        try c.query("COMMIT", [])   // with the unit's deferred statements
                    } catch {
                        u.result = .failure(error)
                        c.discardDeferred()
                        try rollBack(c, after: error)
                    }
                    return
                } else if try runOptimistically(batch, on: c) {
                    return
                } else {
                    for u in batch {
                        do {
                            try c.query("SAVEPOINT unit", [])
                            u.result = .success(try run(u, on: c))
                            try c.query("RELEASE unit", [])
                        } catch {
                            u.result = .failure(error)
                            try rollBackUnit(c, after: error)
                        }
                    }
                }
                try c.query("COMMIT", [])
            }
        } catch {
            // The batch did not commit: every unit fails (its caller reports a store error).
            for u in batch { u.result = .failure(error) }
            try? pool.with { if $0.inTransaction { try $0.execute("ROLLBACK") } }
        }
    }
}

private final class UnitConnection {
    let conn: any SQLConnection
    init(_ c: any SQLConnection) { conn = c }
}
