import CLibPQ
import Foundation

/// A PostgreSQL connection through libpq (text protocol, parameters always bound, never
/// interpolated). Statements with parameters are prepared once per connection (named
/// `ds1`, `ds2`, ...) and then executed by name: the server parses and plans each only
/// once. Not thread-safe (see SQLConnection).
final class PostgresConnection: SQLConnection {
    let dialect = SQLDialect.postgres
    let conn: OpaquePointer
    /// A statement as this connection knows it: its text with `?` rewritten to `$n`, and the
    /// name of its prepared statement ("" while not prepared).
    private struct Known { var text: String; var name: String }
    /// SQL text (with `?`) → the statement: one dictionary look-up (one hash of the text) per
    /// statement run.
    private var known: [String: Known] = [:]
    /// How many statements are prepared on this connection (names `ds1`, `ds2`, ...).
    private var preparedCount = 0
    /// One statement of a pipeline: prepared statement name ("" = sent unprepared), SQL (for
    /// errors), parameters.
    private typealias Piped = (name: String, sql: String, params: [String?])
    /// Statements deferred by `send`.
    private var deferred: [Piped] = []

    /// The advisory lock key whose unlock is deferred on this connection (set and read by
    /// `SQLStore`'s lock pool, under the pool's hand-off; may be stale once sent).
    var unlockKey: String?

    /// Connects with the project's bounds on libpq's waits (`ds_pq_connect` in CLibPQ's
    /// shim: 10 s to connect, ~30 s to notice a vanished server; the URL may set its own).
    init(url: String) throws {
        guard let c = ds_pq_connect(url) else { throw StoreError("postgres: out of memory") }
        guard PQstatus(c) == CONNECTION_OK else {
            let msg = String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(c)
            throw StoreError("postgres \(Redactor.redactURL(url)): \(msg)")
        }
        conn = c
    }

    deinit { PQfinish(conn) }

    /// The value libpq uses for connection option `name` (e.g. "connect_timeout"), nil if
    /// unset: what the URL and `ds_pq_connect`'s defaults came to.
    func option(_ name: String) -> String? {
        guard let all = PQconninfo(conn) else { return nil }
        defer { PQconninfoFree(all) }
        var p = all
        while let key = p.pointee.keyword {
            if String(cString: key) == name { return p.pointee.val.map { String(cString: $0) } }
            p += 1
        }
        return nil
    }

    var isBroken: Bool { PQstatus(conn) != CONNECTION_OK }
    var inTransaction: Bool { PQtransactionStatus(conn) != PQTRANS_IDLE }

    /// `?` → `$n`.
    private static func rewrite(_ sql: String) -> String {
        var out = ""
        var n = 0
        for ch in sql {
            if ch == "?" { n += 1; out += "$\(n)" } else { out.append(ch) }
        }
        return out
    }

    /// `sql` rewritten to `$n` placeholders (remembered).
    private func rewrite(_ sql: String) -> String {
        if let k = known[sql] { return k.text }
        let text = Self.rewrite(sql)
        known[sql] = Known(text: text, name: "")
        return text
    }

    /// The SQLSTATE of a failed result (PG_DIAG_SQLSTATE), or nil.
    private static func sqlState(_ res: OpaquePointer) -> String? {
        guard let p = PQresultErrorField(res, Int32(UInt8(ascii: "C"))) else { return nil }
        return String(cString: p)
    }

