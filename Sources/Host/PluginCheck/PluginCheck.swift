import Foundation
import Synchronization
import PluginAPI
#if canImport(Glibc)
import Glibc
#endif

/// What `darkspere plugin-check` is asked to do.
public struct PluginCheckOptions: Sendable {
    /// The library under check.
    public var path: String
    /// `--config FILE`, read: the `config` block to create instances with (JSON).
    public var configJSON: String?
    /// `--agent-config FILE`, read: the `agents[].config` block for transports (JSON).
    public var agentConfigJSON: String?
    /// Threads issuing operations at once, and operations per thread.
    public var threads = 4
    public var opsPerThread = 8
    /// An accepted op that is not completed within this is `never_completed`.
    public var opTimeoutMs: UInt64 = 10_000
    /// A cancelled op completed later than this after cancel() is `completed_after_cancel`.
    public var cancelBoundMs: UInt64 = 2_000
    /// A callback into the plugin running longer than this is `blocking_callback`.
    public var callbackBoundMs: UInt64 = 1_000
    /// A case process still running after this is killed (`hang`); `--case-timeout SECONDS`.
    public var caseTimeoutMs: UInt64 = 120_000
    /// Print each case's steps and the plugin's log lines.
    public var verbose = false

    public init(path: String) { self.path = path }

    /// Milliseconds as seconds for messages and arguments: "1", "1.5", "0.25".
    static func seconds(_ ms: UInt64) -> String {
        ms % 1000 == 0 ? "\(ms / 1000)" : String(format: "%g", Double(ms) / 1000)
    }

    /// The arguments that give a case process the same options (config passed as files).
    func caseArguments(configFile: String?, agentConfigFile: String?) -> [String] {
        var a = ["--threads", "\(threads)", "--ops-per-thread", "\(opsPerThread)", "--op-timeout-ms", "\(opTimeoutMs)",
                 "--cancel-bound-ms", "\(cancelBoundMs)", "--callback-bound-ms", "\(callbackBoundMs)",
                 "--case-timeout", Self.seconds(caseTimeoutMs)]
        if let configFile { a += ["--config", configFile] }
        if let agentConfigFile { a += ["--agent-config", agentConfigFile] }
        return a
    }
}

/// `darkspere plugin-check PATH.so`: a conformance validator for plugin libraries, in the
/// spirit of clap-validator. It loads the library as the host does, checks its descriptor
/// and every interface table, creates instances with the plugin's example config and with
/// invalid ones, runs operations from several threads (cancelling some), and reports every
/// break of the ABI contract by name (see `CheckFinding.Kind`).
///
/// Every case runs in a child process (this executable, hidden subcommand
/// `plugin-check-case`), so a crash or a hang is reported as a finding of that case
/// instead of ending the check. Called on the main thread.
public enum PluginCheck {
    /// One case's result, as the parent read it.
    struct CaseResult {
        var name: String
        var failures: [CheckFinding] = []
        var passes: [String] = []
        var skips: [String] = []
        var notes: [String] = []
        var info: [String] = []
        var interfaces: [String] = []
        var lastStep = ""
        var log: [String] = []
    }

    /// Runs every case; prints the report to stdout; returns the exit code (0 all passed,
    /// 1 a contract break, 2 the check could not run).
    public static func run(_ o: PluginCheckOptions, executable: String) -> Int32 {
        guard FileManager.default.fileExists(atPath: o.path) else {
            FileHandle.standardError.write(Data("darkspere plugin-check: \(o.path): no such file\n".utf8))
            return 2
        }
        let work = NSTemporaryDirectory() + "darkspere-plugin-check-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        func write(_ json: String?, _ name: String) -> String? {
            guard let json else { return nil }
            let p = work + "/" + name
            _ = FileManager.default.createFile(atPath: p, contents: Data(json.utf8), attributes: [.posixPermissions: 0o600])
            return p
        }
        let extra = o.caseArguments(configFile: write(o.configJSON, "config.json"), agentConfigFile: write(o.agentConfigJSON, "agent-config.json"))
        let path = URL(fileURLWithPath: o.path).standardizedFileURL.path
        print("darkspere plugin-check \(path)")

