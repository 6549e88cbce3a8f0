import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Helpers every test suite shares: running protocol peers (python3 with the official
/// SDKs) and finding a free loopback port. A plain library linked into the one test
/// bundle; not part of the gateway.
public enum TestPeers {
    /// The repository root (this file is Tests/TestPeers/TestPeers.swift).
    public static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Where `swift build` put the plugins and executables: `DARKSPERE_BUILD_DIR` if set,
    /// else the folder of the running test bundle (the plugins sit next to it), else
    /// `.build/debug`.
    public static let buildDir: String = {
        if let d = ProcessInfo.processInfo.environment["DARKSPERE_BUILD_DIR"] { return d }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let dir = (exe as NSString).deletingLastPathComponent
        if FileManager.default.fileExists(atPath: dir + "/libPluginKit.so") { return dir }
        return URL(fileURLWithPath: repoRoot + "/.build/debug").resolvingSymlinksInPath().path
    }()

    /// The sanitizer this process runs under (`swift build --sanitize=thread|address`, see
    /// scripts/sanitize.sh): "thread", "address" or nil, read from the runtime linked into
    /// the test bundle. A C program a test compiles to load an instrumented plugin must be
    /// built with the same `-fsanitize=` (the plugin's instrumentation calls that runtime).
    public static let sanitizer: String? = {
        let me = dlopen(nil, RTLD_NOW)
        if dlsym(me, "__tsan_init") != nil { return "thread" }
        if dlsym(me, "__asan_init") != nil { return "address" }
        return nil
    }()

    /// The C compiler command (program, then leading arguments) for a C program a test
    /// builds to load the project's plugins: gcc normally; under a sanitizer the toolchain's
    /// clang with the same `-fsanitize=`, linked against the toolchain's libdispatch and
    /// BlocksRuntime (clang's ThreadSanitizer runtime intercepts dispatch and needs them), exporting
    /// the runtime's symbols to the plugins it loads (`-rdynamic`, as scripts/sanitize.sh does).
    public static let cCompiler: [String] = {
        guard let sanitizer else { return ["/usr/bin/gcc"] }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let bin = path.split(separator: ":").map(String.init).first { FileManager.default.isExecutableFile(atPath: $0 + "/swiftc") } ?? "/usr/bin"
        let real = URL(fileURLWithPath: bin + "/swiftc").resolvingSymlinksInPath().deletingLastPathComponent().path
        let lib = URL(fileURLWithPath: real).deletingLastPathComponent().path + "/lib/swift/linux"
        return [real + "/clang", "-fsanitize=\(sanitizer)", "-L", lib, "-Wl,-rpath," + lib, "-rdynamic", "-Wl,--no-as-needed", "-ldispatch", "-lBlocksRuntime"]
    }()

    /// Whether a TCP connection to 127.0.0.1:`port` succeeds now (a server is listening).
    public static func canConnect(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    /// Polls `condition` every 50 ms until it holds (true) or `seconds` passed (then its last
    /// value): waiting for a condition instead of sleeping a fixed time.
    public static func eventually(_ seconds: Double = 10, _ condition: () throws -> Bool) async rethrows -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while try !condition() && Date() < until { try? await Task.sleep(nanoseconds: 50_000_000) }
        return try condition()
    }

    /// A python3 run that exited non-zero.
    public struct ProcessFailure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Runs python3 with `script`, feeding `input` on stdin; returns stdout.
    /// Blocks until python exits (tests call it for short scripts only).
    public static func python(_ script: String, input: String = "") throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe; p.standardOutput = outPipe; p.standardError = errPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        let err = errPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ProcessFailure(description: "python3 failed (\(p.terminationStatus)): \(String(decoding: err, as: UTF8.self)) — run scripts/test-deps.sh")
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to 0, then released).
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// The first line a child writes to `pipe` (without the newline), read byte by byte so
    /// nothing after it is consumed.
    public static func firstLine(_ pipe: Pipe) -> String {
        var line = Data()
        while true {
            let b = pipe.fileHandleForReading.readData(ofLength: 1)
            if b.isEmpty || b == Data("\n".utf8) { break }
            line.append(b)
        }
        return String(decoding: line, as: UTF8.self)
    }

    /// A python3 server script on a loopback port: the script prints its port on the first
    /// line of stdout and serves until it is killed. `stop()` ends it with SIGKILL, not
    /// stdin EOF: Foundation's Process can leak the pipe's write end into a child spawned
    /// concurrently by another test (then EOF never comes), and SIGTERM is blocked in
    /// children spawned from dispatch threads.
    public final class PythonServer: @unchecked Sendable {
        let process = Process()
        let stdin = Pipe()
        public let port: Int

        public init(script: String, arguments: [String] = []) throws {
            let out = Pipe()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script] + arguments
            process.standardInput = stdin
            process.standardOutput = out
            try process.run()
            guard let p = Int(TestPeers.firstLine(out)) else {
                throw ProcessFailure(description: "\((script as NSString).lastPathComponent) did not start")
            }
            port = p
        }

        public var base: String { "http://127.0.0.1:\(port)" }

        public func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            try? stdin.fileHandleForWriting.close()
        }
    }
}
