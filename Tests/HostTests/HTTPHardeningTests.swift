import Foundation
import Testing
@testable import Host
import TestPeers

/// Hostile requests against the real server (issue 15): lying Content-Lengths, oversized
/// heads, slow and idle connections, connection floods, wrong methods on host routes.
@Suite(.serialized) struct HTTPHardeningTests {
    /// The test config (bodies limited to 4096 bytes) with extra `server:` lines.
    static func yaml(server extra: [String] = []) -> String {
        TestSupport.yaml(plugins: HTTPServerTests.plugins, agents: HTTPServerTests.agents)
            .replacingOccurrences(of: "  shutdown_grace: 5s", with: (["  shutdown_grace: 5s"] + extra.map { "  " + $0 }).joined(separator: "\n"))
    }

    func withGateway(_ extra: [String] = [], _ body: (Int) async throws -> Void) async throws {
        let g = Gateway(config: try TestSupport.config(Self.yaml(server: extra)), logger: TestSupport.logger)
        let port = try await g.start()
        do { try await body(port) } catch { await g.stop(); throw error }
        await g.stop()
    }

    @Test func contentLengthAboveTheLimitIs413BeforeTheBody() async throws {
        try await withGateway { port in
            for length in ["2000000", "9223372036854775808"] {
                let c = try RawConnection(port: port)
                try c.send("POST /fixture/in HTTP/1.1\r\nHost: t\r\nContent-Length: \(length)\r\n\r\n")
                #expect(await c.status(timeout: 3) == 413, "Content-Length: \(length)")
                #expect(await c.waitClosed(timeout: 5), "the connection is closed after the 413")
            }
            // A chunked body that grows past the limit is refused while it is still arriving.
            let c = try RawConnection(port: port)
            try c.send("POST /fixture/in HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n" + String(repeating: "x", count: 0x2000) + "\r\n")
            #expect(await c.status(timeout: 3) == 413)
            #expect(try await TestSupport.get(port, "/livez").status == 200)
        }
    }

