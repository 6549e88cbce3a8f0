import CSQLite
import Foundation

/// `darkspere backup`: a consistent online copy of a SQLite store through SQLite's backup
/// API (`sqlite3_backup_init/step/finish`), taken while the gateway writes.
///
/// The source is opened read-only by a connection of this process (never by a descriptor
/// of our own: see `PrivateFiles`); in WAL mode its read transaction sees one snapshot and
/// does not block the gateway's writer. The copy is built in `PATH.tmp-<pid>` (mode 0600:
/// it holds message bodies), switched out of WAL mode so it is one self-contained file,
/// checked with `PRAGMA quick_check`, and renamed over PATH. Threading: synchronous, any thread.
public enum StoreBackup {
    public enum Plan: Equatable {
        case sqlite(path: String)
        case postgres(advice: String)
        case unsupported(advice: String)
    }

    /// What `backup` does for a `store.url`.
    public static func plan(url: String, configDir: String) -> Plan {
        if url.hasPrefix("sqlite:") {
            var path = String(url.dropFirst("sqlite:".count))
            if path == ":memory:" || path.hasPrefix("file:") { return .unsupported(advice: "store.url is \(url): nothing on disk to back up") }
            if !path.hasPrefix("/") { path = (configDir as NSString).appendingPathComponent(path) }
            return .sqlite(path: path)
        }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            let shown = Redactor.redactURL(url)
            return .postgres(advice: """
                The store is PostgreSQL (\(shown)): back it up with PostgreSQL's own tools, which take a
                consistent snapshot while the gateway writes:
                  pg_dump --format=custom --file=darkspere-$(date +%F).dump '\(shown)'
                (the password from ~/.pgpass or PGPASSWORD, not the command line); restore with
                  pg_restore --clean --if-exists --dbname=... darkspere-YYYY-MM-DD.dump
                For point-in-time recovery use WAL archiving (pg_basebackup + archive_command).
                """)
        }
        return .unsupported(advice: "store.url: expected sqlite:PATH or postgres://..., got '\(Redactor.redactURL(url))'")
    }

    public struct Result: Sendable { public var pages: Int; public var bytes: Int64 }

    /// Copies the SQLite database at `source` to `destination`.
    public static func sqlite(from source: String, to destination: String) throws -> Result {
        guard FileManager.default.fileExists(atPath: source) else { throw StoreError("no database at \(source)") }
        let dest = URL(fileURLWithPath: destination).standardizedFileURL.path
        guard dest != URL(fileURLWithPath: source).standardizedFileURL.path else { throw StoreError("the copy cannot replace the store itself") }
        let tmp = dest + ".tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: tmp)
        try PrivateFiles.prepare(tmp)
        var ok = false
        defer { if !ok { try? FileManager.default.removeItem(atPath: tmp) } }

        var src: OpaquePointer?
        guard sqlite3_open_v2(source, &src, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let src else {
            let m = src.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let src { sqlite3_close(src) }
            throw StoreError("cannot open \(source): \(m)")
        }
        defer { sqlite3_close(src) }
        sqlite3_busy_timeout(src, 10_000)
        var dst: OpaquePointer?
        guard sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK, let dst else {
            let m = dst.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let dst { sqlite3_close(dst) }
            throw StoreError("cannot create \(tmp): \(m)")
        }
        var dstOpen = true
        defer { if dstOpen { sqlite3_close(dst) } }
        func fail(_ what: String, _ db: OpaquePointer) -> StoreError { StoreError("\(what): \(String(cString: sqlite3_errmsg(db)))") }

        guard let b = sqlite3_backup_init(dst, "main", src, "main") else { throw fail("backup", dst) }
        // One step copies every page inside one read transaction of the source: a single
        // snapshot, and in WAL mode the gateway's writer goes on meanwhile. Busy (a
        // checkpoint holding a lock for a moment) is retried.
        var rc: Int32
        var tries = 0
        repeat {
            rc = sqlite3_backup_step(b, -1)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { tries += 1; usleep(50_000) }
        } while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_OK) && tries < 200 && rc != SQLITE_DONE
        let pages = Int(sqlite3_backup_pagecount(b))
        sqlite3_backup_finish(b)
        guard rc == SQLITE_DONE else { throw StoreError("backup step: \(String(cString: sqlite3_errstr(rc)))") }

        // One self-contained file (no -wal beside it), checked before it replaces anything.
        for sql in ["PRAGMA journal_mode=DELETE", "PRAGMA quick_check"] {
            var stmt: OpaquePointer?
            guard sqlite3_prepare_v2(dst, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else { throw fail(sql, dst) }
            defer { sqlite3_finalize(stmt) }
            guard sqlite3_step(stmt) == SQLITE_ROW else { throw fail(sql, dst) }
            if sql.hasSuffix("quick_check") {
                let result = String(cString: sqlite3_column_text(stmt, 0))
                guard result == "ok" else { throw StoreError("the copy fails quick_check: \(result)") }
            }
        }
        sqlite3_close(dst)
        dstOpen = false
        PrivateFiles.tighten(tmp)
        guard rename(tmp, dest) == 0 else { throw StoreError("cannot rename the copy to \(dest): \(String(cString: strerror(errno)))") }
        ok = true
        let bytes = (try? FileManager.default.attributesOfItem(atPath: dest)[.size] as? NSNumber)?.int64Value ?? 0
        return Result(pages: pages, bytes: bytes)
    }
}
