import Foundation

/// Checkpoints a SQLite WAL database from a thread and connection of its own, so the
/// group-commit writer rarely pays for a checkpoint (copying pages into the database file
/// and the fsync that follows, several milliseconds during which no batch commits).
///
/// Every `interval` this runs `wal_checkpoint(PASSIVE)` (never blocks the writer or the
/// readers). The store's write connection keeps an automatic checkpoint, at a higher
/// threshold: it then finds the pages already copied, and it is what lets SQLite restart
/// the WAL from its beginning (only a writer whose snapshot is fully checkpointed does),
/// so the WAL file stays bounded.
///
/// Threading: owns its thread and connection; `stop` is thread-safe and idempotent.
final class SQLiteCheckpointer: @unchecked Sendable {
    private let cond = NSCondition()
    private var stopping = false

    init(path: String, interval: Double = 0.05) {
        let t = Thread { [self] in
            var c: SQLiteConnection?
            while true {
                cond.lock()
                if !stopping { _ = cond.wait(until: Date(timeIntervalSinceNow: interval)) }
                let stop = stopping
                cond.unlock()
                if stop { return }
                if c == nil { c = try? SQLiteConnection(path: path) }   // retried until it opens
                try? c?.execute("PRAGMA wal_checkpoint(PASSIVE)")
            }
        }
        t.name = "darkspere-sqlite-checkpoint"
        t.stackSize = 256 << 10
        t.start()
    }

    func stop() { cond.lock(); stopping = true; cond.signal(); cond.unlock() }
}
