import CLibPQ
import Foundation
import PluginKit

/// `postgres-sink`: events into a PostgreSQL table (libpq), one multi-row INSERT per
/// batch with `ON CONFLICT (id) DO NOTHING`, so a batch retried after an unclear failure
/// inserts nothing twice. An unreachable database answers RETRY (the host keeps the batch
/// and backs off); the connection is re-established on the next write.
///
/// Threading: libpq calls block, so they run on one serial DispatchQueue per instance,
/// never on the Swift cooperative pool. The host never writes concurrently on one instance.
/// Unchecked Sendable: `conn` and `tableReady` are touched only on `queue`; the rest is immutable.
final class PostgresSink: LogSink, @unchecked Sendable {
    struct Config: Decodable { var url: String; var table: String? }

    let host: PluginHost
    let url: String
    let table: String
    private let queue = DispatchQueue(label: "darkspere.postgres-sink")
    private var conn: OpaquePointer?          // only touched on `queue`
    private var tableReady = false             // only touched on `queue`

    init(host: PluginHost, config: PluginConfig) throws {
        self.host = host
        let c = try config.decode(Config.self)
        url = c.url
        table = c.table ?? "darkspere_events"
        guard table.range(of: #"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"#, options: .regularExpression) != nil else {
            throw PluginError.config("table: '\(table)' is not a plain SQL identifier")
        }
        // Connect now to report problems early; an unreachable database is not fatal.
        queue.sync {
            do { try ensureConnected() } catch { host.log(.warn, "postgres-sink: database not reachable yet (\(error)); will retry") }
        }
    }

    func shutdown() { queue.sync { if let c = conn { PQfinish(c); conn = nil } } }

    private var indexName: String { table.replacingOccurrences(of: ".", with: "_") }

    /// Connects (or reconnects) and creates the table if missing. On `queue`.
    private func ensureConnected() throws {
        if let c = conn, PQstatus(c) == CONNECTION_OK, tableReady { return }
        if let c = conn { PQfinish(c); conn = nil; tableReady = false }
        let c = ds_pq_connect(url)   // bounded waits (CLibPQ's shim), so a silent server cannot hold start-up
        guard let c, PQstatus(c) == CONNECTION_OK else {
            let why = c.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            if let c { PQfinish(c) }
            throw PluginError.retry("cannot connect: \(why.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        conn = c
        // CREATE … IF NOT EXISTS answers with NOTICEs that libpq would print on stderr.
        try exec("SET client_min_messages TO warning")
        try exec("""
            CREATE TABLE IF NOT EXISTS \(table) (
                id text PRIMARY KEY, type text NOT NULL, time timestamptz NOT NULL,
                correlation_id text, session text, agent text, event jsonb NOT NULL);
            CREATE INDEX IF NOT EXISTS \(indexName)_type_idx ON \(table) (type);
            CREATE INDEX IF NOT EXISTS \(indexName)_time_idx ON \(table) (time);
            CREATE INDEX IF NOT EXISTS \(indexName)_correlation_idx ON \(table) (correlation_id);
            CREATE INDEX IF NOT EXISTS \(indexName)_session_idx ON \(table) (session);
            CREATE INDEX IF NOT EXISTS \(indexName)_agent_idx ON \(table) (agent);
            """)
        tableReady = true
    }

    private func exec(_ sql: String) throws {
        let r = PQexec(conn, sql)
        defer { PQclear(r) }
        let st = PQresultStatus(r)
        guard st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK else { throw failure(r) }
    }

    /// Classifies a failed statement: connection lost → RETRY, else a permanent error.
    private func failure(_ r: OpaquePointer?) -> PluginError {
        let msg = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
        if PQstatus(conn) != CONNECTION_OK {
            PQfinish(conn); conn = nil; tableReady = false
            return .retry("connection lost: \(msg)")
        }
        let state = r.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) } ?? ""
        // Class 08 (connection), 57 (operator intervention: shutdown), 53 (resources): transient.
        if state.hasPrefix("08") || state.hasPrefix("57") || state.hasPrefix("53") { return .retry("\(state): \(msg)") }
        return .failed("\(state): \(msg)")
    }

    func write(_ events: [String]) async throws -> SinkResult {
        let rows = events.compactMap(Row.init)
        if rows.count < events.count { host.log(.warn, "postgres-sink: \(events.count - rows.count) event(s) without id/type/time skipped") }
        if rows.isEmpty { return .written }
        return try await withCheckedThrowingContinuation { cont in
            queue.async { [self] in
                do {
                    try ensureConnected()
                    try insert(rows)
                    cont.resume(returning: .written)
                } catch let e as PluginError where e.status == DS_RETRY {
                    cont.resume(returning: .retry(reason: e.message))
                } catch {
                    cont.resume(throwing: error)
                }
            }
        }
    }

    /// One statement per batch (atomic): INSERT … VALUES (…),(…) ON CONFLICT (id) DO NOTHING.
    private func insert(_ rows: [Row]) throws {
        var sql = "INSERT INTO \(table) (id, type, time, correlation_id, session, agent, event) VALUES "
        var params: [String?] = []
        params.reserveCapacity(rows.count * 7)
        for (i, r) in rows.enumerated() {
            let b = i * 7
            sql += (i == 0 ? "" : ",") + "($\(b + 1),$\(b + 2),$\(b + 3)::timestamptz,$\(b + 4),$\(b + 5),$\(b + 6),$\(b + 7)::jsonb)"
            params += [r.id, r.type, r.time, r.correlation, r.session, r.agent, r.json]
        }
        sql += " ON CONFLICT (id) DO NOTHING"
        let cstrings = params.map { $0.map { strdup($0) } ?? nil }
        defer { for p in cstrings { free(p) } }
        let r = cstrings.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: UnsafePointer<CChar>?.self) {
                PQexecParams(conn, sql, Int32(params.count), nil, $0.baseAddress, nil, nil, 0)
            }
        }
        defer { PQclear(r) }
        guard PQresultStatus(r) == PGRES_COMMAND_OK else { throw failure(r) }
    }

    /// The indexed columns of one event.
    struct Row {
        let id: String, type: String, time: String
        let correlation: String?, session: String?, agent: String?
        let json: String
        init?(_ line: String) {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let id = o["id"] as? String, let type = o["type"] as? String, let time = o["time"] as? String else { return nil }
            self.id = id; self.type = type; self.time = time
            correlation = o["correlation_id"] as? String
            session = o["session"] as? String
            agent = o["agent"] as? String
            json = line
        }
    }
}

@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "postgres-sink", name: "PostgreSQL event sink", version: "1.0.0",
                 description: "Events into a PostgreSQL table (JSONB + indexed columns), exactly once per event id",
                 configSchema: #"""
                 {"type":"object","required":["url"],"additionalProperties":false,
                  "properties":{"url":{"type":"string","pattern":"^postgres(ql)?://"},
                                "table":{"type":"string","pattern":"^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$"}}}
                 """#,
                 logSink: PostgresSink.self).entry(host, major, minor)
}
