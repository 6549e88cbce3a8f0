import Foundation
import Testing
@testable import Host
import TestPeers

@Suite struct HTTPServerTests {
    static let plugins = """
          - id: all
            library: \(TestSupport.library("fixture-swift-all"))
            config: { path: /fixture/in }
          - id: c-echo
            library: c-echo-agent
        """
    static let agents = """
          - name: bot
            transport: c-echo
            config: { prefix: bot }
        """

    func withGateway(_ plugins: String = plugins, agents: String = agents, _ body: (Int) async throws -> Void) async throws {
        let g = Gateway(config: try TestSupport.config(TestSupport.yaml(plugins: plugins, agents: agents)), logger: TestSupport.logger)
        let port = try await g.start()
        do { try await body(port) } catch { await g.stop(); throw error }
        await g.stop()
    }

    @Test func pluginRouteSubmitsToTheRouterAndAnswers() async throws {
        try await withGateway { port throws in
            let r = try await TestSupport.post(port, "/fixture/in?from=%2B15551230000&id=SM1", "hello")
            #expect(r.status == 200)
            #expect(r.text == "bot: hello (history: 0)")
            let again = try await TestSupport.post(port, "/fixture/in?from=%2B15551230000&id=SM2", "again")
            #expect(again.text == "bot: again (history: 2)")
        }
    }

    @Test func unknownPathsAndMethods() async throws {
        try await withGateway { port throws in
            #expect(try await TestSupport.get(port, "/nope").status == 404)
            #expect(try await TestSupport.get(port, "/fixture/in").status == 405)
            #expect(try await TestSupport.get(port, "/livez").status == 200)
        }
    }

    @Test func oversizedBodyIs413() async throws {
        try await withGateway { port throws in
            let big = String(repeating: "x", count: 5000)   // the test config limits bodies to 4096 bytes
            let r = try await TestSupport.post(port, "/fixture/in", big)
            #expect(r.status == 413)
            // The server still serves afterwards.
            #expect(try await TestSupport.get(port, "/livez").status == 200)
        }
    }

    @Test func requestTimeoutAnswers503() async throws {
        let yaml = TestSupport.yaml(plugins: Self.plugins, agents: Self.agents).replacingOccurrences(of: "request_timeout: 20s", with: "request_timeout: 1s")
        let g = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        let port = try await g.start()
        // The route sleeps 3 s; the gateway answers 503 for it after 1 s.
        let r = try await TestSupport.get(port, "/fixture/in/slow?ms=3000")
        #expect(r.status == 503)
        await g.stop()
    }

    @Test func hostServicesEnvAndHTTPClient() async throws {
        setenv("DARKSPERE_TEST_VALUE", "forty-two", 1)
        try await withGateway { port throws in
            #expect(try await TestSupport.get(port, "/fixture/in/env?DARKSPERE_TEST_VALUE").text == "forty-two")
            #expect(try await TestSupport.get(port, "/fixture/in/env?DARKSPERE_UNSET_VALUE").text == "<unset>")
            // The plugin fetches /livez of this same server through the host's HTTP client.
            let url = "http://127.0.0.1:\(port)/livez".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            #expect(try await TestSupport.get(port, "/fixture/in/fetch?\(url)").text == "200 ok\n")
            let bad = try await TestSupport.get(port, "/fixture/in/fetch?http%3A%2F%2F127.0.0.1%3A1%2F")
            #expect(bad.status == 502 && bad.text.hasPrefix("error -6:"))
        }
    }

    @Test func metricsExposePluginAndHostMetrics() async throws {
        try await withGateway { port throws in
            _ = try await TestSupport.get(port, "/livez")
            let m = try await TestSupport.get(port, "/metrics").text
            #expect(m.contains("# TYPE darkspere_http_requests_total counter"))
            #expect(m.contains(#"fixture_routes_total{plugin="all"} 1"#))
            #expect(m.contains("darkspere_http_request_seconds_bucket"))
        }
    }

    @Test func readyzTurns200OnlyAfterStartup() async throws {
        // A transport whose open() takes 4 s: the server listens during start-up and says 503.
        let yaml = TestSupport.yaml(plugins: """
              - id: all
                library: \(TestSupport.library("fixture-swift-all"))
                config: { open_delay_ms: 4000 }
            """, agents: """
              - name: slow-open
                transport: all
            """).replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(TestPeers.freePort())")
        let config = try TestSupport.config(yaml)
        let g = Gateway(config: config, logger: TestSupport.logger)
        let starting = Task { try await g.start() }
        var sawNotReady = false
        let until = Date().addingTimeInterval(30)
        while Date() < until {
            if let r = try? await TestSupport.get(config.server.port, "/readyz") {
                if r.status == 503 { sawNotReady = true; break }
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        _ = try await starting.value
        #expect(sawNotReady)
        #expect(try await TestSupport.get(config.server.port, "/readyz").status == 200)
        await g.stop()
    }
}
