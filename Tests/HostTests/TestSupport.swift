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

    /// Runs a command, returns (exit status, stdout, stderr). Exit status: the code, or 128 +
    /// the signal that ended it.
    ///
    /// posix_spawn and waitpid, output into two temporary files, not Foundation's `Process`:
    /// its `waitUntilExit` once never returned for a child that had exited and been reaped (a
    /// fresh-clone CI run hung in ReloadProcessTests until killed), and reading its pipes to
    /// the end waits for any daemon the command leaves behind (pg_ctl start: `capture: false`
    /// sends the output to /dev/null).
    @discardableResult
    static func run(_ exe: String, _ args: [String], cwd: String? = nil, env: [String: String]? = nil, capture: Bool = true) throws -> (Int32, String, String) {
        let base = NSTemporaryDirectory() + "ds-run-\(UUID().uuidString)"
        let outPath = base + ".out", errPath = base + ".err"
        defer { unlink(outPath); unlink(errPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, capture ? outPath : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, capture ? errPath : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let cwd { try addChdir(&actions, cwd) }
        let argv = ([exe] + args).map { strdup($0) } + [nil]
        let envp = (env ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for a in argv + envp { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, envp)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        let code = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        let read = { (path: String) in capture ? ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "") : "" }
        return (code, read(outPath), read(errPath))
    }

    /// glibc's posix_spawn_file_actions_addchdir_np (2.29+), looked up at run time: Swift's
    /// Glibc module does not export it. (Not a wrapper process such as `env -C`: a test's
    /// LD_DEBUG would then trace the wrapper too.)
    private static func addChdir(_ actions: inout posix_spawn_file_actions_t, _ dir: String) throws {
        typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else {
            throw POSIXError(.ENOSYS)
        }
        let rc = unsafeBitCast(sym, to: AddChdir.self)(&actions, dir)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
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
