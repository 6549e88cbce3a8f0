import Foundation
import PluginKit
#if canImport(Glibc)
import Glibc
#endif

/// MCP over stdio: the agent runs as a child process started through the host's process
/// service (ABI 1.2 `process_spawn`: pipes, no inherited host descriptors, exit
/// notification); newline-delimited JSON-RPC on its stdin/stdout; each line of its stderr
/// goes to the host log. If the child exits it is started again after a backoff (100 ms
/// doubling to 10 s; reset after 30 s of uptime), and `generation` changes so the client
/// runs the handshake again. `close` stops it: stdin closed, then SIGTERM after 1 s, then
/// SIGKILL after 2 s more.
///
/// Ownership and threading: owns the child (through its `ChildProcess` handle). The host
/// delivers the child's output and exit on one host thread per child, in order; all mutable
/// state is behind `lock`; writes to stdin are serialised by the host (per child).
/// Every public method may be called from any thread or task.
/// Unchecked Sendable: every `var` only under `lock`; the rest is immutable.
final class StdioConnection: MCPConnection, @unchecked Sendable {
    private struct Pending {
        let continuation: CheckedContinuation<JSONObject, any Error>
        let method: String
        let deadline: DispatchWorkItem
    }

    let host: PluginHost
    let agentName: String
    let executable: String
    let args: [String]
    let env: [String: String]
    let cwd: String?

    /// Guards the state below; `close` waits on it for the child's exit (`exited` broadcasts).
    private let lock = NSCondition()
    private var process: PluginHost.ChildProcess?
    private var pending: [Int: Pending] = [:]
    private var nextId = 0
    private var gen = 0
    private var closed = false
    private var backoffMs = 100
    private var startedAt = Date()
    /// Number of times the child was started (1 after the first start).
    private(set) var starts = 0

    init(host: PluginHost, agentName: String, executable: String, args: [String], env: [String: String], cwd: String?) {
        self.host = host; self.agentName = agentName; self.executable = executable
        self.args = args; self.env = env; self.cwd = cwd
    }

    var generation: Int { lock.withLock { gen } }
    func setProtocol(version: String?, perRequest: Bool) {}

    /// Starts the child. Throws `.config` if it cannot be launched.
    func start() throws {
        let myGen: Int = lock.withLock { gen += 1; return gen }
        // The child's output arrives in chunks: split stdout and stderr into lines here.
        let lines = LineSplitter()
        let child: PluginHost.ChildProcess
        do {
            child = try host.spawn([executable] + args, env: env.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, cwd: cwd) { [weak self, host, agentName] event in
                switch event {
                case .stdout(let bytes): lines.out(bytes) { self?.received($0) }
                case .stderr(let bytes):
                    lines.err(bytes) { host.log(.info, "agent '\(agentName)' stderr: \(String(decoding: $0, as: UTF8.self))") }
                case .exit(let status):
                    lines.flush(out: { self?.received($0) },
                                err: { host.log(.info, "agent '\(agentName)' stderr: \(String(decoding: $0, as: UTF8.self))") })
                    self?.exited(status: status, generation: myGen)
                }
            }
        } catch {
            throw PluginError.config("command: could not start '\(executable)': \(PluginError.from(error).message)")
        }
        lock.withLock {
            process = child
            startedAt = Date()
            starts += 1
        }
        host.log(.info, "agent '\(agentName)': started \(executable)")
    }

