// Admin API benchmarks (issue 13).
//
//   bench-admin sessions <dir> [sessions=1000000] [requests=200]
//       GET /api/v1/sessions pages over HTTP from a gateway whose SQLite store holds N sessions.
//   bench-admin sse <dir> [messages=20000] [rounds=3] [concurrency=32]
//       message-path throughput (router submit → store → echo agent → reply) without and with
//       an SSE client subscribed to GET /api/v1/events, in alternating runs.
//   bench-admin console <dir> [messages=10000] [rounds=4] [concurrency=32] [sink|nosink]
//       the same message path without and with the operator console open: its event stream
//       (the console's filter, ?access_token=) read to the end, and the list/transcript reads
//       the page makes when events arrive (at most every 400 ms). Each run on a fresh gateway
//       and store, so a "without" run is not warmed by an earlier watcher; runs alternate,
//       starting with "without" and "with" in turn. `sink` (default) adds a file sink (as the
//       default plugins.yaml has), `nosink` none. BENCH_ONLY=with|without runs one half;
//       BENCH_CLIENT=stream opens a client on the whole event stream instead of the console.
//
// Plugins come from the build folder of this executable (fixture test channel, C echo agent).
import Foundation
import Host
import Logging

let args = CommandLine.arguments
guard args.count >= 3, ["sessions", "sse", "console"].contains(args[1]) else {
    FileHandle.standardError.write(Data("usage: bench-admin sessions|sse|console <dir> [...]\n".utf8))
    exit(2)
}
let dir = args[2]
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
/// The directory of this executable (the plugins are built next to it), however it was
/// started: `./bench-admin` gave "." and `deletingLastPathComponent` of that crashed.
let buildDir = ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path).withoutLastPathComponent
extension String {
    var withoutLastPathComponent: String { URL(fileURLWithPath: self).deletingLastPathComponent().path }
}
let token = "bench-operator-token-0123456789"

func yaml(_ store: String) -> String {
    """
    server:
      listen: 127.0.0.1:0
    store:
      url: \(store)
    routing:
      probe_interval: 600s
    plugin_path: [\(buildDir), \(buildDir.withoutLastPathComponent)/debug]
    plugins:
      - id: test
        library: fixture-test-channel
        config: { route: /test/sms }
      - id: echo
        library: c-echo-agent
    agents:
      - { name: a0, transport: echo }
      - { name: a1, transport: echo }
      - { name: a2, transport: echo }
      - { name: a3, transport: echo }
    admin:
      listen: 127.0.0.1:0
      tokens:
        - { name: bench, token: "\(token)", role: operator }
    """
}

func startGateway(_ store: String, sink: String? = nil) async throws -> Gateway {
    let path = "\(dir)/plugins.yaml"
    var text = yaml(store)
    if let sink {
        text = text.replacingOccurrences(of: "  - id: echo\n", with: "  - id: events\n    library: file-sink\n    config: { path: \(sink), fsync: interval }\n  - id: echo\n")
    }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    let g = Gateway(config: try ConfigLoader().load(path: path), logger: logger)
    try await g.start()
    return g
}

func pct(_ xs: [Double], _ p: Double) -> Double { let s = xs.sorted(); return s[min(s.count - 1, Int(Double(s.count) * p))] }

let client = HTTPClient()

