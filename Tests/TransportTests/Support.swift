import Foundation
import TestPeers
import Testing
@testable import Host
#if canImport(Glibc)
import Glibc
#endif

/// Shared helpers of the transport tests: where the built plugins are, child
/// processes (Python fixture servers), free ports, and a loaded plugin set.
enum Env {
    static let repoRoot = TestPeers.repoRoot
    static let fixtures = repoRoot + "/Tests/TransportTests/Fixtures"

    /// The folder holding the built plugins (`swift build` must have run).
    static let buildDir = TestPeers.buildDir

    static var pluginsBuilt: Bool {
        ["libds-mcp.so", "libds-http-agent.so", "libds-openai.so", "darkspere-example-agent"]
            .allSatisfy { FileManager.default.fileExists(atPath: buildDir + "/" + $0) }
    }

    /// True when `import mcp` works in python3 (the official MCP SDK is installed).
    static let pythonMCP: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import mcp.server.mcpserver"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    static let python3: String = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let p = "\(dir)/python3"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return "/usr/bin/python3"
    }()

    static func freePort() -> Int { TestPeers.freePort() }

    static func canConnect(_ port: Int) -> Bool { TestPeers.canConnect(port) }
}

/// A child process the test started (a fixture server); `stop` kills it by pid.
final class ChildServer: @unchecked Sendable {
    let process = Process()
    let port: Int

    /// Starts `python3 <script> <args>` and waits until `port` accepts connections.
    init(script: String, args: [String], port: Int, env: [String: String] = [:]) throws {
        self.port = port
        process.executableURL = URL(fileURLWithPath: Env.python3)
        process.arguments = ["\(Env.fixtures)/\(script)"] + args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        process.environment = e
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let until = Date().addingTimeInterval(20)
        while !Env.canConnect(port) {
            guard Date() < until, process.isRunning else { stop(); throw TestFailure("fixture \(script) did not listen on \(port)") }
            usleep(50_000)
        }
    }

    static func agentHTTP() throws -> ChildServer {
        let port = Env.freePort()
        return try ChildServer(script: "agent_http_server.py", args: ["\(port)"], port: port)
    }

    static func mcpHTTP(json: Bool, port: Int = Env.freePort(), env: [String: String] = [:]) throws -> ChildServer {
        try ChildServer(script: "mcp_test_server.py", args: ["http", "\(port)", json ? "json" : "sse"], port: port, env: env)
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
    deinit { stop() }
}

struct TestFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

/// A plugin set loaded from YAML with the build folder as plugin path.
final class Loaded: @unchecked Sendable {
    let runtime = HostRuntime(logLevel: .warning)
    let set: PluginSet

    init(yaml: String) throws {
        var config = try ConfigLoader().load(yaml: "plugin_path: [\(Env.buildDir)]\n" + yaml)
        config.sourcePath = Env.repoRoot + "/plugins.yaml"
        set = try PluginSet.start(config, runtime: runtime)
    }

    /// Starts the set on a thread of its own, as the host's start-up does (opening an
    /// MCP agent blocks while its handshake runs; see openFromTasksDoesNotNeedTheCooperativePool
    /// for the case of a caller on the cooperative pool).
    static func start(yaml: String) async throws -> Loaded {
        try await offPool { try Loaded(yaml: yaml) }
    }

    func agent(_ name: String) throws -> AgentHandle {
        guard let a = set.agents.first(where: { $0.name == name }) else { throw TestFailure("no agent \(name)") }
        return a
    }

    func call(_ name: String, _ text: String, history: [(String, String)] = [], sessionState: String = "",
              timeoutMs: UInt32 = 10_000, session: String = "s1") async throws -> OpOutcome {
        let a = try agent(name)
        var c = AgentCall()
        c.messageId = UUID().uuidString
        c.sessionId = session
        c.channel = "twilio"
        c.from = "+15550001111"
        c.to = "+15550002222"
        c.text = text
        c.history = history.enumerated().map { (role: $1.0, text: $1.1, timeMs: 1_700_000_000_000 + Int64($0) * 1000) }
        c.sessionState = sessionState
        c.timeoutMs = timeoutMs
        c.timeMs = Int64(Date().timeIntervalSince1970 * 1000)
        return await a.transport.call(a, c)
    }

    func stop() {
        set.shutdown()
        runtime.shutdown()
    }
}

/// Why a suite cannot run, or nil.
func missingPrerequisite(needsPythonMCP: Bool) -> String? {
    if !Env.pluginsBuilt { return "the plugins are not built in \(Env.buildDir): run `swift build` before `swift test`" }
    if needsPythonMCP && !Env.pythonMCP { return "python3 cannot import the MCP SDK (`pip install mcp`, see scripts/test-deps.sh)" }
    return nil
}

/// Runs blocking work on a new thread (as the host does for open/close) and awaits it.
func offPool<T>(_ work: @escaping () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        Thread.detachNewThread {
            do { c.resume(returning: try work()) } catch { c.resume(throwing: error) }
        }
    }
}
