import Foundation
import Logging
import TestPeers
@testable import Host

/// Paths and helpers shared by the host tests.
enum TestSupport {
    /// The repository root (this file is Tests/HostTests/TestSupport.swift).
    static let root = TestPeers.repoRoot

    /// Where `swift build` put the plugins and the darkspere executable.
    static let buildDir = TestPeers.buildDir

    static var darkspere: String { buildDir + "/darkspere" }

    static func library(_ product: String) -> String { "\(buildDir)/lib\(product).so" }

    static let logger: Logger = {
        var l = Logger(label: "test")
        l.logLevel = .warning
        return l
    }()

    /// A YAML config listening on a free port with plugins from the build dir.
    static func yaml(plugins: String, agents: String = "", store: String = "sqlite::memory:", extra: String = "") -> String {
        """
        server:
          listen: 127.0.0.1:0
          public_url: http://gateway.test
          max_body_bytes: 4096
          request_timeout: 20s
          shutdown_grace: 5s
        store:
          url: "\(store)"
        plugin_path: ["\(buildDir)"]
        \(extra)
        plugins:
        \(plugins)
        agents:
        \(agents.isEmpty ? "  []" : agents)
        """
    }

    static func config(_ yaml: String) throws -> GatewayConfig {
        try ConfigLoader(environment: [:]).load(yaml: yaml)
    }

    static let client = HTTPClient()

    static func get(_ port: Int, _ path: String) async throws -> ClientResponse {
        try await client.send(method: "GET", url: "http://127.0.0.1:\(port)\(path)", timeoutMs: 10_000)
    }

    static func post(_ port: Int, _ path: String, _ body: String) async throws -> ClientResponse {
        try await client.send(method: "POST", url: "http://127.0.0.1:\(port)\(path)", headers: [("Content-Type", "text/plain")], body: Array(body.utf8), timeoutMs: 10_000)
    }

    /// Runs a command, returns (exit status, stdout, stderr).
    @discardableResult
    static func run(_ exe: String, _ args: [String], cwd: String? = nil, env: [String: String]? = nil, capture: Bool = true) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        if let env { p.environment = env }
        if !capture { return (spawnAndWait(exe, args), "", "") }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// posix_spawn + waitpid, output to /dev/null: for commands that leave a daemon behind
    /// (pg_ctl start), where Foundation's Process would wait for EOF or never reap the child.
    static func spawnAndWait(_ exe: String, _ args: [String]) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([exe] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, exe, &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status >> 8) & 0xff
    }

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "darkspere-test-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

extension ClientResponse {
    var text: String { String(decoding: body, as: UTF8.self) }
}