if args[1] == "sessions" {
    let n = args.count > 3 ? Int(args[3])! : 1_000_000
    let requests = args.count > 4 ? Int(args[4])! : 200
    let file = "\(dir)/sessions.sqlite"
    do {
        let store = try openStore(url: "sqlite:\(file)", configDir: dir, lockConnections: 1) as! SQLStore
        let have = try store.withConnection { try $0.one("SELECT COUNT(*) FROM sessions", [])?[0].int ?? 0 }
        if have < Int64(n) {
            let t0 = Date()
            // Last activity spread over the past 10 days; 4 agents; one number each.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try store.withConnection { c in
                try c.execute("BEGIN")
                try c.query("""
                    WITH RECURSIVE k(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?)
                    INSERT INTO sessions (channel, remote, local, agent, state, created_ms, last_ms, message_count)
                    SELECT 'test', '+1' || printf('%010d', i), '+15550000001', 'a' || (i % 4), '', ? - 864000000 + i * 864, ? - 864000000 + i * 864, 2 FROM k
                    """, [.int(have), .int(Int64(n)), .int(now), .int(now)])
                try c.execute("COMMIT")
            }
            print("loaded \(n - Int(have)) sessions in \(String(format: "%.1f", Date().timeIntervalSince(t0)))s")
        }
        store.close()
    }
    let g = try await startGateway("sqlite:\(file)")
    let base = "http://127.0.0.1:\(g.adminPort!)/api/v1/sessions"
    let auth = [("Authorization", "Bearer \(token)")]
    let middle = try (g.store as! SQLStore).withConnection { c in
        try c.one("SELECT last_ms, id FROM sessions ORDER BY last_ms DESC, id DESC LIMIT 1 OFFSET ?", [.int(Int64(n / 2))])
    }!
    let cases: [(String, String)] = [
        ("first page (50)", "?limit=50"),
        ("page at the middle (cursor)", "?limit=50&cursor=\(middle[0].int!)_\(middle[1].int!)"),
        ("agent=a2", "?agent=a2&limit=50"),
        ("number=+10000500000", "?number=%2B10000500000"),
        ("state=active", "?state=active&limit=50"),
        ("state=expired", "?state=expired&limit=50"),
        ("state=taken_over (none)", "?state=taken_over&limit=50"),
    ]
    print("GET /api/v1/sessions over HTTP, \(n) sessions in SQLite, \(requests) requests each, one at a time:")
    for (name, q) in cases {
        var lat: [Double] = []
        var count = 0
        for _ in 0..<requests {
            let t = DispatchTime.now().uptimeNanoseconds
            let r = try await client.send(method: "GET", url: base + q, headers: auth, timeoutMs: 10_000)
            lat.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
            guard r.status == 200 else { print("HTTP \(r.status): \(String(decoding: r.body, as: UTF8.self))"); exit(1) }
            count = (try JSONValue.parse(String(decoding: r.body, as: UTF8.self)))["sessions"]?.arrayValue?.count ?? 0
        }
        print(String(format: "  %-30@ rows=%3d  p50=%7.2f ms  p99=%7.2f ms  max=%7.2f ms", name as NSString, count, pct(lat, 0.5), pct(lat, 0.99), lat.max()!))
    }
    await g.stop()
    exit(0)
}

/// A raw HTTP/1.1 GET on loopback (Connection: close), read to the end; returns the bytes read.
@Sendable func rawGet(_ port: Int, _ path: String) -> Int { rawGetBody(port, path).count }

/// The same, returning the bytes read (head and body).
@Sendable func rawGetBody(_ port: Int, _ path: String) -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else { return [] }
    let req = "GET \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
    _ = req.withCString { send(fd, $0, strlen($0), 0) }
    var buf = [UInt8](repeating: 0, count: 65536), all: [UInt8] = []
    while true { let n = recv(fd, &buf, buf.count, 0); if n <= 0 { break }; all += buf[0..<n] }
    return all
}

/// The id of the last message in a transcript response (`GET /api/v1/sessions/{id}`), or nil.
@Sendable func lastMessageId(_ response: [UInt8]) -> Int? {
    guard let start = response.firstIndex(of: UInt8(ascii: "{")),
          let json = try? JSONValue.parse(String(decoding: response[start...], as: UTF8.self)) else { return nil }
    return json["messages"]?.arrayValue?.last?["id"]?.intValue
}