    private func check(_ res: OpaquePointer?, _ sql: String) throws -> OpaquePointer {
        guard let res else { throw StoreError("postgres: \(String(cString: PQerrorMessage(conn))) in: \(sql.prefix(120))") }
        let st = PQresultStatus(res)
        guard st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK else {
            let msg = String(cString: PQresultErrorMessage(res)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = Self.sqlState(res)
            PQclear(res)
            throw StoreError("postgres: \(msg) in: \(sql.prefix(120))", sqlState: state)
        }
        return res
    }

    func execute(_ sql: String) throws {
        try flush()
        PQclear(try check(PQexec(conn, sql), sql))
    }

    /// The name of `sql`'s prepared statement, preparing it on first use.
    private func preparedName(_ sql: String, _ count: Int) throws -> String {
        if let k = known[sql], !k.name.isEmpty { return k.name }
        let text = rewrite(sql)
        let n = "ds\(preparedCount + 1)"
        PQclear(try check(PQprepare(conn, n, text, Int32(count), nil), sql))
        preparedCount += 1
        known[sql] = Known(text: text, name: n)
        return n
    }

    /// Prepares `sql` now (it is otherwise prepared on first use, one round trip).
    func prepare(_ sql: String, parameters: Int) throws {
        _ = try preparedName(sql, parameters)
    }

    /// `sql` for a pipeline: prepared if it has parameters; a statement without parameters,
    /// such as `BEGIN` or `COMMIT`, is sent unprepared.
    private func piped(_ sql: String, _ params: [SQLValue]) throws -> Piped {
        (params.isEmpty ? "" : try preparedName(sql, params.count), sql, params.map { $0.text })
    }

    /// Defers `sql` until the next `query`, `execute` or `flush`.
    func send(_ sql: String, _ params: [SQLValue]) throws {
        deferred.append(try piped(sql, params))
    }

    func discardDeferred() { deferred.removeAll() }

    /// How many statements are deferred (for `discardDeferred(keeping:)`).
    var deferredCount: Int { deferred.count }
    /// Drops the statements deferred after the first `count` (a turn's lock statement that
    /// was never sent), keeping older ones (a previous turn's deferred unlock).
    func discardDeferred(keeping count: Int) {
        if deferred.count > count { deferred.removeLast(deferred.count - count) }
    }

    /// Sends the deferred statements in pipeline mode (one round trip; the server runs them
    /// in order, as if sent one by one) and reads every result; throws the first error.
    func flush() throws {
        if !deferred.isEmpty { _ = try queries([]) }
    }

    /// Runs the deferred statements and then `statements`, all in one pipeline (one round
    /// trip; the server runs them in order), and returns the rows of each of `statements`.
    /// Throws the first error (statements after a failed one are not run).
    func queries(_ statements: [(sql: String, params: [SQLValue])]) throws -> [[[SQLValue]]] {
        let batch = deferred + (try statements.map { try piped($0.sql, $0.params) })
        deferred.removeAll()
        return try pipeline(batch, rowsOfLast: statements.count)
    }

    /// Runs `batch` in pipeline mode and returns the rows of its last `rowsOfLast` statements.
    private func pipeline(_ batch: [Piped], rowsOfLast: Int) throws -> [[[SQLValue]]] {
        let firstWithRows = batch.count - rowsOfLast
        var rowSets = [[[SQLValue]]](repeating: [], count: rowsOfLast)
        guard PQenterPipelineMode(conn) == 1 else { throw StoreError("postgres: cannot enter pipeline mode: \(String(cString: PQerrorMessage(conn)))") }
        var firstError: StoreError?
        for d in batch {
            let ok = d.name.isEmpty ? PQsendQueryParams(conn, d.sql, 0, nil, nil, nil, nil, 0)   // no parameters (COMMIT)
                : Self.withCParameters(d.params) { PQsendQueryPrepared(conn, d.name, Int32(d.params.count), $0, nil, nil, 0) }
            if ok != 1 && firstError == nil { firstError = StoreError("postgres: \(String(cString: PQerrorMessage(conn))) in: \(d.sql.prefix(120))") }
        }
        _ = PQpipelineSync(conn)
        // Results: per statement, its result then NULL; then one PIPELINE_SYNC result.
        var index = 0, nulls = 0
        while true {
            guard let r = PQgetResult(conn) else {
                nulls += 1
                if nulls > batch.count + 2 || isBroken { break }   // broken connection: give up
                continue
            }
            let st = PQresultStatus(r)
            if st == PGRES_PIPELINE_SYNC { PQclear(r); break }
            if st == PGRES_FATAL_ERROR && firstError == nil {
                let msg = String(cString: PQresultErrorMessage(r)).trimmingCharacters(in: .whitespacesAndNewlines)
                firstError = StoreError("postgres: \(msg) in: \(batch[min(index, batch.count - 1)].sql.prefix(120))",
                                        sqlState: Self.sqlState(r))
            }
            if index >= firstWithRows && index < batch.count && st == PGRES_TUPLES_OK { rowSets[index - firstWithRows] = Self.rows(r) }
            index += 1
            PQclear(r)
        }
        if PQexitPipelineMode(conn) != 1 && firstError == nil {
            firstError = StoreError("postgres: cannot leave pipeline mode: \(String(cString: PQerrorMessage(conn)))")
        }
        if let firstError { throw firstError }
        return rowSets
    }

    @discardableResult
    func query(_ sql: String, _ params: [SQLValue]) throws -> [[SQLValue]] {
        // The deferred statements and this one in one round trip.
        if !deferred.isEmpty { return try queries([(sql, params)])[0] }
        let res: OpaquePointer?
        if params.isEmpty {
            res = PQexecParams(conn, rewrite(sql), 0, nil, nil, nil, nil, 0)
        } else {
            let name = try preparedName(sql, params.count)
            res = Self.withCParameters(params.map { $0.text }) { PQexecPrepared(conn, name, Int32(params.count), $0, nil, nil, 0) }
        }
        let r = try check(res, sql)
        defer { PQclear(r) }
        return Self.rows(r)
    }

    /// Calls `body` with `params` as NUL-terminated C strings (NULL for SQL NULL), all in one
    /// buffer (one allocation, not one per parameter), valid only during the call.
    private static func withCParameters<R>(_ params: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(params.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 })
        var offsets: [Int] = []
        offsets.reserveCapacity(params.count)
        for p in params {
            guard let p else { offsets.append(-1); continue }
            offsets.append(bytes.count)
            bytes.append(contentsOf: p.utf8)
            bytes.append(0)
        }
        bytes.append(0)   // never empty (all NULL): the buffer has an address
        return bytes.withUnsafeBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { base in
                let pointers: [UnsafePointer<CChar>?] = offsets.map { $0 < 0 ? nil : base + $0 }
                return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
            }
        }
    }

    private static func rows(_ r: OpaquePointer) -> [[SQLValue]] {
        let rows = PQntuples(r), cols = PQnfields(r)
        var out: [[SQLValue]] = []
        out.reserveCapacity(Int(rows))
        for i in 0..<rows {
            var row: [SQLValue] = []
            for c in 0..<cols {
                if PQgetisnull(r, i, c) == 1 { row.append(.null) } else { row.append(.text(String(cString: PQgetvalue(r, i, c)))) }
            }
            out.append(row)
        }
        return out
    }
}
