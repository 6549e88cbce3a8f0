import Foundation
import Host
import PluginAPI
import Testing

/// The plugin's `record` against the fake Stripe API: one meter event per host report,
/// with the right fields and the report's key as identifier; completion only after
/// Stripe accepted; 429/5xx retried with the same identifier; a report accepted once is
/// not sent again; a permanent refusal is DS_ERR_INVALID.
@Suite(.serialized) struct MeteringTests {
    typealias S = StripeSupport

    func record(_ g: Gateway, customer: String, kind: String, quantity: Int64, key: String, timeMs: Int64) async throws -> OpOutcome {
        let billing = try #require(g.plugins?.billing.first)
        return await billing.record(UsageRecord(accountId: "acme", customerId: customer, kind: kind, quantity: quantity,
                                                idempotencyKey: key, correlationId: "", timeMs: timeMs))
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    @Test func meterEventsCarryTheRightFields() async throws {
        let fake = try S.FakeStripe()
        defer { fake.stop() }
        try await S.withGateway(S.gatewayYAML(apiBase: fake.base)) { g, _ in
            let t = Self.nowMs()
            #expect(try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 2, key: "ds:acme:sms_inbound:1:7", timeMs: t).status == DS_OK)
            // Completed DS_OK means Stripe has it already: no waiting.
            let reqs = try await fake.requests()
            #expect(reqs.count == 1)
            let f = try #require(reqs.first?["form"] as? [String: String])
            #expect(reqs.first?["auth"] as? String == "Bearer \(S.apiKey)")
            #expect(reqs.first?["content_type"] as? String == "application/x-www-form-urlencoded")
            #expect(f == ["event_name": "ds_sms_inbound", "payload[stripe_customer_id]": "cus_acme", "payload[value]": "2",
                          "identifier": "ds:acme:sms_inbound:1:7", "timestamp": "\(t / 1000)"])
            // The same report again (a host retry): accepted, not sent twice.
            #expect(try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 2, key: "ds:acme:sms_inbound:1:7", timeMs: t).status == DS_OK)
            // No meter configured for this kind, and no customer: accepted, nothing sent.
            #expect(try await record(g, customer: "cus_acme", kind: "sms_outbound_segments", quantity: 2, key: "k2", timeMs: t).status == DS_OK)
            #expect(try await record(g, customer: "", kind: "sms_inbound", quantity: 2, key: "k3", timeMs: t).status == DS_OK)
            #expect(try await fake.requests().count == 1)
            #expect(g.metricsText().contains("ds_stripe_usage_duplicates_total{plugin=\"stripe\"} 1"))
            #expect(g.metricsText().contains("ds_stripe_usage_unbilled_total{plugin=\"stripe\"} 2"))
            // Identifiers longer than Stripe's 100 characters are shortened the same way every time.
            let long = String(repeating: "x", count: 150)
            #expect(try await record(g, customer: "cus_acme", kind: "agent_messages", quantity: 1, key: long, timeMs: t).status == DS_OK)
            let id = try #require((try await fake.requests().last?["form"] as? [String: String])?["identifier"])
            #expect(id.utf8.count <= 100 && id.hasPrefix(String(repeating: "x", count: 35) + ":"))
        }
    }

    @Test func rateLimitedThenAcceptedWithTheSameIdentifier() async throws {
        let fake = try S.FakeStripe()
        defer { fake.stop() }
        try await fake.script([(429, 1), (503, nil)])
        try await S.withGateway(S.gatewayYAML(apiBase: fake.base)) { g, _ in
            let started = Date()
            #expect(try await record(g, customer: "cus_acme", kind: "agent_messages", quantity: 4, key: "r1", timeMs: Self.nowMs()).status == DS_OK)
            let reqs = try await fake.requests()
            #expect(reqs.map { $0["status"] as? Int } == [429, 503, 200])
            #expect(Date().timeIntervalSince(started) >= 1.0, "Retry-After: 1 was honoured")
            let forms = reqs.map { $0["form"] as! [String: String] }
            #expect(forms.allSatisfy { $0 == forms[0] }, "identifier and value stable across retries: \(forms)")
            #expect(try await fake.totals() == ["cus_acme": ["ds_agent_messages": 4]])
        }
    }

    @Test func stillFailingIsRetryableAndSentAgainLater() async throws {
        let fake = try S.FakeStripe()
        defer { fake.stop() }
        try await fake.script(Array(repeating: (503, nil), count: 2))
        let yaml = S.gatewayYAML(apiBase: fake.base).replacingOccurrences(of: "webhook_secret:", with: "max_attempts: 2\n      webhook_secret:")
        try await S.withGateway(yaml) { g, _ in
            let first = try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 3, key: "f1", timeMs: Self.nowMs())
            #expect(first.status == DS_ERR_UNAVAILABLE && first.isRetryable)
            // The host's later retry (same key) is sent, not taken for a duplicate.
            #expect(try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 3, key: "f1", timeMs: Self.nowMs()).status == DS_OK)
            #expect(try await fake.requests().count == 3)
            #expect(try await fake.totals() == ["cus_acme": ["ds_sms_inbound": 3]])
        }
    }

    @Test func permanentRefusalIsInvalid() async throws {
        let fake = try S.FakeStripe()
        defer { fake.stop() }
        try await fake.script([(400, nil)])
        try await S.withGateway(S.gatewayYAML(apiBase: fake.base)) { g, _ in
            let o = try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 1, key: "p1", timeMs: Self.nowMs())
            #expect(o.status == DS_ERR_INVALID)
            #expect(o.error.contains("HTTP 400"))
            #expect(try await fake.requests().count == 1)
            #expect(g.metricsText().contains("ds_stripe_meter_failed_total{plugin=\"stripe\"} 1"))
        }
    }

    @Test func apiKeyNeverInLogsOrErrors() async throws {
        // A bad config is refused naming the field, without echoing any secret.
        let yaml = S.gatewayYAML().replacingOccurrences(of: "webhook_secret:", with: "max_attempts: 0\n      webhook_secret:")
        do {
            try await S.withGateway(yaml) { _, _ in }
            Issue.record("a bad config started")
        } catch {
            let text = "\(error)"
            #expect(text.contains("max_attempts"), "\(text)")
            #expect(!text.contains(S.apiKey) && !text.contains(S.webhookSecret))
        }
    }
}
