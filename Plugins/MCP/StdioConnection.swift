import Foundation
import PluginKit
#if canImport(Glibc)
import Glibc
#endif

/// MCP over stdio: the agent runs as a child process; newline-delimited JSON-RPC on its
/// stdin/stdout; each line of its stderr goes to the host log. If the child exits it is
/// started again after a backoff (100 ms doubling to 10 s; reset after 30 s of uptime),
/// and `generation` changes so the client runs the handshake again. `close` stops it:
/// SIGTERM, then SIGKILL after 2 s.
///
/// Ownership and threading: owns the child and two reader threads (stdout, stderr).
/// All mutable state is behind `lock`; writes to stdin are serialised by `writeLock`.
/// Every public method may be called from any thread or task.
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

    private let lock = NSLock()
    private let writeLock = NSLock()
    private var process: Process?
    /// Guarded by `writeLock`.
    private var stdinFD: Int32 = -1
    private var stdinHandle: FileHandle?
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

    /// The child's pid, or nil when it is not running.
    var pid: Int32? { lock.withLock { process?.processIdentifier } }

    /// Starts the child. Throws `.config` if it cannot be launched.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd, isDirectory: true) }
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        p.standardError = errPipe
        let myGen: Int = lock.withLock { gen += 1; return gen }
        p.terminationHandler = { [weak self] proc in self?.exited(proc, generation: myGen) }
        do { try p.run() } catch {
            throw PluginError.config("command: could not start '\(executable)': \(error.localizedDescription)")
        }
        lock.withLock {
            process = p
            writeLock.withLock { stdinHandle = inPipe.fileHandleForWriting; stdinFD = inPipe.fileHandleForWriting.fileDescriptor }
            startedAt = Date()
            starts += 1
        }
        host.log(.info, "agent '\(agentName)': started \(executable) (pid \(p.processIdentifier))")
        let out = outPipe.fileHandleForReading, err = errPipe.fileHandleForReading
        Thread.detachNewThread { [weak self] in
            Self.readLines(out.fileDescriptor) { self?.received($0) }
            withExtendedLifetime(out) {}
        }
        Thread.detachNewThread { [weak self, host, agentName] in
            Self.readLines(err.fileDescriptor) { line in
                _ = self
                host.log(.info, "agent '\(agentName)' stderr: \(String(decoding: line, as: UTF8.self))")
            }
            withExtendedLifetime(err) {}
        }
    }

    /// Reads `fd` until EOF, calling `line` for each non-empty line (without the newline).
    private static func readLines(_ fd: Int32, _ line: ([UInt8]) -> Void) {
        var buf = [UInt8](repeating: 0, count: 65_536)
        var partial: [UInt8] = []
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            var start = 0
            for i in 0..<n where buf[i] == 10 {
                partial.append(contentsOf: buf[start..<i])
                if !partial.isEmpty { line(partial) }
                partial.removeAll(keepingCapacity: true)
                start = i + 1
            }
            partial.append(contentsOf: buf[start..<n])
        }
        if !partial.isEmpty { line(partial) }
    }

    private func exited(_ proc: Process, generation g: Int) {
        let (failed, restartIn): ([Pending], Int?) = lock.withLock {
            guard g == gen else { return ([], nil) }
            process = nil
            writeLock.withLock { stdinFD = -1; stdinHandle = nil }
            let f = Array(pending.values)
            pending.removeAll()
            if closed { return (f, nil) }
            if Date().timeIntervalSince(startedAt) > 30 { backoffMs = 100 }
            let delay = backoffMs
            backoffMs = min(backoffMs * 2, 10_000)
            return (f, delay)
        }
        for p in failed {
            p.deadline.cancel()
            p.continuation.resume(throwing: PluginError.unavailable("agent process exited (status \(proc.terminationStatus)) during \(p.method)"))
        }
        guard let delay = restartIn else { return }
        host.log(.warn, "agent '\(agentName)': process exited with status \(proc.terminationStatus); restarting in \(delay) ms")
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
        writeLock.lock(); defer { writeLock.unlock() }
        let fd = stdinFD   // guarded by writeLock (never take `lock` here: exited() nests lock → writeLock)
        guard fd >= 0 else { return false }
        var bytes = [UInt8](data)
        bytes.append(10)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            off += n
        }
        return true
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
    /// (1 s), then SIGTERM (2 s), then SIGKILL. Blocks the calling (host) thread.
    func close() {
        let p: Process? = lock.withLock { closed = true; return process }
        guard let p else { return }
        let pid = p.processIdentifier
        func waitExit(_ seconds: Double) -> Bool {
            let until = Date().addingTimeInterval(seconds)
            while lock.withLock({ process != nil }) && p.isRunning && Date() < until { usleep(5_000) }
            return !(lock.withLock({ process != nil }) && p.isRunning)
        }
        writeLock.withLock {
            if stdinFD >= 0 { try? stdinHandle?.close() }
            stdinFD = -1; stdinHandle = nil
        }
        if !waitExit(1) {
            kill(pid, SIGTERM)
            if !waitExit(2) { kill(pid, SIGKILL) }
        }
        host.log(.info, "agent '\(agentName)': stopped process \(pid)")
    }
}
