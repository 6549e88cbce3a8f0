import Foundation
import Testing
@testable import Host

/// Per-agent metrics on /metrics of a running gateway, checked by Prometheus' own
/// `promtool check metrics` (Debian package `prometheus`).
@Suite(.serialized) struct RouterMetricsTests {
    static func get(_ url: String, client: HTTPClient) async -> (Int, String) {
        await withCheckedContinuation { c in
            let err = client.request(method: "GET", url: url, headers: [], body: [], timeoutMs: 10_000) { r in
                switch r {
                case .success(let resp): c.resume(returning: (resp.status, String(decoding: resp.body, as: UTF8.self)))
                case .failure(let e): c.resume(returning: (-1, e.message))
                }
            }
            if let err { c.resume(returning: (-1, err.message)) }
        }
    }

    @Test func perAgentMetricsPassPromtool() async throws {
        let dir = TestEnv.tempDir("metrics")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: "min_health: 0\nno_agent_reply: busy", agents: """
          - name: good
            transport: echo
            config: { prefix: good }
          - name: bad
            transport: echo
            config: { prefix: bad, fail: true }
        """, routes: """
        routes:
          - to: "+15550000099"
            pool: [bad]
        """), dir: dir)
        #expect(await g.reply(from: "+15559100001", id: "m1", text: "hi") == "good: hi (history: 0)")
        #expect(await g.reply(from: "+15559100002", to: "+15550000099", id: "m2", text: "hi") == "busy")
        let client = HTTPClient()
        defer { client.shutdown() }
        let (status, text) = await Self.get("http://127.0.0.1:\(g.port)/metrics", client: client)
        #expect(status == 200)
        for line in ["darkspere_agent_calls_total{agent=\"good\"} 1", "darkspere_agent_errors_total{agent=\"good\"} 0",
                     "darkspere_agent_calls_total{agent=\"bad\"} 2", "darkspere_agent_errors_total{agent=\"bad\"} 2",
                     "darkspere_agent_call_seconds_count{agent=\"good\"} 1", "darkspere_agent_health_score{agent=\"good\"} 100",
                     "darkspere_agent_breaker_state{agent=\"good\"} 0", "darkspere_agent_in_rotation{agent=\"bad\"} 1",
                     "darkspere_agent_calls_in_flight{agent=\"good\"} 0", "darkspere_agent_active_sessions{agent=\"good\"} 1"] {
            #expect(text.contains(line + "\n"), "missing \(line)")
        }
        // Two failed calls (and its failing probe at start-up): 100 -> 70 -> 49 (-> 34).
        let badHealth = text.split(separator: "\n").first { $0.hasPrefix("darkspere_agent_health_score{agent=\"bad\"} ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
        #expect(badHealth != nil && badHealth! <= 49, "bad's health: \(String(describing: badHealth))")
        try text.write(toFile: "\(dir)/metrics.txt", atomically: true, encoding: .utf8)
        let (rc, out) = sh("promtool check metrics < \(dir)/metrics.txt")
        #expect(rc == 0, "promtool check metrics: \(out)")
        await g.stop()
    }
}
