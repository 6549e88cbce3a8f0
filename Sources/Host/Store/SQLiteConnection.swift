import CSQLite
import Foundation

/// A SQLite connection with prepared-statement caching. Not thread-safe (see SQLConnection).
final class SQLiteConnection: SQLConnection {
    let dialect = SQLDialect.sqlite
    let db: OpaquePointer
    private var cache: [String: OpaquePointer] = [:]
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Before the first connection: no global memory statistics. With them on (SQLite's
    /// default) every allocation of every connection takes one process-wide mutex, which
    /// the turn threads' reader connections and the writer then contend on. `sqlite3_config`
    /// is variadic (not callable from Swift): called through a non-variadic pointer with
    /// integer arguments, which the x86-64 and AArch64 Linux C ABIs pass alike.
    private static let configured: Void = {
        #if os(Linux)
        typealias Config = @convention(c) (Int32, Int32) -> Int32
        if let f = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sqlite3_config") {
            _ = unsafeBitCast(f, to: Config.self)(SQLITE_CONFIG_MEMSTATUS, 0)
        }
        #endif
    }()

    init(path: String) throws {
        _ = Self.configured
        if path != ":memory:" && !path.hasPrefix("file:") {
            // Private whatever the umask: 0600 (SQLite gives the WAL and -shm the same mode), folders 0700.
            try PrivateFiles.prepare(path)
            PrivateFiles.tighten(path + "-wal")
            PrivateFiles.tighten(path + "-shm")
        }
        var h: OpaquePointer?
        let rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let h else {
            let msg = h.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let h { sqlite3_close(h) }
            throw StoreError("sqlite \(path): \(msg)")
        }
        db = h
        sqlite3_busy_timeout(db, 10_000)
        try execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;")
    }

    deinit {
        for s in cache.values { sqlite3_finalize(s) }
        sqlite3_close_v2(db)
    }

    private func error(_ sql: String) -> StoreError {
        StoreError("sqlite error \(sqlite3_errcode(db)): \(String(cString: sqlite3_errmsg(db))) in: \(sql.prefix(120))")
    }

    var inTransaction: Bool { sqlite3_get_autocommit(db) == 0 }

    func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(db, sql, nil, nil, &err) != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw StoreError("sqlite: \(msg) in: \(sql.prefix(120))")
        }
    }

    /// Runs one statement, drops its rows, and returns how many rows it changed and the
    /// rowid of the last row it inserted: what a `RETURNING id` would tell, without the
    /// temporary b-tree SQLite fills to hold `RETURNING`'s rows (a pager opened and closed
    /// per statement; the answered turn's two writes used it on every message).
    func run(_ sql: String, _ params: [SQLValue]) throws -> (changes: Int64, lastRowid: Int64) {
        try query(sql, params)
        return (sqlite3_changes64(db), sqlite3_last_insert_rowid(db))
    }

    @discardableResult
    func query(_ sql: String, _ params: [SQLValue]) throws -> [[SQLValue]] {
        let stmt: OpaquePointer
        if let s = cache[sql] { stmt = s } else {
            var s: OpaquePointer?
            guard sqlite3_prepare_v2(db, sql, -1, &s, nil) == SQLITE_OK, let s else { throw error(sql) }
            cache[sql] = s
            stmt = s
        }
        defer { sqlite3_reset(stmt); sqlite3_clear_bindings(stmt) }
        for (i, p) in params.enumerated() {
            let idx = Int32(i + 1)
            switch p {
            case .null: sqlite3_bind_null(stmt, idx)
            case .int(let v): sqlite3_bind_int64(stmt, idx, v)
            case .double(let v): sqlite3_bind_double(stmt, idx, v)
            case .text(let v): sqlite3_bind_text(stmt, idx, v, -1, Self.transient)
            }
        }
        var rows: [[SQLValue]] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(sql) }
            let n = sqlite3_column_count(stmt)
            var row: [SQLValue] = []
            row.reserveCapacity(Int(n))
            for c in 0..<n {
                switch sqlite3_column_type(stmt, c) {
                case SQLITE_NULL: row.append(.null)
                case SQLITE_INTEGER: row.append(.int(sqlite3_column_int64(stmt, c)))
                case SQLITE_FLOAT: row.append(.double(sqlite3_column_double(stmt, c)))
                default: row.append(.text(String(cString: sqlite3_column_text(stmt, c))))
                }
            }
            rows.append(row)
        }
        return rows
    }
}
