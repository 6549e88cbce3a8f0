import Foundation
import Logging
import Synchronization
import Testing
@testable import Host

/// A server that refuses new connections (PostgreSQL's `max_connections` reached) slows a
/// pool's callers down instead of failing them, as long as the pool has a connection open.
@Suite(.serialized) struct ConnectionPoolTests {
    struct Refused: Error {}

    /// A pool over in-memory SQLite connections whose factory opens only `allowed` of them.
    final class Server: @unchecked Sendable {
        let allowed: Mutex<Int>
        let opened = Atomic<Int>(0)
        let refusals = Atomic<Int>(0)
        init(allowed: Int) { self.allowed = Mutex(allowed) }
        func open() throws -> any SQLConnection {
            let ok = allowed.withLock { n in n > 0 ? { n -= 1; return true }() : false }
            guard ok else { refusals.add(1, ordering: .relaxed); throw Refused() }
            opened.add(1, ordering: .relaxed)
            return try SQLiteConnection(path: ":memory:")
        }
    }

    @Test func aRefusedConnectionWaitsForAnOpenOne() throws {
        let server = Server(allowed: 2)
        let shortfalls = Atomic<Int>(0)
        let pool = ConnectionPool(max: 4, onShortfall: { _ in shortfalls.add(1, ordering: .relaxed) }) { try server.open() }
        let a = try pool.acquire(), b = try pool.acquire()
        // A third caller: the server refuses, so it waits for a or b instead of throwing.
        let got = Mutex<(any SQLConnection)?>(nil)
        let failed = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do { let c = try pool.acquire(); got.withLock { $0 = c } } catch { failed.store(true, ordering: .relaxed) }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 0.3) == .timedOut, "the third acquire returned instead of waiting")
        let threw = failed.load(ordering: .relaxed)
        #expect(!threw)
        pool.release(a)
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(got.withLock { $0 } === a)
        #expect(shortfalls.load(ordering: .relaxed) == 1)
        // While held off, a fourth caller waits without asking the server again.
        let refusalsBefore = server.refusals.load(ordering: .relaxed)
        let fourth = DispatchSemaphore(value: 0)
        Thread.detachNewThread { if let c = try? pool.acquire() { pool.release(c) }; fourth.signal() }
        #expect(fourth.wait(timeout: .now() + 0.3) == .timedOut)
        #expect(server.refusals.load(ordering: .relaxed) == refusalsBefore)
        pool.release(b)
        #expect(fourth.wait(timeout: .now() + 5) == .success)
        #expect(server.opened.load(ordering: .relaxed) == 2)
    }

    @Test func withNoConnectionOpenARefusalIsTheCallersError() {
        let server = Server(allowed: 0)
        let pool = ConnectionPool(max: 4) { try server.open() }
        #expect(throws: Refused.self) { _ = try pool.acquire() }
        // A connection dropped as broken while others wait: the last one gone, they fail too.
        let one = Server(allowed: 1)
        let p2 = ConnectionPool(max: 4) { try one.open() }
        let c = try? p2.acquire()
        let failed = DispatchSemaphore(value: 0)
        Thread.detachNewThread { if (try? p2.acquire()) == nil { failed.signal() } }
        usleep(100_000)
        if let c { p2.release(c, broken: true) }
        #expect(failed.wait(timeout: .now() + 5) == .success)
    }

    /// The gateway's store on a server with fewer connections than the store may open (here
    /// 6 against 12 + 8 + 1): every turn of 16 threads at once completes, where before each
    /// turn that needed a new connection failed with "sorry, too many clients already"; the
    /// start-up and the first refusal are logged with what to change.
    @Test func turnsOnAFullPostgresServerWaitInsteadOfFailing() throws {
        let pg = try PostgresServer(options: "-c max_connections=6 -c superuser_reserved_connections=0")
        let logs = CapturedLogs()
        let store = try SQLStore(postgresURL: pg.url, connections: 12, lockConnections: 8, logger: logs.logger)
        defer { store.close() }
        #expect(logs.lines.contains { $0.contains("allows this role 6 connections") && $0.contains("may open 21") })
        let failures = Mutex<[String]>([])
        // Threads of their own: concurrentPerform would run only as many at once as there are cores.
        let threads = DispatchGroup()
        for t in 0..<16 {
            threads.enter()
            Thread.detachNewThread {
                defer { threads.leave() }
                for i in 0..<5 {
                    do { try Self.turn(store, remote: "+1555\(t)", id: "m\(t)-\(i)") } catch { failures.withLock { $0.append("\(error)") } }
                }
            }
        }
        threads.wait()
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { Array($0.prefix(3)) })")
        // (psql would find the server full: the store's own connection counts.)
        #expect(try store.pool.with { try $0.one("SELECT COUNT(*) FROM messages", [])?[0].int } == 160)
        #expect(logs.lines.contains { $0.contains("refused a new") && $0.contains("raise the server's max_connections") })
    }
}

extension ConnectionPoolTests {
    /// One message's turn as the router makes it: lock, context, the inbound and the reply.
    static func turn(_ store: SQLStore, remote: String, id: String) throws {
        let lock = try store.lockConversationForTurn("k\(remote)")
        defer { lock.release() }
        let ctx = try store.turnContext(channel: "t", channelMessageId: id, remote: remote, local: "+2", sinceMs: 0,
                                        under: lock, historyDepth: { _ in 5 })
        try store.answerTurn(id: id, remote: remote, session: ctx.session?.id)
    }
}

/// Log lines kept in memory (warnings and above), for tests that check what the gateway told the operator.
final class CapturedLogs: @unchecked Sendable {
    private let store = Mutex<[String]>([])
    var lines: [String] { store.withLock { $0 } }
    var logger: Logger { Logger(label: "test") { _ in Handler(logs: self) } }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning
        subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            logs.store.withLock { $0.append("\(level): \(message)") }
        }
    }
}
