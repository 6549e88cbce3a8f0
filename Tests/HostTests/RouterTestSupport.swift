import Foundation
import Logging
import Testing
@testable import Host
import TestPeers

/// Paths and helpers shared by the router's tests.
enum TestEnv {
    static let repoRoot = TestPeers.repoRoot
    /// Where `swift build` put the plugins (and the darkspere binary).
    static let buildDir = TestPeers.buildDir

    static func tempDir(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "ds-router-\(name)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func freePort() -> Int { TestPeers.freePort() }

    /// A plugins.yaml for the router tests: the fixture channel "test" (route /test/sms)
    /// and the given agents / routing / routes sections (YAML text, indented as top level).
    static func config(store: String, dir: String, listen: String = "127.0.0.1:0", routing: String = "", agents: String, routes: String = "",
                       extraPlugins: String = "") -> String {
        """
        server:
          listen: \(listen)
        store:
          url: \(store)
        routing:
          \(routing.contains("probe_interval") ? "" : "probe_interval: 60s")
        \(routing.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        plugin_path: [\(buildDir)]
        plugins:
          - id: test
            library: fixture-test-channel
            config: { route: /test/sms, sends_file: \(dir)/sends.txt, fail_file: \(dir)/send-fail }
          - id: echo
            library: c-echo-agent
          - id: flaky
            library: fixture-test-channel
            config: { route: /flaky/unused }
        \(extraPlugins)
        agents:
        \(agents)
        \(routes)
        """
    }

    static func loadConfig(_ yaml: String, dir: String) throws -> GatewayConfig {
        let path = "\(dir)/plugins.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try ConfigLoader().load(path: path)
    }

    static var logger: Logger {
        var l = Logger(label: "test")
        l.logLevel = .error
        return l
    }
}

/// A gateway running in this process.
final class TestGateway: @unchecked Sendable {
    let gateway: Gateway
    let dir: String
    var port = 0

    init(yaml: String, dir: String) async throws {
        self.dir = dir
        let cfg = try TestEnv.loadConfig(yaml, dir: dir)
        gateway = try Gateway(config: cfg, logger: TestEnv.logger)
        port = try await gateway.start()
    }

    var router: ConversationRouter { gateway.conversations }
    var store: SQLStore { gateway.store as! SQLStore }

    func submit(from: String, to: String = "+15550000001", id: String, text: String, channel: String = "test") async -> SubmitOutcome {
        await withCheckedContinuation { c in
            gateway.router.submit(Inbound(channel: channel, channelMessageId: id, from: from, to: to, text: text)) { c.resume(returning: $0) }
        }
    }

    func reply(from: String, to: String = "+15550000001", id: String, text: String) async -> String {
        if case .reply(let t) = await submit(from: from, to: to, id: id, text: text) { return t }
        return "<not an inline reply>"
    }

    func scalar(_ sql: String, _ params: [SQLValue] = []) throws -> Int64 {
        try store.withConnection { try $0.one(sql, params)?[0].int ?? -1 }
    }

