import Foundation
import Host
import Testing

/// Usage metering against the fake Stripe API: the fields of each meter event, sums
/// per customer/kind/interval, idempotency, and 429 retried with the same identifier.
@Suite(.serialized) struct MeteringTests {
    typealias S = StripeSupport

    func record(_ g: Gateway, customer: String, kind: String, quantity: Int64, key: String, timeMs: Int64) async throws -> Int32 {
        let billing = try #require(g.plugins?.billing.first)
        return await billing.record(UsageRecord(accountId: "acme", customerId: customer, kind: kind, quantity: quantity,
                                                idempotencyKey: key, correlationId: "corr-\(key)", timeMs: timeMs)).status
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    @Test func meterEventsCarryTheRightFieldsAndSums() async throws {
        let fake = try S.FakeStripe()
        defer { fake.stop() }
        try await S.withGateway(S.gatewayYAML(apiBase: fake.base, interval: 1000)) { g, _ in
            // An interval that closes 2-3 s from now, so every record below lands in it before
            // it is reported, however slow the machine (a flush never takes an open interval).
            let t = (Self.nowMs() / 1000 + 2) * 1000 + 100
            #expect(try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 1, key: "m1:sms_inbound", timeMs: t) == 0)
            #expect(try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 1, key: "m2:sms_inbound", timeMs: t) == 0)
            // The same usage again (a host retry): never counted twice.
            #expect(try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 1, key: "m2:sms_inbound", timeMs: t) == 0)
            #expect(try await record(g, customer: "cus_acme", kind: "agent_messages", quantity: 3, key: "m1:agent_messages", timeMs: t) == 0)
            #expect(try await record(g, customer: "cus_globex", kind: "sms_inbound", quantity: 5, key: "g1:sms_inbound", timeMs: t) == 0)
            // No meter configured for this kind, and no customer: accepted, not reported.
            #expect(try await record(g, customer: "cus_acme", kind: "sms_outbound_segments", quantity: 2, key: "m1:out", timeMs: t) == 0)
            #expect(try await record(g, customer: "", kind: "sms_inbound", quantity: 2, key: "x1:in", timeMs: t) == 0)

            let reqs = try await fake.waitFor(3)
            try await Task.sleep(nanoseconds: 1_500_000_000)   // nothing more should arrive
            let all = try await fake.requests()
            #expect(all.count == 3, "\(all)")
            var byKey: [String: [String: String]] = [:]
            for r in reqs {
                #expect(r["auth"] as? String == "Bearer \(S.apiKey)")
                #expect(r["content_type"] as? String == "application/x-www-form-urlencoded")
                let f = r["form"] as! [String: String]
                #expect(Set(f.keys) == ["event_name", "payload[stripe_customer_id]", "payload[value]", "identifier", "timestamp"])
                byKey["\(f["payload[stripe_customer_id]"]!)/\(f["event_name"]!)"] = f
            }
            let bucketStart = t / 1000
            let acmeIn = try #require(byKey["cus_acme/ds_sms_inbound"])
            #expect(acmeIn["payload[value]"] == "2")
            #expect(acmeIn["identifier"] == "cus_acme:sms_inbound:\(bucketStart)")
            #expect(acmeIn["timestamp"] == "\(bucketStart)")
            #expect(byKey["cus_acme/ds_agent_messages"]?["payload[value]"] == "3")
            #expect(byKey["cus_globex/ds_sms_inbound"]?["payload[value]"] == "5")
            #expect(g.metricsText().contains("ds_stripe_usage_duplicates_total{plugin=\"stripe\"} 1"))
        }
    }

    @Test func rateLimitedThenAcceptedWithTheSameIdentifier() async throws {
        let fake = try S.FakeStripe()
        defer { fake.stop() }
        try await fake.script([(429, 1), (503, nil)])
        try await S.withGateway(S.gatewayYAML(apiBase: fake.base, interval: 200)) { g, _ in
            let t = Self.nowMs()
            #expect(try await record(g, customer: "cus_acme", kind: "agent_messages", quantity: 4, key: "r1", timeMs: t) == 0)
            let started = Date()
            let reqs = try await fake.waitFor(3)
            #expect(reqs.count == 3)
            #expect(reqs.map { $0["status"] as? Int } == [429, 503, 200])
            // Retry-After: 1 was honoured.
            #expect(Date().timeIntervalSince(started) >= 1.0)
            let forms = reqs.map { $0["form"] as! [String: String] }
            #expect(Set(forms.map { $0["identifier"]! }).count == 1, "identifier stable across retries: \(forms)")
            #expect(forms.allSatisfy { $0 == forms[0] })
            #expect(forms[0]["payload[value]"] == "4")
            try await Task.sleep(nanoseconds: 500_000_000)
            #expect(try await fake.requests().count == 3, "accepted once, never sent again")
        }
    }

    @Test func laterUsageInAnAlreadyFlushedIntervalGetsASequencedIdentifier() async throws {
        let fake = try S.FakeStripe()
        defer { fake.stop() }
        try await S.withGateway(S.gatewayYAML(apiBase: fake.base, interval: 200)) { g, _ in
            // A usage stamped in an interval long past (e.g. replayed by the host) after that interval was flushed.
            let t = (Self.nowMs() / 200 - 10) * 200
            #expect(try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 1, key: "late1", timeMs: t) == 0)
            _ = try await fake.waitFor(1)
            #expect(try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 2, key: "late2", timeMs: t) == 0)
            let reqs = try await fake.waitFor(2)
            let ids = reqs.map { ($0["form"] as! [String: String])["identifier"]! }
            #expect(ids == ["cus_acme:sms_inbound:\(t / 1000)", "cus_acme:sms_inbound:\(t / 1000):1"])
        }
    }

    @Test func shutdownReportsWhatIsSummedSoFar() async throws {
        let fake = try S.FakeStripe()
        defer { fake.stop() }
        try await S.withGateway(S.gatewayYAML(apiBase: fake.base, interval: 3_600_000)) { g, _ in
            #expect(try await record(g, customer: "cus_acme", kind: "agent_messages", quantity: 7, key: "s1", timeMs: Self.nowMs()) == 0)
            try await Task.sleep(nanoseconds: 300_000_000)
            #expect(try await fake.requests().isEmpty, "the hour-long interval is still open")
        }
        let reqs = try await fake.requests()
        #expect(reqs.count == 1)
        #expect((reqs.first?["form"] as? [String: String])?["payload[value]"] == "7")
    }

    @Test func permanentRefusalIsDroppedNotRetriedForever() async throws {
        let fake = try S.FakeStripe()
        defer { fake.stop() }
        try await fake.script([(400, nil)])
        try await S.withGateway(S.gatewayYAML(apiBase: fake.base, interval: 200)) { g, _ in
            #expect(try await record(g, customer: "cus_acme", kind: "sms_inbound", quantity: 1, key: "p1", timeMs: Self.nowMs()) == 0)
            _ = try await fake.waitFor(1)
            try await Task.sleep(nanoseconds: 800_000_000)
            #expect(try await fake.requests().count == 1)
            #expect(g.metricsText().contains("ds_stripe_meter_failed_total{plugin=\"stripe\"} 1"))
        }
    }

    @Test func apiKeyNeverInLogsOrErrors() async throws {
        // A bad config is refused naming the field, without echoing any secret.
        let yaml = S.gatewayYAML().replacingOccurrences(of: "aggregation_interval_ms: 60000", with: "aggregation_interval_ms: 5")
        do {
            try await S.withGateway(yaml) { _, _ in }
            Issue.record("a bad config started")
        } catch {
            let text = "\(error)"
            #expect(text.contains("aggregation_interval_ms"), "\(text)")
            #expect(!text.contains(S.apiKey) && !text.contains(S.webhookSecret))
        }
    }
}