/// User + system CPU time of this process so far, in microseconds.
func processCPUMicros() -> Int64 {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int64(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1_000_000 + Int64(u.ru_utime.tv_usec + u.ru_stime.tv_usec)
}

/// The console as the gateway sees it: the event stream (read to the end, on its own thread)
/// and, while events arrive, the page's reads as console.js makes them: the open transcript
/// at most every 500 ms, only the messages after the last one it has (`after=`), and the
/// list (waiting sessions, the first page) at most once a second.
/// Unchecked Sendable: every `var` only under `lock`; the rest is immutable.
final class ConsoleClient: @unchecked Sendable {
    let port: Int
    let fd: Int32
    private let lock = NSLock()
    private var _bytes = 0, _stopped = false, _reads = 0
    var reads: Int { lock.withLock { _reads } }
    var bytes: Int { lock.withLock { _bytes } }
    var stopped: Bool { lock.withLock { _stopped } }

    /// `streamOnly`: a client subscribed to the whole event stream, no filter and no page reads
    /// (the admin API's own measure, issue 13), instead of the console.
    init(port: Int, streamOnly: Bool = false) {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let query = streamOnly ? "" : "type=message.,session.,agent.,optout.&"
        let req = "GET /api/v1/events?\(query)access_token=\(token) HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
        _ = req.withCString { send(fd, $0, strlen($0), 0) }
        Thread { [self] in
            var buf = [UInt8](repeating: 0, count: 65536)
            while true { let n = recv(fd, &buf, buf.count, 0); if n <= 0 { break }; lock.withLock { _bytes += n } }
        }.start()
        if streamOnly { return }
        Thread { [self] in
            var seen = 0, tick = 0, last: Int? = nil
            while !stopped {
                Thread.sleep(forTimeInterval: 0.5)
                tick += 1
                let now = bytes
                guard now != seen else { continue }
                seen = now
                let r = rawGetBody(port, "/api/v1/sessions/1" + (last.map { "?after=\($0)" } ?? ""))
                last = lastMessageId(r) ?? last
                var n = 1
                if tick % 2 == 0 {
                    _ = rawGet(port, "/api/v1/sessions?state=waiting&limit=50")
                    _ = rawGet(port, "/api/v1/sessions?limit=50")
                    n += 2
                }
                lock.withLock { _reads += n }
            }
        }.start()
    }
    func stop() { lock.withLock { _stopped = true }; shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}

if args[1] == "console" {
    let messages = args.count > 3 ? Int(args[3])! : 10_000
    let rounds = args.count > 4 ? Int(args[4])! : 4
    let concurrency = args.count > 5 ? Int(args[5])! : 32
    let withSink = !(args.count > 6 && args[6] == "nosink")
    /// BENCH_ONLY=with|without runs one half only (to profile it alone, e.g. under `perf stat`).
    let only: Bool? = ProcessInfo.processInfo.environment["BENCH_ONLY"].map { $0 == "with" }
    /// BENCH_CLIENT=stream: the "with" half has a client on the whole event stream (no filter,
    /// no page reads) instead of the console.
    let streamOnly = ProcessInfo.processInfo.environment["BENCH_CLIENT"] == "stream"
    let withWhat = streamOnly ? "stream" : "console"
    /// One run on a fresh gateway: a warm-up of 1,000 messages, then `messages` measured.
    func run(console: Bool, _ tag: String) async throws -> (rate: Double, cpu: Double, bytes: Int, reads: Int) {
        let id = UUID().uuidString.prefix(8)
        let g = try await startGateway("sqlite:\(dir)/console-\(id).sqlite", sink: withSink ? "\(dir)/events-\(id).jsonl" : nil)
        let router = g.router!
        func batch(_ n: Int, _ t: String) async -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            await withTaskGroup(of: Void.self) { group in
                for w in 0..<concurrency {
                    group.addTask {
                        for i in stride(from: w, to: n, by: concurrency) {
                            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                                router.submit(Inbound(channel: "test", channelMessageId: "\(t)-\(i)", from: "+1777\(String(format: "%07d", w))",
                                                      to: "+15550000001", text: "hello \(i)")) { _ in c.resume() }
                            }
                        }
                    }
                }
            }
            return Double(n) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        let client = console ? ConsoleClient(port: g.adminPort!, streamOnly: streamOnly) : nil
        try await Task.sleep(nanoseconds: 300_000_000)
        _ = await batch(1000, "warm-\(tag)")
        let cpu0 = processCPUMicros()
        let rate = await batch(messages, tag)
        // CPU of the whole process (gateway, load generator and, with the console, its
        // reader threads too: an upper bound on what the console costs the gateway) per message.
        let cpu = Double(processCPUMicros() - cpu0) / Double(messages)
        try await Task.sleep(nanoseconds: 500_000_000)
        let result = (rate, cpu, client?.bytes ?? 0, client?.reads ?? 0)
        client?.stop()
        await g.stop()
        for f in ["console-\(id).sqlite", "console-\(id).sqlite-wal", "console-\(id).sqlite-shm", "events-\(id).jsonl"] {
            try? FileManager.default.removeItem(atPath: "\(dir)/\(f)")
        }
        return result
    }
    print("message path, \(messages) messages over \(concurrency) conversations per run, \(withSink ? "file sink on" : "no log sink"), fresh gateway per run")
    var without: [Double] = [], with: [Double] = [], cpuWithout: [Double] = [], cpuWith: [Double] = []
    for r in 0..<rounds {
        // Alternate which half goes first, so a drift of the machine's load does not favour one.
        let order = r % 2 == 0 ? [false, true] : [true, false]
        for c in order where only == nil || only == c {
            let x = try await run(console: c, "\(c ? "c" : "n")\(r)")
            if c { with.append(x.rate); cpuWith.append(x.cpu) } else { without.append(x.rate); cpuWithout.append(x.cpu) }
            if c { print(String(format: "round %d: with the \(withWhat) %.0f msg/s, %.0f us CPU/msg (stream %d bytes, %d page reads)", r + 1, x.rate, x.cpu, x.bytes, x.reads)) }
            else { print(String(format: "round %d: without         %.0f msg/s, %.0f us CPU/msg", r + 1, x.rate, x.cpu)) }
        }
    }
    func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }
    func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
    if only != nil { exit(0) }
    let a = mean(without), b = mean(with), ma = median(without), mb = median(with)
    print(String(format: "throughput: mean without %.0f msg/s, with the \(withWhat) %.0f msg/s: %+.1f %%; median %+.1f %%", a, b, (b / a - 1) * 100, (mb / ma - 1) * 100))
    let ca = mean(cpuWithout), cb = mean(cpuWith), mca = median(cpuWithout), mcb = median(cpuWith)
    print(String(format: "CPU per message: mean without %.1f us, with the \(withWhat) %.1f us: %+.1f %%; median %+.1f %%", ca, cb, (cb / ca - 1) * 100, (mcb / mca - 1) * 100))
    exit(0)
}

