import CSQLite
import Foundation

/// Checkpoints a SQLite WAL database from a thread and connection of its own, and restarts
/// the WAL from its beginning with only a short pause of the group-commit writer.
///
/// Every `interval` this runs `wal_checkpoint(PASSIVE)` (never blocks the writer or the
/// readers): it copies the frames committed since the last pass into the database file.
/// While the WAL does not grow (idle) it backs off to `idleInterval`.
///
/// A PASSIVE pass almost never *completes* under a steady write load (some commit lands
/// while it runs), and only a complete checkpoint lets the next write transaction restart
/// the WAL. Left alone, the WAL grows until the write connection's automatic checkpoint
/// runs inside a `COMMIT`: it fsyncs the WAL and every database page copied since the last
/// restart (SQLite syncs the database file only when a checkpoint completes), ~10 ms with
/// no batch committing, several times a second at 5,000 msg/s.
///
/// So once the WAL holds `restartFrames` frames:
/// 1. outside the gate, PASSIVE passes each followed by an `fdatasync` of the database file
///    (through this connection's own descriptor, never one opened and closed here: see
///    `syncFile`) until few frames are left to copy;
/// 2. inside `exclusive` (the store holds the write connection: no write transaction is
///    open or can begin), `wal_checkpoint(RESTART)`: it copies the last few frames, syncs
///    the WAL and the database (little left to write), and waits, with a fine-grained busy
///    handler, for readers still on an old snapshot; the next write transaction then starts
///    the WAL from its beginning. The file keeps its size (it is overwritten, not
///    truncated: no file-system metadata to commit in later syncs).
/// If the restart does not complete (a long reader), gated attempts back off (to 1 s).
/// Durability is SQLite's own: every sync SQLite does still happens (synchronous=NORMAL);
/// the extra `fdatasync`s only move work out of the gate.
///
/// Threading: owns its thread and connection; `stop` and `stats` are thread-safe.
/// Unchecked Sendable: `stopping` and `_stats` only under `cond`; the connection is touched only by
/// the checkpointer's own thread.
final class SQLiteCheckpointer: @unchecked Sendable {
    /// Counters for tests and diagnostics.
    struct Stats: Sendable {
        /// PASSIVE passes run.
        var passes = 0
        /// Gated `RESTART` checkpoints run, and how many of them completed (WAL fully copied,
        /// no reader left on an old snapshot).
        var gated = 0
        var gatedComplete = 0
        /// Time the gate was held (the writer paused), in total and the longest, in ns.
        var gateNanos: UInt64 = 0
        var gateNanosMax: UInt64 = 0
        /// WAL frames at the last pass.
        var lastLogFrames = 0
    }

    private let cond = NSCondition()
    private var stopping = false
    private let exited = DispatchSemaphore(value: 0)
    private var _stats = Stats()
    var stats: Stats { cond.lock(); defer { cond.unlock() }; return _stats }

