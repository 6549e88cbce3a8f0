import Foundation

/// Checkpoints a SQLite WAL database from a thread and connection of its own, so the
/// group-commit writer rarely pays for a checkpoint (copying pages into the database file
/// and the fsync that follows, several milliseconds during which no batch commits).
///
/// Every `interval` this runs `wal_checkpoint(PASSIVE)` (never blocks the writer or the
/// readers): small, frequent checkpoints keep each fsync short (a long one delays the
/// commits that wait behind it: the p99 at moderate load). While the WAL does not grow
/// (idle) it backs off to `idleInterval`. The store's write connection keeps an automatic checkpoint, at a higher
/// threshold: it then finds the pages already copied, and it is what lets SQLite restart
/// the WAL from its beginning (only a writer whose snapshot is fully checkpointed does),
/// so the WAL file stays bounded.
///
/// Threading: owns its thread and connection; `stop` is thread-safe and idempotent.
final class SQLiteCheckpointer: @unchecked Sendable {
    private let cond = NSCondition()
    private var stopping = false

    init(path: String, interval: Double = 0.01, idleInterval: Double = 0.25) {
        let t = Thread { [self] in
            var c: SQLiteConnection?
            var lastLog: Int64 = -1
            var idle = false
            while true {
                cond.lock()
                if !stopping { _ = cond.wait(until: Date(timeIntervalSinceNow: idle ? idleInterval : interval)) }
                let stop = stopping
                cond.unlock()
                if stop { return }
                if c == nil { c = try? SQLiteConnection(path: path) }   // retried until it opens
                // One row: busy, frames in the WAL, frames checkpointed.
                let row = (try? c?.query("PRAGMA wal_checkpoint(PASSIVE)", []))??.first
                let log = row?[1].int ?? -1
                idle = log == lastLog && log == row?[2].int
                lastLog = log
            }
        }
        t.name = "darkspere-sqlite-checkpoint"
        t.stackSize = 256 << 10
        t.start()
    }

    func stop() { cond.lock(); stopping = true; cond.signal(); cond.unlock() }
}
