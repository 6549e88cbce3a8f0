import Foundation
import Testing
@testable import Host

/// Tokens and helpers for the admin API tests.
enum AdminEnv {
    static let operatorToken = "op-token-0123456789abcdef"
    static let viewerToken = "viewer-token-0123456789abcdef"
    static let secondOperatorToken = "op2-token-0123456789abcdef"

    /// An `admin:` section (top-level YAML) on a free port, with an operator and a viewer token.
    static func section(metrics: Bool = false, extra: String = "") -> String {
        """
        admin:
          listen: 127.0.0.1:0
          metrics: \(metrics)
          tokens:
            - { name: olivia, token: "\(operatorToken)", role: operator }
            - { name: victor, token: "\(viewerToken)", role: viewer }
            - { name: oscar, token: "\(secondOperatorToken)", role: operator }
        \(extra)
        """
    }

    static let echoAgents = """
      - name: alpha
        transport: echo
        config: { prefix: alpha }
    """

    /// `agents:` entries for echo agents with these names, each answering "<name>: <text> (history: N)".
    static func echoAgentList(_ names: String...) -> String {
        names.map { "  - name: \($0)\n    transport: echo\n    config: { prefix: \($0) }" }.joined(separator: "\n")
    }

    /// A gateway on SQLite with the fixture channel, one echo agent and the admin listener.
    static func gateway(_ name: String, agents: String = echoAgents, admin: String = section(), routing: String = "",
                        extraPlugins: String = "") async throws -> TestGateway {
        let dir = TestEnv.tempDir(name)
        return try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: routing, agents: agents, routes: admin,
                                                          extraPlugins: extraPlugins), dir: dir)
    }
}

/// What the admin tests against a gateway with the fixture channel share: what the channel
/// sent (`dir/sends.txt`), the events written to `dir/events.jsonl` (by the file sink of
/// `AdminEnv.httpAgentGateway`), and waiting for a condition. Suites adopt it to use them.
protocol AdminGatewayTest {}

