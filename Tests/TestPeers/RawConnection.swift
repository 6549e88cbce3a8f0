import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client socket for hostile-request tests: it sends exactly the bytes given
/// (partial heads, lying Content-Lengths, nothing at all) and reads what the server answers,
/// with a timeout.
///
/// The waiting calls are `async` and block a thread of their own (not one of the Swift
/// concurrency pool's few: tests in other suites keep running while one waits).
/// Ownership: owns its descriptor, closed by `close()` or deinit. Threading: one task at a time.
public final class RawConnection: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public private(set) var fd: Int32
    private var received: [UInt8] = []
    public private(set) var closedByPeer = false

    public init(port: Int, host: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)   // not inherited by child processes
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else {
            let e = errno
            Glibc.close(fd)
            fd = -1
            throw Failure(description: "connect: errno \(e)")
        }
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "send: errno \(errno)")
            }
            off += n
        }
    }

    /// Reads until one whole response (head and Content-Length body) is in, the server closes,
    /// or `timeout` seconds pass. Returns the response's text, nil if none completed in time.
    /// With `headOnly` (the answer to a HEAD), the head alone is the response.
    public func response(timeout: Double, headOnly: Bool = false) async -> String? {
        await Self.offPool { self.blockingResponse(timeout: timeout, headOnly: headOnly) }
    }

    private func blockingResponse(timeout: Double, headOnly: Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let end = Self.responseEnd(received, headOnly: headOnly) {
                let text = String(decoding: received[..<end], as: UTF8.self)
                received.removeFirst(end)
                return text
            }
            if closedByPeer { return nil }
            let left = deadline.timeIntervalSinceNow
            guard left > 0, readSome(timeout: left) else { return nil }
        }
    }

    /// The status code of the next response, nil if none arrived within `timeout`.
    public func status(timeout: Double) async -> Int? {
        guard let r = await response(timeout: timeout) else { return nil }
        let parts = r.split(separator: " ", maxSplits: 2)
        return parts.count > 1 ? Int(parts[1]) : nil
    }

    /// Waits until the server closes the connection (reading and dropping anything it sends);
    /// false if it is still open after `timeout` seconds.
    public func waitClosed(timeout: Double) async -> Bool {
        await Self.offPool { self.blockingWaitClosed(timeout: timeout) }
    }

    private static let waiters = DispatchQueue(label: "raw-connection-waits", attributes: .concurrent)

    private static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in waiters.async { c.resume(returning: work()) } }
    }

    private func blockingWaitClosed(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !closedByPeer {
            if !readSome(timeout: max(0.001, deadline.timeIntervalSinceNow)) && Date() >= deadline { return false }
        }
        return true
    }

    /// One read (after waiting up to `timeout`); false on timeout.
    private func readSome(timeout: Double) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&p, 1, Int32(max(1, timeout * 1000)))
        guard rc > 0 else { return false }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { closedByPeer = true; return true }
        received.append(contentsOf: buf[..<n])
        return true
    }

    /// The end of the first complete response in `b` (head + Content-Length body), if any.
    static func responseEnd(_ b: [UInt8], headOnly: Bool = false) -> Int? {
        guard b.count >= 4 else { return nil }
        var headEnd: Int?
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { headEnd = i + 4; break }
        guard let headEnd else { return nil }
        if headOnly { return headEnd }
        let head = String(decoding: b[..<headEnd], as: UTF8.self).lowercased()
        var length = 0
        for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return b.count >= headEnd + length ? headEnd + length : nil
    }

    /// The value of header `name` in a response text.
    public static func header(_ name: String, in response: String) -> String? {
        for line in response.split(separator: "\r\n") {
            let kv = line.split(separator: ":", maxSplits: 1)
            if kv.count == 2, kv[0].lowercased() == name.lowercased() { return kv[1].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }
}
