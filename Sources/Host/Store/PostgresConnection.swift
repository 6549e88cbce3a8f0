import CLibPQ
import Foundation

/// A PostgreSQL connection through libpq (text protocol, parameters always bound, never
/// interpolated). Statements with parameters are prepared once per connection (named
/// `ds1`, `ds2`, ...) and then executed by name: the server parses and plans each only
/// once. Not thread-safe (see SQLConnection).
final class PostgresConnection: SQLConnection {
    let dialect = SQLDialect.postgres
    let conn: OpaquePointer
    private var rewritten: [String: String] = [:]
    /// SQL text → name of its prepared statement on this connection.
    private var prepared: [String: String] = [:]

    init(url: String) throws {
        guard let c = PQconnectdb(url) else { throw StoreError("postgres: out of memory") }
        guard PQstatus(c) == CONNECTION_OK else {
            let msg = String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(c)
            throw StoreError("postgres \(Redactor.redactURL(url)): \(msg)")
        }
        conn = c
    }

    deinit { PQfinish(conn) }

    var isBroken: Bool { PQstatus(conn) != CONNECTION_OK }

    /// `?` → `$n`.
    private func rewrite(_ sql: String) -> String {
        if let r = rewritten[sql] { return r }
        var out = ""
        var n = 0
        for ch in sql {
            if ch == "?" { n += 1; out += "$\(n)" } else { out.append(ch) }
        }
        rewritten[sql] = out
        return out
    }

    private func check(_ res: OpaquePointer?, _ sql: String) throws -> OpaquePointer {
        guard let res else { throw StoreError("postgres: \(String(cString: PQerrorMessage(conn))) in: \(sql.prefix(120))") }
        let st = PQresultStatus(res)
        guard st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK else {
            let msg = String(cString: PQresultErrorMessage(res)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQclear(res)
            throw StoreError("postgres: \(msg) in: \(sql.prefix(120))")
        }
        return res
    }

    func execute(_ sql: String) throws {
        PQclear(try check(PQexec(conn, sql), sql))
    }

    @discardableResult
    func query(_ sql: String, _ params: [SQLValue]) throws -> [[SQLValue]] {
        let text = rewrite(sql)
        let strings: [String?] = params.map { $0.text }
        let cstrs: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
        defer { for p in cstrs { free(p) } }
        var name = prepared[sql]
        if name == nil && !params.isEmpty {
            let n = "ds\(prepared.count + 1)"
            PQclear(try check(PQprepare(conn, n, text, Int32(params.count), nil), sql))
            prepared[sql] = n
            name = n
        }
        let res: OpaquePointer? = cstrs.map { UnsafePointer($0) }.withUnsafeBufferPointer { buf in
            if let name { return PQexecPrepared(conn, name, Int32(params.count), buf.baseAddress, nil, nil, 0) }
            return PQexecParams(conn, text, Int32(params.count), nil, buf.baseAddress, nil, nil, 0)
        }
        let r = try check(res, sql)
        defer { PQclear(r) }
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