extension AdminGatewayTest {
    /// The fixture channel's sends so far, one line each (`…\tto\ttext`).
    func sends(_ dir: String) -> [String] {
        ((try? String(contentsOfFile: "\(dir)/sends.txt", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The events the file sink wrote so far.
    func events(_ dir: String) -> [JSONValue] {
        ((try? String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { try? JSONValue.parse(String($0)) }
    }

    /// Polls `cond` every 50 ms; records an issue naming `what` if it does not hold within `timeout` seconds.
    func waitFor(_ what: String, timeout: Double = 15, _ cond: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await cond() { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        Issue.record("timed out waiting for \(what)")
    }
}

extension AdminEnv {
    static let agentScript = TestEnv.repoRoot + "/Tests/TransportTests/Fixtures/agent_http_server.py"

    /// A gateway on SQLite with the fixture channel, an http-agent agent `alpha` served by
    /// the transport tests' Python agent server (its /handoff path answers with the roles of
    /// the history it got), the events in `dir/events.jsonl`, the admin listener, and
    /// `agents` after alpha. The caller stops both (the agent with `stop()`).
    static func httpAgentGateway(_ name: String, routing: String = "", agents: String = "") async throws -> (TestGateway, PythonAgent) {
        let agent = try await PythonAgent.start(script: agentScript)
        let dir = TestEnv.tempDir(name)
        let yaml = TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: routing, agents: """
          - name: alpha
            transport: http
            config: { url: "\(agent.base)/handoff" }
        \(agents)
        """, routes: section(), extraPlugins: """
          - id: http
            library: http-agent
          - id: events
            library: file-sink
            config: { path: \(dir)/events.jsonl, fsync: always }
        """)
        do {
            return (try await TestGateway(yaml: yaml, dir: dir), agent)
        } catch {
            agent.stop()
            throw error
        }
    }
}

/// The transport tests' agent server (`python3 agent_http_server.py PORT`), ready once
/// GET /health answers.
final class PythonAgent: @unchecked Sendable {
    let process = Process()
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    private init(script: String, port: Int) throws {
        self.port = port
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, String(port)]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    static func start(script: String) async throws -> PythonAgent {
        let a = try PythonAgent(script: script, port: TestEnv.freePort())
        for _ in 0..<100 {
            if let r = try? await AdminClient.http.send(method: "GET", url: a.base + "/health", timeoutMs: 1000), r.status == 200 { return a }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        a.stop()
        throw StoreError("agent_http_server.py did not start")
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// Calls the admin API over HTTP (the host's client) with a token.
struct AdminClient: Sendable {
    let port: Int
    var token: String? = AdminEnv.operatorToken
    static let http = HTTPClient()

    func call(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) async throws -> (status: Int, json: JSONValue?, text: String) {
        var h = headers
        if let token { h.append(("Authorization", "Bearer \(token)")) }
        if body != nil { h.append(("Content-Type", "application/json")) }
        let r = try await Self.http.send(method: method, url: "http://127.0.0.1:\(port)\(path)", headers: h, body: Array((body ?? "").utf8), timeoutMs: 10_000)
        let text = String(decoding: r.body, as: UTF8.self)
        return (r.status, try? JSONValue.parse(text), text)
    }

    func get(_ path: String) async throws -> (status: Int, json: JSONValue?, text: String) { try await call("GET", path) }
}

extension JSONValue {
    /// `error.code` of an admin error body.
    var errorCode: String? { self["error"]?["code"]?.stringValue }
}

/// A raw HTTP connection reading a streamed response (Server-Sent Events): the host's
/// client waits for whole responses, so this reads the socket as bytes arrive.
final class StreamReader: @unchecked Sendable {
    let fd: Int32
    private(set) var bytes: [UInt8] = []
    var received: String { String(decoding: bytes, as: UTF8.self) }

    /// `receiveBuffer`: a small kernel receive buffer (set before connecting) makes a slow client.
    init(port: Int, path: String, headers: [(String, String)], receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var v = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, socklen_t(MemoryLayout<Int32>.size)) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { _ = Glibc.close(fd); throw StoreError("connect failed") }
        var req = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        for (k, v) in headers { req += "\(k): \(v)\r\n" }
        req += "\r\n"
        _ = req.withCString { send(fd, $0, strlen($0), 0) }
    }

    /// Reads until `predicate(received)` holds or `timeout` passes; returns whether it held.
    @discardableResult
    func read(until predicate: (String) -> Bool, timeout: Double = 10) -> Bool {
        readBytes(until: { predicate(received) }, timeout: timeout)
    }

    /// The loop: `done` is checked before each read (without decoding what was received, so
    /// reading megabytes through a small buffer stays linear).
    private func readBytes(until done: () -> Bool, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 65536)
        while !done() {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(min(left, 1) * 1000)) > 0 else { continue }
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return done() }
            bytes += buf[0..<n]
        }
        return true
    }

    /// Reads until `needle` arrives (searching only new bytes: fast on long streams).
    @discardableResult
    func read(untilContains needle: String, timeout: Double = 10) -> Bool {
        let n = Array(needle.utf8)
        var from = 0
        return readBytes(until: {
            defer { from = max(0, bytes.count - n.count) }
            guard bytes.count >= n.count else { return false }
            var i = from
            while i + n.count <= bytes.count {
                if bytes[i] == n[0] && Array(bytes[i..<(i + n.count)]) == n { return true }
                i += 1
            }
            return false
        }, timeout: timeout)
    }

    /// The `data:` JSON of every plain event received so far, with its `id:`.
    var events: [(id: String, json: JSONValue)] {
        received.components(separatedBy: "\n\n").compactMap { block in
            var id: String?, data: String?
            for line in block.split(whereSeparator: \.isNewline) {
                if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                if line.hasPrefix("event: ") { return nil }
            }
            guard let id, let data, let j = try? JSONValue.parse(data) else { return nil }
            return (id, j)
        }
    }

    func close() { _ = Glibc.close(fd) }
}

/// Two `darkspere run` processes on one fresh PostgreSQL database, each with the fixture
/// channel, the echo agent and its own admin listener (operator and viewer tokens).
struct AdminProcessPair {
    let dir: String
    let ports: [Int]
    let adminPorts: [Int]
    let procs: [GatewayProcess]

    /// `routing` goes under `routing:`; `extra` after the `admin:` section (top-level YAML).
    static func start(_ name: String, client: HTTPClient, routing: String = "", extra: String = "") async throws -> AdminProcessPair {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let url = try pg.newDatabase()
        let dir = TestEnv.tempDir(name)
        let ports = [TestEnv.freePort(), TestEnv.freePort()]
        let adminPorts = [TestEnv.freePort(), TestEnv.freePort()]
        let procs = try await GatewayProcess.startAll(ports: ports, dir: dir, client: client) { port in
            let admin = AdminEnv.section().replacingOccurrences(of: "listen: 127.0.0.1:0",
                                                                 with: "listen: 127.0.0.1:\(adminPorts[ports.firstIndex(of: port)!])")
            return TestEnv.config(store: url, dir: dir, listen: "127.0.0.1:\(port)", routing: routing,
                                  agents: AdminEnv.echoAgents, routes: admin + extra)
        }
        return AdminProcessPair(dir: dir, ports: ports, adminPorts: adminPorts, procs: procs)
    }

    func terminate() { for p in procs { p.terminate() } }
}
