import Foundation
import Testing
@testable import Host

/// The shipped alerting rules and dashboard (deploy/prometheus, deploy/grafana): the rules
/// proven by their `promtool test rules` unit tests, and every metric that the rules and the
/// dashboard name present on a running gateway's /metrics.
@Suite(.serialized) struct PrometheusRulesTests {
    static let deploy = TestEnv.repoRoot + "/deploy"

    @Test func rulesPassTheirPromtoolUnitTests() {
        let (rc, out) = sh("cd \(Self.deploy)/prometheus && promtool check rules darkspere-rules.yml && promtool test rules darkspere-rules.test.yml")
        #expect(rc == 0, "promtool: \(out)")
        #expect(out.contains("SUCCESS"))
    }

    /// Every `darkspere_…` name in a PromQL text, with a histogram's `_bucket`/`_sum`/`_count`
    /// kept (the exposition shows those names).
    static func metricNames(in text: String) -> Set<String> {
        let re = try! NSRegularExpression(pattern: "darkspere_[a-z0-9_]+")
        let ns = text as NSString
        return Set(re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range) })
            .subtracting(["darkspere_rules", "darkspere_json"])
    }

    @Test func everyMetricOfTheRulesAndTheDashboardIsExposed() async throws {
        let rules = try String(contentsOfFile: Self.deploy + "/prometheus/darkspere-rules.yml", encoding: .utf8)
        let dashboard = try String(contentsOfFile: Self.deploy + "/grafana/darkspere.json", encoding: .utf8)
        // The dashboard is Grafana JSON with its queries in panels[].targets[].expr.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(dashboard.utf8)) as? [String: Any])
        let exprs = ((json["panels"] as? [[String: Any]]) ?? []).flatMap { ($0["targets"] as? [[String: Any]]) ?? [] }.compactMap { $0["expr"] as? String }
        #expect(exprs.count >= 20, "dashboard queries: \(exprs.count)")
        let alertExprs = rules.components(separatedBy: "alert: ").dropFirst()
        let named = Self.metricNames(in: rules).union(Self.metricNames(in: exprs.joined(separator: "\n")))
        #expect(named.count >= 25, "\(named.sorted())")

        // A gateway with an agent (with max_sessions and an account), a log sink, a billing
        // plugin (usage reports) and traffic through it, so every family has samples.
        let dir = TestEnv.tempDir("rules")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: """
          - name: good
            transport: echo
            account: acme
            max_sessions: 50
            config: { prefix: good }
        """, extraPlugins: """
          - id: log
            library: file-sink
            config: { path: \(dir)/events.jsonl }
          - id: stripe
            library: stripe
            config: { api_key: sk_test_rules, api_base: "http://127.0.0.1:9", webhook_secret: whsec_rules }
        accounts:
          - {id: acme, name: Acme, stripe_customer_id: cus_acme, tier: free}
        """), dir: dir)
        defer { Task { await g.stop() } }
        #expect(await g.reply(from: "+15559200001", id: "r1", text: "hi") == "good: hi (history: 0)")
        // The outbox gauges are refreshed by the sender's poll loop (every 2 s).
        try await Task.sleep(nanoseconds: 2_500_000_000)
        let client = HTTPClient()
        defer { client.shutdown() }
        let (status, text) = await RouterMetricsTests.get("http://127.0.0.1:\(g.port)/metrics", client: client)
        #expect(status == 200)
        let exposed = Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            String(line.prefix { $0 != "{" && $0 != " " })
        })
        let missing = named.subtracting(exposed).sorted()
        #expect(missing.isEmpty, "named by the rules or the dashboard but not on /metrics: \(missing)")
        // Values the new gauges must carry for this gateway.
        for line in ["darkspere_agent_max_sessions{agent=\"good\"} 50", "darkspere_routing_min_health 70",
                     "darkspere_outbox_pending 0", "darkspere_outbox_oldest_pending_age_seconds 0",
                     "darkspere_events_spool_bytes{sink=\"log\"} 0", "darkspere_http_responses_total{code=\"2xx\"} "] {
            #expect(text.contains(line), "missing \(line)")
        }
        #expect(alertExprs.count == 9)
        try text.write(toFile: "\(dir)/metrics.txt", atomically: true, encoding: .utf8)
        let (rc, out) = sh("promtool check metrics < \(dir)/metrics.txt")
        #expect(rc == 0, "promtool check metrics: \(out)")
        await g.stop()
    }

    /// The outbox gauges follow a reply waiting in the outbox.
    @Test func outboxGaugesShowAWaitingReply() async throws {
        let dir = TestEnv.tempDir("outbox-gauges")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: """
          - name: good
            transport: echo
            config: { prefix: good }
        """), dir: dir)
        // A reply created 30 s ago whose next attempt is 10 minutes away: pending, not claimed.
        let now = nowMillis()
        _ = try g.store.withConnection { try $0.query("""
            INSERT INTO outbox (message_key, channel, to_number, from_number, body, correlation_id, state, attempts, next_ms, created_ms)
            VALUES ('gauge-1', 'test', '+15559200002', '+15550000001', 'later', 'c1', 'pending', 1, ?, ?)
            """, [.int(now + 600_000), .int(now - 30_000)]) }
        try await Task.sleep(nanoseconds: 2_500_000_000)
        let client = HTTPClient()
        defer { client.shutdown() }
        let (_, text) = await RouterMetricsTests.get("http://127.0.0.1:\(g.port)/metrics", client: client)
        #expect(text.contains("darkspere_outbox_pending 1\n"), "\(text.split(separator: "\n").filter { $0.contains("outbox") })")
        let age = text.split(separator: "\n").first { $0.hasPrefix("darkspere_outbox_oldest_pending_age_seconds ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
        #expect(age != nil && age! >= 30 && age! < 60, "age: \(String(describing: age))")
        await g.stop()
    }
}
