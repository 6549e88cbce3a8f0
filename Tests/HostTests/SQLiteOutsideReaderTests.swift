import Foundation
import Synchronization
import Testing
@testable import Host
import TestPeers

/// The SQLite store with a second reader in another process (issue 15): while the store
/// writes under load and its checkpointer restarts the WAL, the `sqlite3` command-line tool
/// reads the same file in a loop. Neither side may see an error, and every acknowledged
/// write is in the file afterwards.
///
/// The defect this guards against: the checkpointer synced the database file through a
/// descriptor of its own and closed it, and closing any descriptor of a file drops every
/// POSIX lock the process holds on it — the store's connections silently lost their shared
/// lock, so the outside `sqlite3`, closing, believed it was the last connection, checkpointed
/// and deleted the WAL under the store ("disk I/O error", "database disk image is malformed").
@Suite(.serialized) struct SQLiteOutsideReaderTests {
    @Test func outsideSqlite3ReadsWhileTheStoreWritesWithoutErrors() async throws {
        // Blocking work (threads, child processes) on a thread of its own, not on the Swift
        // concurrency pool that tests in other suites need.
        let r = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Outcome, any Error>) in
            Thread { c.resume(with: Result { try Self.run() }) }.start()
        }
        #expect(r.reads >= 10)
        // Under ThreadSanitizer the writers are slow enough that passive checkpoints keep up
        // and the gate is not needed; the other checks still hold there.
        #expect(r.gated > 0 || TestPeers.sanitizer != nil, "the checkpointer never restarted the WAL: the test did not exercise it")
        #expect(r.readErrors.isEmpty, "\(r.readErrors.count) of \(r.reads) outside reads failed: \(Array(Set(r.readErrors)).prefix(3))")
        #expect(r.writeErrors.isEmpty, "\(r.writeErrors.count) writes failed: \(Array(Set(r.writeErrors)).prefix(3))")
        #expect(r.final == r.expected)
    }

    struct Outcome: Sendable {
        var reads = 0, gated = 0
        var readErrors: [String] = [], writeErrors: [String] = []
        /// What a fresh sqlite3 finds at the end (rows per writer, integrity) and what was acknowledged.
        var final = "", expected = ""
    }

    static func run() throws -> Outcome {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") else {
            throw TestPeers.ProcessFailure(description: "sqlite3 is not installed (scripts/install-deps.sh --test installs it)")
        }
        let dir = TestSupport.tempDir()
        let path = dir + "/store.sqlite"
        // A small restart threshold so the checkpointer's WAL restarts (and the file syncs
        // around them) happen many times in a few seconds; no automatic checkpoint.
        let store = try SQLStore(sqlitePath: path, walRestartFrames: 100, walAutocheckpoint: 0)
        try store.withConnection { try $0.execute("CREATE TABLE IF NOT EXISTS reader_t (id INTEGER PRIMARY KEY, w INTEGER NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL)") }
        let payload = String(repeating: "y", count: 3000)
        let writers = 4, perWriter = 4000
        let acked = Mutex(Array(repeating: 0, count: writers))
        let writeErrors = Mutex<[String]>([])
        let group = DispatchGroup()
        for w in 0..<writers {
            group.enter()
            Thread {
                defer { group.leave() }
                for seq in 0..<perWriter {
                    do {
                        _ = try store.writer.write { c in
                            try c.query("INSERT INTO reader_t (w, seq, payload) VALUES (?, ?, ?)", [.int(Int64(w)), .int(Int64(seq)), .text(payload)])
                        }
                        acked.withLock { $0[w] = seq + 1 }
                    } catch {
                        writeErrors.withLock { $0.append("\(error)") }
                    }
                }
            }.start()
        }
        // The outside reader: a new sqlite3 process per query, as an operator's script would.
        var reads = 0
        var readErrors: [String] = []
        // It keeps reading after the writes end: the defect also showed with the store idle.
        while group.wait(timeout: .now()) == .timedOut || reads < 10 {
            let (rc, _, err) = try TestSupport.run("/usr/bin/sqlite3", [path, "PRAGMA busy_timeout=5000; SELECT count(*), max(id) FROM reader_t; PRAGMA quick_check;"])
            reads += 1
            if rc != 0 || !err.isEmpty { readErrors.append("rc \(rc): \(err.trimmingCharacters(in: .whitespacesAndNewlines))") }
        }
        var r = Outcome(reads: reads, gated: store.checkpointStats?.gated ?? 0, readErrors: readErrors, writeErrors: writeErrors.withLock { $0 })
        store.close()
        // Every acknowledged row is in the file, read by a fresh process.
        let (rc, out, err) = try TestSupport.run("/usr/bin/sqlite3", [path, "SELECT w, count(*) FROM reader_t GROUP BY w ORDER BY w; PRAGMA integrity_check;"])
        r.final = "rc \(rc) \(err)" + out.trimmingCharacters(in: .whitespacesAndNewlines)
        r.expected = "rc 0 " + acked.withLock { $0 }.enumerated().map { "\($0.offset)|\($0.element)" }.joined(separator: "\n") + "\nok"
        return r
    }
}
