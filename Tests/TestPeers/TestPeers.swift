import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Helpers every test suite shares: running protocol peers (python3 with the official
/// SDKs) and finding a free loopback port. A plain library linked into the one test
/// bundle; not part of the gateway.
public enum TestPeers {
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
}