    func stop() async { await gateway.stop() }
}

/// An HTTP POST to the fixture channel's route, through the host's HTTP client.
func postSMS(port: Int, from: String, to: String, id: String, text: String, client: HTTPClient) async -> (Int, String) {
    func enc(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }
    let body = "from=\(enc(from))&to=\(enc(to))&id=\(enc(id))&text=\(enc(text))"
    return await withCheckedContinuation { c in
        let err = client.request(method: "POST", url: "http://127.0.0.1:\(port)/test/sms",
                                 headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(body.utf8), timeoutMs: 60_000) { r in
            switch r {
            case .success(let resp): c.resume(returning: (resp.status, String(decoding: resp.body, as: UTF8.self)))
            case .failure(let e): c.resume(returning: (-1, e.message))
            }
        }
        if let err { c.resume(returning: (-1, err.message)) }
    }
}

/// Runs a command, waits, returns (status, output).
@discardableResult
func sh(_ cmd: String) -> (Int32, String) {
    // posix_spawn + waitpid rather than Foundation.Process (whose exit monitoring can miss
    // children inside test tasks), and output through a file, not a pipe, so daemons
    // started by the command cannot keep a reader waiting.
    let out = NSTemporaryDirectory() + "ds-sh-\(UUID().uuidString)"
    let args = ["/bin/sh", "-c", "(\(cmd)) > \(out) 2>&1 < /dev/null"]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0 else { return (-1, "spawn failed") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(atPath: out)
    return ((status >> 8) & 0xff, text)
}

/// A PostgreSQL 15 server for the test run, started on a free loopback port in a temp
/// directory as the `postgres` user (initdb refuses root). One per process; each test
/// takes a fresh database from `newDatabase()`.
final class TestPostgres: @unchecked Sendable {
    static let shared: TestPostgres? = TestPostgres()
    let port: Int
    let dir: String
    private let counter = NSLock()
    private var n = 0

    private init?() {
        let bin = "/usr/lib/postgresql/15/bin"
        guard FileManager.default.fileExists(atPath: "\(bin)/initdb") else { return nil }
        dir = TestEnv.tempDir("pg")
        port = TestEnv.freePort()
        sh("chown -R postgres:postgres \(dir)")
        let (s1, o1) = sh("su postgres -s /bin/sh -c '\(bin)/initdb -D \(dir)/data -A trust -U postgres --no-sync' 2>&1")
        guard s1 == 0 else { print("initdb failed: \(o1)"); return nil }
        let opts = "-p \(port) -k \(dir) -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=on -c shared_buffers=128MB"
        let (s2, o2) = sh("su postgres -s /bin/sh -c \"\(bin)/pg_ctl -D \(dir)/data -l \(dir)/log -w -o '\(opts)' start\" > \(dir)/pg_ctl.out 2>&1 < /dev/null; cat \(dir)/pg_ctl.out")
        guard s2 == 0 else { print("pg_ctl failed: \(o2)"); return nil }
        atexit_stop(dir: dir)
    }

    /// A new empty database; returns its URL.
    func newDatabase() throws -> String {
        counter.lock(); n += 1; let name = "t\(getpid())_\(n)"; counter.unlock()
        let c = try PostgresConnection(url: "postgres://postgres@127.0.0.1:\(port)/postgres")
        try c.execute("CREATE DATABASE \(name)")
        return "postgres://postgres@127.0.0.1:\(port)/\(name)"
    }

    /// The same database's URL through the server's Unix socket (in `dir`), as a gateway on
    /// the database's host would reach it.
    func socketURL(_ tcpURL: String) -> String {
        "postgresql://postgres@/\(tcpURL.split(separator: "/").last!)?host=\(dir)&port=\(port)"
    }
}

private nonisolated(unsafe) var pgDirs: [String] = []
private func atexit_stop(dir: String) {
    pgDirs.append(dir)
    atexit {
        for d in pgDirs { _ = sh("su postgres -s /bin/sh -c '/usr/lib/postgresql/15/bin/pg_ctl -D \(d)/data -m immediate stop' >/dev/null 2>&1") }
    }
}

/// A `darkspere run` child process (for kill -9 and multi-process tests).
final class GatewayProcess: @unchecked Sendable {
    let pid: pid_t
    let port: Int

    init(config: String, port: Int, log: String) throws {
        self.port = port
        let bin = "\(TestEnv.buildDir)/darkspere"
        let args = ["/bin/sh", "-c", "exec \(bin) run --config \(config) >> \(log) 2>&1 < /dev/null"]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var p: pid_t = 0
        guard posix_spawn(&p, "/bin/sh", nil, nil, &argv, environ) == 0 else { throw StoreError("cannot start \(bin)") }
        pid = p
    }

    /// One gateway per port, each with the config `yaml(port)` written to `dir/plugins-<i>.yaml`
    /// and its output in `dir/gateway-<i>.log`; returns once every one answers /readyz.
    static func startAll(ports: [Int], dir: String, client: HTTPClient, yaml: (Int) -> String) async throws -> [GatewayProcess] {
        var procs: [GatewayProcess] = []
        for (i, port) in ports.enumerated() {
            try yaml(port).write(toFile: "\(dir)/plugins-\(i).yaml", atomically: true, encoding: .utf8)
            procs.append(try GatewayProcess(config: "\(dir)/plugins-\(i).yaml", port: port, log: "\(dir)/gateway-\(i).log"))
        }
        for p in procs { try await p.waitReady(client: client) }
        return procs
    }

    /// Waits until /readyz answers 200.
    func waitReady(client: HTTPClient, timeout: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let ok: Bool = await withCheckedContinuation { c in
                let e = client.request(method: "GET", url: "http://127.0.0.1:\(port)/readyz", headers: [], body: [], timeoutMs: 1000) { r in
                    if case .success(let resp) = r { c.resume(returning: resp.status == 200) } else { c.resume(returning: false) }
                }
                if e != nil { c.resume(returning: false) }
            }
            if ok { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw StoreError("gateway on port \(port) not ready after \(timeout)s")
    }

    func kill9() {
        kill(pid, SIGKILL)
        var st: Int32 = 0
        waitpid(pid, &st, 0)
    }

    func terminate() {
        kill(pid, SIGTERM)
        var st: Int32 = 0
        waitpid(pid, &st, 0)
    }
}

extension SQLStore {
    /// One answered message written as the router writes it (channel "t", agent "a"):
    /// `beginTurn` (a new session unless `session` is given), then `finishTurn` with `reply`.
    /// Returns the session id.
    @discardableResult
    func answerTurn(id: String, remote: String, text: String = "hi", reply: String = "r", session: Int64? = nil,
                    nowMs: Int64 = 1000) throws -> Int64 {
        let (s, mid) = try beginTurn(TurnStart(channel: "t", channelMessageId: id, remote: remote, local: "+2", text: text, nowMs: nowMs,
                                               sessionId: session, newAgent: session == nil ? "a" : nil))
        try finishTurn(TurnFinish(sessionId: s.id, inboundMessageId: mid, channel: "t", channelMessageId: id, agent: "a", reply: reply,
                                  sessionState: nil, processingMs: 1, nowMs: nowMs + 1, outbox: nil))
        return s.id
    }
}