    /// - Parameters:
    ///   - restartFrames: WAL size (frames) at which the WAL is restarted; the write
    ///     connection's `wal_autocheckpoint` should be well above it (a fallback).
    ///   - exclusive: runs its closure while no write transaction is open or can begin
    ///     (e.g. holding the store's only write connection). Without it the checkpointer
    ///     only runs PASSIVE passes.
    init(path: String, interval: Double = 0.01, idleInterval: Double = 0.25, restartFrames: Int = 16000,
         exclusive: (@Sendable (() -> Void) -> Void)? = nil) {
        let t = Thread { [self] in
            defer { exited.signal() }
            var c: SQLiteConnection?
            var lastLog = -1
            var idle = false
            var gateBackoff = 0.0          // seconds before the next gated attempt may run
            var nextGate = DispatchTime.now().uptimeNanoseconds
            var prepared = -1              // WAL frames when the last gated restart completed
            while true {
                cond.lock()
                if !stopping { _ = cond.wait(until: Date(timeIntervalSinceNow: idle ? idleInterval : interval)) }
                let stop = stopping
                cond.unlock()
                if stop { return }
                if c == nil {   // retried until it opens
                    c = try? SQLiteConnection(path: path)
                    if let c { sqlite3_busy_handler(c.db, { _, n in usleep(50); return n < 40 ? 1 : 0 }, nil) }
                }
                guard let conn = c, let (_, log, ckpt) = Self.checkpoint(conn, "PASSIVE") else { continue }
                cond.lock(); _stats.passes += 1; _stats.lastLogFrames = log; cond.unlock()
                idle = log == lastLog && log == ckpt
                lastLog = log
                // A restart already prepared waits for the next write transaction (log unchanged).
                guard let exclusive, log >= restartFrames, log != prepared,
                      DispatchTime.now().uptimeNanoseconds >= nextGate else { continue }

                // 1. Outside the gate: leave little for the gated pass to copy and sync.
                for _ in 0..<3 {
                    Self.syncFile(conn)
                    guard let (_, l, k) = Self.checkpoint(conn, "PASSIVE"), l - k >= 64 else { break }
                }
                Self.syncFile(conn)
                // 2. Between two batches: complete, sync, wait for old readers.
                var done: (busy: Bool, log: Int, ckpt: Int)?
                var tIn: UInt64 = 0
                exclusive {
                    tIn = DispatchTime.now().uptimeNanoseconds
                    done = Self.checkpoint(conn, "RESTART")
                }
                let t1 = DispatchTime.now().uptimeNanoseconds
                let held = tIn == 0 ? 0 : t1 - tIn   // 0: the gate was not had (no write connection)
                let complete = done.map { !$0.busy && $0.log == $0.ckpt } == true
                cond.lock()
                _stats.gated += 1
                if complete { _stats.gatedComplete += 1 }
                _stats.gateNanos += held
                _stats.gateNanosMax = max(_stats.gateNanosMax, held)
                cond.unlock()
                prepared = complete ? done?.log ?? -1 : -1
                gateBackoff = complete ? 0 : min(1, max(0.05, gateBackoff * 2))
                nextGate = t1 + UInt64(gateBackoff * 1e9)
                lastLog = -1
            }
        }
        t.name = "darkspere-sqlite-checkpoint"
        t.stackSize = 256 << 10
        t.start()
    }

    /// Stops the thread and waits (up to 5 s) until it has left any gate and closed its
    /// connection. Idempotent.
    func stop() {
        cond.lock()
        let first = !stopping
        stopping = true
        cond.signal()
        cond.unlock()
        if first { _ = exited.wait(timeout: .now() + 5) }
    }

    /// `PRAGMA wal_checkpoint(mode)`: (busy: not completed because of a lock or a reader,
    /// frames in the WAL, frames checkpointed), nil on error.
    private static func checkpoint(_ c: SQLiteConnection, _ mode: String) -> (busy: Bool, log: Int, ckpt: Int)? {
        guard let row = (try? c.query("PRAGMA wal_checkpoint(\(mode))", []))?.first,
              let b = row[0].int, let l = row[1].int, let k = row[2].int else { return nil }
        return (b != 0, Int(l), Int(k))
    }

    /// `fdatasync` of the database file through SQLite's own descriptor of it (this
    /// connection's, found with SQLITE_FCNTL_FILE_POINTER, synced by the VFS's xSync).
    /// Never through a descriptor of our own: closing any descriptor of a file drops every
    /// POSIX lock the process holds on it, so the store's connections would lose their
    /// shared lock without knowing, and another process (an operator's `sqlite3`), closing
    /// as it thinks the last connection, would checkpoint and delete the WAL under them
    /// ("How To Corrupt An SQLite Database File", 2.2).
    private static func syncFile(_ c: SQLiteConnection) {
        var file: UnsafeMutablePointer<sqlite3_file>?
        guard sqlite3_file_control(c.db, "main", SQLITE_FCNTL_FILE_POINTER, &file) == SQLITE_OK,
              let file, let sync = file.pointee.pMethods?.pointee.xSync else { return }
        _ = sync(file, SQLITE_SYNC_NORMAL | SQLITE_SYNC_DATAONLY)
    }
}