    @Test func headerLimitsAre431() async throws {
        try await withGateway { port in
            let big = try RawConnection(port: port)
            try big.send("GET /livez HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "a", count: 65536))\r\n\r\n")
            #expect(await big.status(timeout: 3) == 431)
            let many = try RawConnection(port: port)
            try many.send("GET /livez HTTP/1.1\r\nHost: t\r\n" + (0..<10_000).map { "X-H\($0): v\r\n" }.joined() + "\r\n")
            #expect(await many.status(timeout: 3) == 431)
            let longURL = try RawConnection(port: port)
            try longURL.send("GET /livez?\(String(repeating: "q", count: 100_000)) HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(await longURL.status(timeout: 3) == 431)
            // Just under the limits is fine.
            let ok = try RawConnection(port: port)
            try ok.send("GET /livez HTTP/1.1\r\nHost: t\r\n" + (0..<98).map { "X-H\($0): v\r\n" }.joined() + "X-Big: \(String(repeating: "a", count: 8000))\r\n\r\n")
            #expect(await ok.status(timeout: 3) == 200)
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await withGateway { port in
            for (method, path) in [("POST", "/readyz"), ("DELETE", "/livez"), ("PUT", "/metrics")] {
                let c = try RawConnection(port: port)
                try c.send("\(method) \(path) HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
                let r = try #require(await c.response(timeout: 3), "\(method) \(path)")
                #expect(r.hasPrefix("HTTP/1.1 405"), "\(method) \(path)")
                #expect(RawConnection.header("Allow", in: r) == "GET, HEAD", "\(method) \(path)")
            }
            let c = try RawConnection(port: port)
            try c.send("GET /fixture/in HTTP/1.1\r\nHost: t\r\n\r\n")
            let r = try #require(await c.response(timeout: 3))
            #expect(r.hasPrefix("HTTP/1.1 405") && RawConnection.header("Allow", in: r) == "POST")
            // HEAD of a host route answers like GET, without a body.
            let h = try RawConnection(port: port)
            try h.send("HEAD /livez HTTP/1.1\r\nHost: t\r\n\r\n")
            let head = try #require(await h.response(timeout: 3, headOnly: true))
            #expect(head.hasPrefix("HTTP/1.1 200"))
            // No body followed it: the next answer on the connection starts right away.
            try h.send("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(await h.response(timeout: 3)?.hasPrefix("HTTP/1.1 200") == true)
        }
    }

    @Test func aHeadOrBodyThatDoesNotArriveIsClosedAfterReadTimeout() async throws {
        try await withGateway(["read_timeout: 1s", "idle_timeout: 30s"]) { port in
            // A head trickling in a byte every 200 ms: the deadline counts from its first byte.
            let slowHead = try RawConnection(port: port)
            let started = Date()
            var closed = false
            for b in "POST /fixture/in HTTP/1.1\r\nHost: t\r\nX-Slow: \(String(repeating: "s", count: 40))".utf8 {
                if (try? slowHead.send([b])) == nil { closed = true; break }
                if await slowHead.waitClosed(timeout: 0.2) { closed = true; break }
            }
            if !closed { closed = await slowHead.waitClosed(timeout: 2) }
            #expect(closed)
            #expect(Date().timeIntervalSince(started) < 4)
            // A body that stops half-way.
            let slowBody = try RawConnection(port: port)
            try slowBody.send("POST /fixture/in HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf")
            #expect(await slowBody.status(timeout: 3) == 408)
            #expect(await slowBody.waitClosed(timeout: 2))
            // Well-behaved requests are unaffected.
            #expect(try await TestSupport.get(port, "/livez").status == 200)
        }
    }

    /// A keep-alive connection goes idle (a long deadline) and then starts a request that
    /// stalls: the read deadline (short) applies from the request's first byte, not the idle
    /// one; and after the refusal the connection closes. The deadlines share one armed check.
    @Test func aKeptAliveConnectionsStalledRequestGetsTheReadTimeoutNotTheIdleOne() async throws {
        try await withGateway(["read_timeout: 1s", "idle_timeout: 20s"]) { port in
            let c = try RawConnection(port: port)
            for _ in 0..<3 {
                try c.send("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(await c.status(timeout: 3) == 200)
            }
            try await Task.sleep(nanoseconds: 300_000_000)   // idle for a while: its check is armed
            let started = Date()
            try c.send("POST /fixture/in HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf")
            #expect(await c.status(timeout: 5) == 408)
            let elapsed = Date().timeIntervalSince(started)
            #expect(elapsed > 0.8 && elapsed < 2.5, "408 after \(elapsed) s; read_timeout is 1 s")
            #expect(await c.waitClosed(timeout: 4))
        }
    }

    @Test func idleConnectionsAreClosedAfterIdleTimeout() async throws {
        try await withGateway(["idle_timeout: 1s"]) { port in
            let silent = try RawConnection(port: port)
            let keptAlive = try RawConnection(port: port)
            try keptAlive.send("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(await keptAlive.status(timeout: 3) == 200)
            #expect(await silent.waitClosed(timeout: 4))
            #expect(await keptAlive.waitClosed(timeout: 4))
        }
    }

    @Test func atMaxConnectionsTheLongestIdleOneMakesRoom() async throws {
        try await withGateway(["max_connections: 8"]) { port in
            var idle: [RawConnection] = []
            for _ in 0..<8 {
                idle.append(try RawConnection(port: port))
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            try await Task.sleep(nanoseconds: 500_000_000)   // all accepted (the machine may be busy)
            // The ninth connection is served: the oldest idle connection is closed for it.
            let c = try RawConnection(port: port)
            try c.send("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(await c.status(timeout: 3) == 200)
            #expect(await idle[0].waitClosed(timeout: 3))
            #expect(await idle[7].waitClosed(timeout: 0.2) == false)
            let m = try await TestSupport.get(port, "/metrics").text
            #expect(m.contains("darkspere_http_connections_evicted_total"))
        }
    }

    /// A taken port: the operator read "bind(descriptor:ptr:bytes:): Address already in use)
    /// (errno: 98)", with neither the address nor what to do.
    @Test func aTakenPortNamesTheAddressAndTheRemedy() async throws {
        let yaml = TestSupport.yaml(plugins: HTTPServerTests.plugins, agents: HTTPServerTests.agents)
        let first = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        let port = try await first.start()
        let second = Gateway(config: try TestSupport.config(yaml.replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(port)")),
                             logger: TestSupport.logger)
        do {
            _ = try await second.start()
            Issue.record("a second gateway listened on a taken port")
            await second.stop()
        } catch {
            #expect("\(error)" == "cannot listen on 127.0.0.1:\(port): Address already in use (another process listens there: stop it or choose another port)")
        }
        await first.stop()
    }

    /// While the store does not answer (PostgreSQL stopped with SIGSTOP), /readyz says 503
    /// within its short probe timeout instead of hanging.
    @Test func readyzAnswers503WhenTheStoreHangs() async throws {
        let pg = try PostgresServer()
        let yaml = TestSupport.yaml(plugins: HTTPServerTests.plugins, agents: HTTPServerTests.agents, store: pg.url)
            .replacingOccurrences(of: "  shutdown_grace: 5s", with: "  shutdown_grace: 1s\n  ready_timeout: 1s")
        let g = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        let port = try await g.start()
        #expect(try await TestSupport.get(port, "/readyz").status == 200)
        let pids = pg.serverPIDs()
        try #require(!pids.isEmpty)
        for p in pids { kill(p, SIGSTOP) }
        let started = Date()
        let r = try? await TestSupport.client.send(method: "GET", url: "http://127.0.0.1:\(port)/readyz", timeoutMs: 5_000)
        let took = Date().timeIntervalSince(started)
        // A second probe while the first is still stuck answers as fast.
        let again = try? await TestSupport.client.send(method: "GET", url: "http://127.0.0.1:\(port)/readyz", timeoutMs: 5_000)
        #expect(try await TestSupport.get(port, "/livez").status == 200)
        for p in pids { kill(p, SIGCONT) }
        #expect(r?.status == 503)
        #expect(again?.status == 503)
        #expect(took < 3)
        var back = false
        for _ in 0..<100 where !back {
            back = (try? await TestSupport.get(port, "/readyz"))?.status == 200
            if !back { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        #expect(back)
        await g.stop()
    }

    /// Between the port opening and every plugin route being registered, a plugin path gets
    /// 503 (retry later), never 404 (Twilio does not retry a 404).
    @Test func noPluginRoute404DuringStartup() async throws {
        let pg = try PostgresServer()
        let port = TestPeers.freePort()
        let yaml = TestSupport.yaml(plugins: HTTPServerTests.plugins, agents: HTTPServerTests.agents, store: pg.url)
            .replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(port)")
        for _ in 0..<3 {
            let g = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
            let poller = Task.detached { () -> [Int] in
                var seen: [Int] = []
                while !Task.isCancelled {
                    if let c = try? RawConnection(port: port) {
                        try? c.send("POST /fixture/in?from=%2B15551230000 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
                        if let s = await c.status(timeout: 5) { seen.append(s); if s == 200 { break } }
                    } else {
                        usleep(200)
                    }
                }
                return seen
            }
            try await g.start()
            let seen = await poller.value
            await g.stop()
            #expect(!seen.contains(404), "statuses during start-up: \(Set(seen))")
            #expect(seen.last == 200)
        }
    }
}

extension PostgresServer {
    /// The postmaster and its children (to stop them all with SIGSTOP).
    func serverPIDs() -> [pid_t] {
        guard let text = try? String(contentsOfFile: "\(dataDir)/postmaster.pid", encoding: .utf8),
              let main = text.split(separator: "\n").first.flatMap({ pid_t($0) }) else { return [] }
        var pids = [main]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, pid_t(fields[1]) == main { pids.append(pid) }
        }
        return pids
    }
}
