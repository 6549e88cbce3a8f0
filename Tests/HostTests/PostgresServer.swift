import Foundation
import TestPeers

/// A throwaway PostgreSQL server on loopback for tests (Debian's postgresql package):
/// initdb into a temp dir, start on a free port, stop/start at will, remove at the end.
/// Runs the server as the `postgres` user when the tests run as root.
final class PostgresServer: @unchecked Sendable {
    let port: Int
    let dataDir: String
    let bin: String
    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    struct Unavailable: Error, CustomStringConvertible { var description: String }

    static func binDir() -> String? {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
        return versions.map { "\(base)/\($0)/bin" }.first { FileManager.default.fileExists(atPath: "\($0)/initdb") }
    }

    /// Extra server options for `start` (e.g. "-c max_connections=10").
    let options: String

    init(options: String = "") throws {
        self.options = options
        guard let bin = Self.binDir() else { throw Unavailable(description: "PostgreSQL is not installed (scripts/install-deps.sh --test installs it)") }
        self.bin = bin
        port = TestPeers.freePort()
        dataDir = "/tmp/darkspere-pg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        if getuid() == 0 { _ = try TestSupport.run("/bin/chown", ["postgres:postgres", dataDir]) }
        let (rc, _, err) = try asPostgres("\(bin)/initdb", ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync"])
        guard rc == 0 else { throw Unavailable(description: "initdb failed: \(err)") }
        try start()
    }

    private func asPostgres(_ exe: String, _ args: [String], capture: Bool = true) throws -> (Int32, String, String) {
        if getuid() == 0 { return try TestSupport.run("/usr/sbin/runuser", ["-u", "postgres", "--", exe] + args, capture: capture) }
        return try TestSupport.run(exe, args, capture: capture)
    }

    func start() throws {
        let (rc, out, err) = try asPostgres("\(bin)/pg_ctl", ["-D", dataDir, "-l", "\(dataDir)/log", "-w", "-t", "30", "start",
                                                            "-o", "-p \(port) -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 \(options)"],
                                          capture: false)
        guard rc == 0 else {
            let log = (try? String(contentsOfFile: "\(dataDir)/log", encoding: .utf8)) ?? ""
            throw Unavailable(description: "pg_ctl start failed: \(out) \(err) \(log.suffix(500))")
        }
    }

    func stop() throws {
        _ = try asPostgres("\(bin)/pg_ctl", ["-D", dataDir, "-w", "-m", "fast", "stop"], capture: false)
    }

    /// Runs SQL with psql and returns its unaligned output.
    func psql(_ sql: String) throws -> String {
        let (rc, out, err) = try TestSupport.run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-Atc", sql])
        guard rc == 0 else { throw Unavailable(description: "psql: \(err)") }
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        try? stop()
        try? FileManager.default.removeItem(atPath: dataDir)
    }
}