        var results: [CaseResult] = []
        var load = runChild(executable, ["load", path] + extra, name: "load", cwd: work, o)
        let fatal = load.failures.contains { [.load, .crash, .hang, .exited].contains($0.kind) }
        if !fatal && load.interfaces.isEmpty {
            load.failures.append(CheckFinding(kind: .descriptor, message: "the library offers no interface this host serves (\(DS_CHANNEL_V1), \(DS_AGENT_TRANSPORT_V1), \(DS_BILLING_V1), \(DS_LOG_SINK_V1))"))
        }
        results.append(load)
        report(load, o)
        if !fatal {
            for iface in load.interfaces {
                for c in ["create", "ops", "cancel"] {
                    let r = runChild(executable, [c, path, "--interface", iface] + extra, name: "\(c) \(iface)", cwd: work, o)
                    results.append(r)
                    report(r, o)
                }
            }
        }
        let failed = results.filter { !$0.failures.isEmpty }
        let skipped = results.filter { $0.failures.isEmpty && $0.passes.isEmpty && !$0.skips.isEmpty }
        let kinds = Set(results.flatMap { $0.failures.map(\.kind.rawValue) }).sorted()
        if failed.isEmpty {
            print("PASSED: \(results.count - skipped.count) of \(results.count) cases passed\(skipped.isEmpty ? "" : ", \(skipped.count) skipped")")
            return 0
        }
        print("FAILED: \(failed.count) of \(results.count) cases broke the contract (\(kinds.joined(separator: ", ")))")
        return 1
    }

    private static func report(_ r: CaseResult, _ o: PluginCheckOptions) {
        for i in r.info { print("      \(i)") }
        for n in r.notes { print("      note: \(n)") }
        if !r.failures.isEmpty {
            print("FAIL  \(r.name)")
            for f in r.failures { print("      \(f.kind.rawValue): \(f.message)") }
            if r.failures.contains(where: { [.crash, .hang, .exited].contains($0.kind) }) {
                print("      last step: \(r.lastStep)")
                for l in r.log.suffix(10) { print("      | \(l)") }
            }
        } else if !r.passes.isEmpty {
            print("PASS  \(r.name): \(r.passes.joined(separator: "; "))")
        } else if !r.skips.isEmpty {
            print("SKIP  \(r.name): \(r.skips.joined(separator: "; "))")
        } else {
            print("PASS  \(r.name)")
        }
        if o.verbose { for l in r.log { print("      | \(l)") } }
    }

    /// Runs one case in a child process and reads its lines; a signal, a timeout or an
    /// early exit becomes a finding.
    static func runChild(_ exe: String, _ args: [String], name: String, cwd: String, _ o: PluginCheckOptions) -> CaseResult {
        var result = CaseResult(name: name)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["plugin-check-case"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        // A crash must end the case at once: Swift's backtracer would keep the process (and
        // its pipes) alive, and on a loaded machine it can hang.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        p.environment = environment
        do { try p.run() } catch {
            result.failures.append(CheckFinding(kind: .crash, message: "cannot start the case process \(exe): \(error)"))
            return result
        }
        // Both pipes are drained on their own threads; the case ends when the child exits
        // (a grandchild the plugin started may keep a pipe open: its output is not awaited).
        let outDrain = PipeDrain(out.fileHandleForReading), errDrain = PipeDrain(err.fileHandleForReading)
        let killed = CheckFlag()
        let pid = p.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(o.caseTimeoutMs))) {
            if p.isRunning { killed.set(); kill(pid, SIGKILL) }
        }
        p.waitUntilExit()
        outDrain.wait(seconds: 3)
        errDrain.wait(seconds: 1)
        result.log = String(decoding: errDrain.data, as: UTF8.self).split(separator: "\n").map(String.init)
        let data = outDrain.data
        var done = false
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            switch f.first {
            case "step": result.lastStep = f.count > 1 ? f[1] : ""; if o.verbose { result.log.append("step: \(result.lastStep)") }
            case "fail":
                if f.count == 3, let k = CheckFinding.Kind(rawValue: f[1]) { result.failures.append(CheckFinding(kind: k, message: f[2])) }
            case "pass": result.passes.append(f.dropFirst().joined(separator: " "))
            case "skip": result.skips.append(f.dropFirst().joined(separator: " "))
            case "note": result.notes.append(f.dropFirst().joined(separator: " "))
            case "info": result.info.append(f.dropFirst().joined(separator: " "))
            case "iface": if f.count > 1 { result.interfaces.append(f[1]) }
            case "done": done = true
            default: break
            }
        }
        if killed.isSet {
            result.failures.append(CheckFinding(kind: .hang, message: "the case did not finish within \(PluginCheckOptions.seconds(o.caseTimeoutMs)) s (--case-timeout) and was killed: a call into the plugin did not return (if it is only slow, give a longer --case-timeout)"))
        } else if p.terminationReason == .uncaughtSignal {
            let sig = p.terminationStatus
            let sigName = strsignal(sig).map { String(cString: $0) } ?? "signal \(sig)"
            result.failures.append(CheckFinding(kind: .crash, message: "the plugin crashed the process: signal \(sig) (\(sigName)) during: \(result.lastStep)"))
        } else if !done {
            result.failures.append(CheckFinding(kind: .exited, message: "the process ended with status \(p.terminationStatus) during: \(result.lastStep) (a plugin must never exit the host)"))
        }
        return result
    }
}

/// A flag set once from any thread.
final class CheckFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// Reads a pipe to its end on a thread of its own; `data` is what arrived so far.
/// Unchecked Sendable: `bytes` only under `lock`; `finished` is a semaphore.
final class PipeDrain: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = Data()
    private let finished = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.lock(); bytes.append(chunk); lock.unlock()
            }
            finished.signal()
        }
    }

    /// Waits until the pipe reached its end, at most `seconds`.
    func wait(seconds: Double) { _ = finished.wait(timeout: .now() + seconds) }

    var data: Data { lock.lock(); defer { lock.unlock() }; return bytes }
}