    private func exited(status: Int32, generation g: Int) {
        let (failed, restartIn): ([Pending], Int?) = lock.withLock {
            guard g == gen else { return ([], nil) }
            process = nil
            lock.broadcast()
            let f = Array(pending.values)
            pending.removeAll()
            if closed { return (f, nil) }
            if Date().timeIntervalSince(startedAt) > 30 { backoffMs = 100 }
            let delay = backoffMs
            backoffMs = min(backoffMs * 2, 10_000)
            return (f, delay)
        }
        let how = status < 0 ? "killed by signal \(-status)" : "status \(status)"
        for p in failed {
            p.deadline.cancel()
            p.continuation.resume(throwing: PluginError.unavailable("agent process exited (\(how)) during \(p.method)"))
        }
        guard let delay = restartIn else { return }
        host.log(.warn, "agent '\(agentName)': process exited (\(how)); restarting in \(delay) ms")
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delay)) { [weak self] in self?.restart() }
    }

    private func restart() {
        guard lock.withLock({ !closed && process == nil }) else { return }
        do { try start() } catch {
            host.log(.error, "agent '\(agentName)': restart failed: \(error)")
            // Schedule another attempt through the same backoff path.
            let delay: Int = lock.withLock { let d = backoffMs; backoffMs = min(backoffMs * 2, 10_000); return d }
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delay)) { [weak self] in self?.restart() }
        }
    }

    // MARK: Messages in

    private func received(_ line: [UInt8]) {
        for m in JSONRPC.decode(Data(line)) {
            if JSONRPC.isResponse(m) {
                guard let id = JSONRPC.id(of: m), let p = lock.withLock({ pending.removeValue(forKey: id) }) else { continue }
                p.deadline.cancel()
                switch JSONRPC.result(of: m, method: p.method) {
                case .success(let r): p.continuation.resume(returning: r)
                case .failure(let e): p.continuation.resume(throwing: e)
                }
            } else if let method = m["method"] as? String {
                if let id = m["id"] {
                    // A request from the server: we answer ping and refuse the rest.
                    let answer: [String: Any] = method == "ping"
                        ? ["jsonrpc": "2.0", "id": id, "result": [String: Any]()]
                        : ["jsonrpc": "2.0", "id": id, "error": ["code": -32601, "message": "method not supported by DarkSpere: \(method)"]]
                    _ = write(JSONRPC.encode(answer))
                } else if method == "notifications/message", let params = m["params"] as? [String: Any] {
                    host.log(.info, "agent '\(agentName)' log: \(params["data"].map { "\($0)" } ?? "")")
                }
            } else {
                host.log(.warn, "agent '\(agentName)': ignored a line that is not JSON-RPC (\(line.count) bytes)")
            }
        }
    }

    // MARK: Messages out

    /// Writes one line to the child's stdin. False if it is not running or the pipe broke.
    @discardableResult
    private func write(_ data: Data) -> Bool {
        guard let p = lock.withLock({ process }) else { return false }
        var bytes = [UInt8](data)
        bytes.append(10)
        return p.write(bytes)
    }

    func request(_ method: String, _ params: [String: Any]?, timeoutMs: UInt32) async throws -> JSONObject {
        let id: Int = try lock.withLock {
            if closed { throw PluginError.cancelled("agent '\(agentName)' is closed") }
            guard process != nil else { throw PluginError.unavailable("agent '\(agentName)' process is not running (restarting)") }
            nextId += 1
            return nextId
        }
        let message = JSONRPC.request(id: id, method: method, params: params)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<JSONObject, any Error>) in
                let deadline = DispatchWorkItem { [weak self] in
                    self?.giveUp(id, PluginError.timeout("MCP \(method): no answer within \(timeoutMs) ms"), reason: "timeout")
                }
                lock.withLock { pending[id] = Pending(continuation: c, method: method, deadline: deadline) }
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeoutMs)), execute: deadline)
                if !write(message) {
                    giveUp(id, PluginError.unavailable("agent '\(agentName)': could not write to the process"), reason: nil)
                } else if Task.isCancelled {
                    giveUp(id, PluginError.cancelled(), reason: "cancelled")
                }
            }
        } onCancel: {
            giveUp(id, PluginError.cancelled(), reason: "cancelled")
        }
    }

    /// Fails a pending request (if still pending) and, with a reason, tells the server.
    private func giveUp(_ id: Int, _ error: PluginError, reason: String?) {
        guard let p = lock.withLock({ pending.removeValue(forKey: id) }) else { return }
        p.deadline.cancel()
        if let reason { write(JSONRPC.cancelled(id: id, reason: reason)) }
        p.continuation.resume(throwing: error)
    }

    func notify(_ method: String, _ params: [String: Any]?) async {
        if !write(JSONRPC.notification(method: method, params: params)) {
            host.log(.warn, "agent '\(agentName)': could not send \(method)")
        }
    }

    /// Stops the child the way the MCP spec asks: close its stdin, wait for it to exit
    /// (1 s), then SIGTERM (2 s), then SIGKILL. Blocks the calling (host) thread, waiting on
    /// `lock` for the exit notice (no polling).
    func close() {
        let p: PluginHost.ChildProcess? = lock.withLock { closed = true; return process }
        guard let p else { return }
        func waitExit(_ seconds: Double) -> Bool {
            let until = Date().addingTimeInterval(seconds)
            lock.lock(); defer { lock.unlock() }
            while process != nil && lock.wait(until: until) {}
            return process == nil
        }
        p.closeStdin()
        if !waitExit(1) {
            p.kill(SIGTERM)
            if !waitExit(2) { p.kill(SIGKILL); _ = waitExit(2) }
        }
        host.log(.info, "agent '\(agentName)': stopped its process")
    }
}

/// Splits a child's stdout and stderr chunks into lines (without the newline; empty lines
/// skipped). Used from the host's one thread per child, so it needs no lock.
/// Unchecked Sendable: used only from the host's one thread per child (events of one child arrive
/// in order on one thread).
final class LineSplitter: @unchecked Sendable {
    private var outPartial: [UInt8] = []
    private var errPartial: [UInt8] = []

    func out(_ bytes: [UInt8], _ line: ([UInt8]) -> Void) { Self.split(bytes, &outPartial, line) }
    func err(_ bytes: [UInt8], _ line: ([UInt8]) -> Void) { Self.split(bytes, &errPartial, line) }

    /// Hands over unterminated last lines (at exit).
    func flush(out: ([UInt8]) -> Void, err: ([UInt8]) -> Void) {
        if !outPartial.isEmpty { out(outPartial); outPartial = [] }
        if !errPartial.isEmpty { err(errPartial); errPartial = [] }
    }

    private static func split(_ bytes: [UInt8], _ partial: inout [UInt8], _ line: ([UInt8]) -> Void) {
        var start = 0
        for i in bytes.indices where bytes[i] == 10 {
            partial.append(contentsOf: bytes[start..<i])
            if !partial.isEmpty { line(partial) }
            partial.removeAll(keepingCapacity: true)
            start = i + 1
        }
        partial.append(contentsOf: bytes[start...])
    }
}