// sse
let messages = args.count > 3 ? Int(args[3])! : 20_000
let rounds = args.count > 4 ? Int(args[4])! : 3
let concurrency = args.count > 5 ? Int(args[5])! : 32
let file = "\(dir)/sse-\(UUID().uuidString.prefix(8)).sqlite"
let g = try await startGateway("sqlite:\(file)")
let router = g.router!

/// One run: `messages` messages over `concurrency` conversations, each waiting for its reply.
func run(_ tag: String) async -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    await withTaskGroup(of: Void.self) { group in
        for w in 0..<concurrency {
            group.addTask {
                for i in stride(from: w, to: messages, by: concurrency) {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        router.submit(Inbound(channel: "test", channelMessageId: "\(tag)-\(i)", from: "+1777\(String(format: "%07d", w))",
                                              to: "+15550000001", text: "hello \(i)")) { _ in c.resume() }
                    }
                }
            }
        }
    }
    return Double(messages) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
}

_ = await run("warmup")
var without: [Double] = [], with: [Double] = []
var received = 0
for r in 0..<rounds {
    without.append(await run("n\(r)"))
    let w = ConsoleClient(port: g.adminPort!, streamOnly: true)
    try await Task.sleep(nanoseconds: 200_000_000)
    with.append(await run("w\(r)"))
    try await Task.sleep(nanoseconds: 200_000_000)
    received += w.bytes
    w.stop()
    print(String(format: "round %d: without %.0f msg/s, with an SSE client %.0f msg/s", r + 1, without.last!, with.last!))
}
let a = without.reduce(0, +) / Double(rounds), b = with.reduce(0, +) / Double(rounds)
print(String(format: "mean: without %.0f msg/s, with %.0f msg/s: %+.1f %% (the client received %d bytes of events)", a, b, (b / a - 1) * 100, received))
await g.stop()
