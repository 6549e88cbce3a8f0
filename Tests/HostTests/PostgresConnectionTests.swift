import Foundation
import Synchronization
import Testing
@testable import Host

/// libpq's connection attempts and dead connections are bounded by default: a database
/// that accepted the connection but never answered held the gateway's start-up (and every
/// turn that opened a connection) for as long as it stayed silent.
@Suite struct PostgresConnectionTests {
    @Test func theDefaultsApplyAndTheURLOverridesThem() throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let url = try pg.newDatabase()
        let plain = try PostgresConnection(url: url)
        #expect(plain.option("connect_timeout") == "10")
        #expect(plain.option("tcp_user_timeout") == "30000")
        #expect(plain.option("keepalives_idle") == "30")
        let own = try PostgresConnection(url: url + "?connect_timeout=3&keepalives_idle=120")
        #expect(own.option("connect_timeout") == "3")
        #expect(own.option("keepalives_idle") == "120")
        #expect(own.option("tcp_user_timeout") == "30000")
    }

    @Test func aServerThatNeverAnswersFailsTheConnectionInTime() throws {
        let silent = try SilentListener()
        let port = silent.port
        let outcome = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let started = Date()
        Thread.detachNewThread {
            do { _ = try PostgresConnection(url: "postgres://nobody@127.0.0.1:\(port)/db"); outcome.withLock { $0 = "connected" } }
            catch { outcome.withLock { $0 = "\(error)" } }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 20) == .success, "no answer after 20 s: the connection attempt is unbounded")
        let took = Date().timeIntervalSince(started)
        #expect(took >= 9 && took < 15, "gave up after \(took) s")
        #expect(outcome.withLock { $0 }?.contains("timeout") == true, "\(outcome.withLock { $0 } ?? "nil")")
    }
}

/// A TCP socket on 127.0.0.1 that listens and never accepts: the kernel completes the
/// handshake, and a client then waits for an answer that never comes.
final class SilentListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    struct Failed: Error {}

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 8) == 0 else { close(fd); throw Failed() }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        self.fd = fd
    }

    deinit { close(fd) }
}
