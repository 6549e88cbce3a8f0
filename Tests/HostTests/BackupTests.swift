import Foundation
import Synchronization
import Testing
@testable import Host

/// `darkspere backup PATH`: a consistent copy of the SQLite store taken while messages flow
/// (SQLite's backup API), checked by the sqlite3 shell; PostgreSQL gets pg_dump advice.
@Suite(.serialized) struct BackupTests {
    @Test func backupWhileTrafficFlowsIsConsistent() async throws {
        let dir = TestEnv.tempDir("backup")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: """
          - name: alpha
            transport: echo
            config: { prefix: alpha }
        """), dir: dir)
        // Traffic: 4 senders, each message answered (so stored) before the next.
        let acked = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let senders = (0..<4).map { s in
            Task {
                var i = 0
                while !stop.load(ordering: .relaxed) {
                    if await g.reply(from: "+1555300\(1000 + s)", id: "b\(s)-\(i)", text: "message \(i)").hasPrefix("alpha: ") {
                        acked.add(1, ordering: .relaxed)
                    }
                    i += 1
                }
            }
        }
        while acked.load(ordering: .relaxed) < 200 { try await Task.sleep(nanoseconds: 20_000_000) }
        let before = acked.load(ordering: .relaxed)
        let copy = "\(dir)/backups/copy.sqlite"
        try FileManager.default.createDirectory(atPath: "\(dir)/backups", withIntermediateDirectories: true)
        let started = Date()
        let (rc, out, err) = try await Gateway.offPool {
            try TestSupport.run(TestSupport.darkspere, ["backup", "--config", "\(dir)/plugins.yaml", copy])
        }
        let seconds = Date().timeIntervalSince(started)
        let during = acked.load(ordering: .relaxed)
        try await Task.sleep(nanoseconds: 300_000_000)
        stop.store(true, ordering: .relaxed)
        for t in senders { await t.value }
        let after = acked.load(ordering: .relaxed)
        await g.stop()
        #expect(rc == 0, "backup: \(out) \(err)")
        #expect(out.contains("backed up \(dir)/ds.sqlite to \(copy)"), "\(out)")
        #expect(after > during, "traffic went on after the backup (\(during) -> \(after))")
        print("backup: \(during - before) messages acknowledged while the backup ran (\(String(format: "%.2f", seconds)) s, CLI start included)")

        // The copy: one file (no WAL beside it), private, whole.
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/backups")
        #expect(files == ["copy.sqlite"], "\(files)")
        #expect(InstallTests.mode(copy) == 0o600)
        let (irc, integrity) = sh("sqlite3 \(copy) 'PRAGMA integrity_check'")
        #expect(irc == 0 && integrity.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(integrity)")
        // Counts sane: every message acknowledged before the backup began is in it, none
        // acknowledged after it ended; every inbound message has its dedupe key (one
        // transaction) and all but the (at most 4) turns in flight have their reply.
        let (_, counts) = sh("""
            sqlite3 \(copy) "SELECT (SELECT COUNT(*) FROM messages WHERE direction = 'in'), \
            (SELECT COUNT(*) FROM messages WHERE direction = 'out'), (SELECT COUNT(*) FROM dedupe_keys), \
            (SELECT COUNT(*) FROM sessions), (SELECT SUM(message_count) FROM sessions)"
            """)
        let n = counts.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").compactMap { Int($0) }
        try #require(n.count == 5, "\(counts)")
        #expect(n[0] >= before && n[0] <= after, "inbound in the copy \(n[0]), acknowledged \(before)...\(after)")
        #expect(n[2] == n[0] && n[1] <= n[0] && n[1] >= n[0] - 4, "in \(n[0]), out \(n[1]), dedupe keys \(n[2])")
        #expect(n[3] == 4)
    }

    @Test func refusesAndAdvises() throws {
        let dir = TestEnv.tempDir("backup-advice")
        let pgConfig = "\(dir)/pg.yaml"
        try "store:\n  url: postgres://gw:pa55word@127.0.0.1:5432/darkspere\n".write(toFile: pgConfig, atomically: true, encoding: .utf8)
        let (rc, out, err) = try TestSupport.run(TestSupport.darkspere, ["backup", "--config", pgConfig, "\(dir)/x.sqlite"])
        #expect(rc == 2)
        #expect(err.contains("pg_dump --format=custom"), "\(err)")
        #expect(!(out + err).contains("pa55word"))

        let sqliteConfig = "\(dir)/s.yaml"
        try "store:\n  url: sqlite:\(dir)/missing.sqlite\n".write(toFile: sqliteConfig, atomically: true, encoding: .utf8)
        let (rc2, _, err2) = try TestSupport.run(TestSupport.darkspere, ["backup", "--config", sqliteConfig, "\(dir)/x.sqlite"])
        #expect(rc2 == 1 && err2.contains("no database at \(dir)/missing.sqlite"), "\(err2)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.sqlite"))
    }
}
