import Foundation
import Testing
@testable import Host
import TestPeers

/// Billing in the host (issue 7): admission counted atomically (quota races on SQLite and
/// on PostgreSQL with two processes), denial replies and events, rate limit, status
/// effects, tier changes applied at once and kept across restarts, the usage ledger
/// reported to Stripe exactly once across a kill -9, and `darkspere usage`.
@Suite(.serialized) struct BillingTests {
    /// An account with exactly 10 agent messages left this month.
    static func accounts(tier: String = "tiny", billing: String = "") -> String {
        """
        accounts:
          - { id: acme, name: Acme Inc., stripe_customer_id: cus_acme, tier: \(tier) }
        tiers:
          tiny: { sms_inbound: 1000, sms_outbound_segments: null, agent_messages: 10, per_minute: null, overage: deny }
        billing:
          quota_reply: "quota reached"
          rate_limit_reply: "slow down"
          suspended_reply: "suspended"
        \(billing.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        """
    }

    static let echo = """
      - name: echo
        transport: echo
        max_sessions: 1000
        account: acme
        config: { prefix: echo, delay_ms: 5 }
    """

    static let fileSink = """
      - id: events
        library: file-sink
        config: { path: EVENTS, fsync: always }
    """

    static func events(_ dir: String, type: String) -> [JSONValue] {
        ((try? String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { try? JSONValue.parse(String($0)) }.filter { $0["type"] == .string(type) }
    }

    /// A config whose echo agent belongs to an enterprise account billed through the stripe
    /// plugin at `stripe`, with 200 ms report intervals.
    static func metered(store: String, dir: String, port: Int, stripe: String, stripeConfig: String = "") -> String {
        TestEnv.config(store: store, dir: dir, listen: "127.0.0.1:\(port)", routing: "max_concurrent: 16",
                       agents: echo, routes: accounts(tier: "enterprise", billing: "report_interval: 200ms"), extraPlugins: """
          - id: stripe
            library: stripe
            config:
              api_key: sk_test_billing
              api_base: \(stripe)
              meter_events: { sms_inbound: ds_in, agent_messages: ds_agent, sms_outbound_segments: ds_out }
              \(stripeConfig)
        """)
    }

    /// The ledger's sum per kind, and how many of its rows are not reported yet.
    static func ledger(_ store: SQLStore) throws -> ([String: Int], Int64?) {
        try store.withConnection { c in
            var sums: [String: Int] = [:]
            for row in try c.query("SELECT kind, SUM(quantity) FROM usage_events GROUP BY kind", []) { sums[row[0].text ?? ""] = Int(row[1].int ?? 0) }
            return (sums, try c.one("SELECT COUNT(*) FROM usage_events WHERE state <> 'reported'", [])?[0].int)
        }
    }

    static func waitUntilReported(_ store: SQLStore, timeout: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, try ledger(store).1 != 0 { try await Task.sleep(nanoseconds: 100_000_000) }
    }

    @Test func quotaRaceOnSQLiteLetsExactlyTheRemainderThrough() async throws {
        let dir = TestEnv.tempDir("quota-sqlite")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: "max_concurrent: 64",
                                                           agents: Self.echo, routes: Self.accounts(),
                                                           extraPlugins: Self.fileSink.replacingOccurrences(of: "EVENTS", with: "\(dir)/events.jsonl")),
                                      dir: dir)
        let replies = await withTaskGroup(of: String.self) { group in
            for i in 0..<50 {
                group.addTask { await g.reply(from: "+1555200\(String(format: "%04d", i))", id: "q\(i)", text: "hi \(i)") }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(replies.filter { $0.hasPrefix("echo: ") }.count == 10)
        #expect(replies.filter { $0 == "quota reached" }.count == 40)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND session_id IS NOT NULL") == 10, "exactly 10 agent calls")
        #expect(try g.scalar("SELECT count FROM usage_counters WHERE account_id = 'acme' AND kind = 'agent_messages' AND period = ?",
                             [.text(UsagePeriod.month(nowMillis()))]) == 10)
        #expect(try g.scalar("SELECT COUNT(*) FROM usage_events WHERE kind = 'agent_messages'") == 10)
        // The next one is refused too, and a retried webhook of a refused message gets the same answer.
        #expect(await g.reply(from: "+15552000000", id: "q50", text: "again") == "quota reached")
        let refused = try g.store.withConnection { try $0.one("SELECT channel_message_id, remote FROM messages WHERE status = 'denied_quota' LIMIT 1", []) }
        let (refusedId, refusedFrom) = (refused?[0].text ?? "", refused?[1].text ?? "")
        #expect(await g.reply(from: refusedFrom, id: refusedId, text: "retried") == "quota reached")
        try await Task.sleep(nanoseconds: 300_000_000)
        await g.stop()
        let rejected = Self.events(dir, type: "message.rejected")
        #expect(rejected.count == 41)
        #expect(rejected.allSatisfy { $0["reason"] == .string("quota") && $0["account"] == .string("acme") })
        let usage = Self.events(dir, type: "usage.recorded")
        // 10 admitted messages: sms_inbound + agent_messages each, and one outbound segment each.
        #expect(usage.count == 30)
        #expect(Set(usage.compactMap { $0["kind"]?.stringValue }) == ["sms_inbound", "agent_messages", "sms_outbound_segments"])
        let sent = Self.events(dir, type: "message.sent")
        #expect(Set(sent.compactMap { $0["correlation_id"]?.stringValue }) == Set(usage.compactMap { $0["correlation_id"]?.stringValue }),
                "usage carries the correlation id of its message")
    }

    @Test func rateLimitStatusAndTierChangesApplyAtOnceAndSurviveRestart() async throws {
        let dir = TestEnv.tempDir("tier-change")
        let yaml = TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: Self.echo,
                                  routes: Self.accounts(tier: "free", billing: "past_due: deny"))
        var g = try await TestGateway(yaml: yaml, dir: dir)
        // free: 10 messages a minute.
        var answers: [String] = []
        for i in 0..<12 { answers.append(await g.reply(from: "+15553000001", id: "r\(i)", text: "m\(i)")) }
        #expect(answers.prefix(10).allSatisfy { $0.hasPrefix("echo: ") })
        #expect(answers.suffix(2) == ["slow down", "slow down"])
        // The billing provider moves the account to pro (100 a minute): the very next message is admitted.
        #expect(g.gateway.accounts?.update(customerId: "cus_acme", tier: "pro", status: nil) == .updated)
        #expect(await g.reply(from: "+15553000001", id: "r12", text: "after upgrade").hasPrefix("echo: "))
        // An unpaid invoice with past_due: deny suspends the account at once.
        #expect(g.gateway.accounts?.update(customerId: "cus_acme", tier: nil, status: .pastDue) == .updated)
        #expect(await g.reply(from: "+15553000001", id: "r13", text: "unpaid") == "suspended")
        await g.stop()
        // Both changes were stored: a restart keeps them (plugins.yaml still says free, active).
        g = try await TestGateway(yaml: yaml, dir: dir)
        #expect(g.gateway.accounts?.account("acme")?.tier == "pro")
        #expect(await g.reply(from: "+15553000001", id: "r14", text: "still unpaid") == "suspended")
        #expect(g.gateway.accounts?.update(customerId: "cus_acme", tier: nil, status: .active) == .updated)
        #expect(await g.reply(from: "+15553000001", id: "r15", text: "paid").hasPrefix("echo: "))
        await g.stop()

        // darkspere usage: this period against the tier in effect.
        let (status, out) = sh("\(TestEnv.buildDir)/darkspere usage --config \(dir)/plugins.yaml --account acme")
        #expect(status == 0, "\(out)")
        #expect(out.contains("acme (Acme Inc.)  tier pro  status active (set by the billing provider)"), "\(out)")
        #expect(out.range(of: #"agent_messages\s+12 / 10000"#, options: .regularExpression) != nil, "\(out)")
        #expect(out.range(of: #"sms_inbound\s+12 / 5000"#, options: .regularExpression) != nil, "\(out)")
        #expect(out.contains("not yet reported"), "no billing plugin: the ledger keeps it")
        let (bad, err) = sh("\(TestEnv.buildDir)/darkspere usage --config \(dir)/plugins.yaml --account nobody")
        #expect(bad == 1 && err.contains("no account 'nobody'"), "\(err)")
    }

    @Test func quotaRaceAcrossTwoProcessesOnPostgres() async throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let url = try pg.newDatabase()
        let dir = TestEnv.tempDir("quota-pg")
        let ports = [TestEnv.freePort(), TestEnv.freePort()]
        let client = HTTPClient()
        defer { client.shutdown() }
        let procs = try await GatewayProcess.startAll(ports: ports, dir: dir, client: client) { port in
            TestEnv.config(store: url, dir: dir, listen: "127.0.0.1:\(port)", routing: "max_concurrent: 32\ninline_reply_budget: 60s",
                           agents: Self.echo, routes: Self.accounts())
        }
        let results = await withTaskGroup(of: (Int, String).self) { group in
            for i in 0..<50 {
                group.addTask {
                    await postSMS(port: ports[i % 2], from: "+1555400\(String(format: "%04d", i))", to: "+15550000001", id: "p\(i)", text: "hi \(i)", client: client)
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for p in procs { p.terminate() }
        #expect(results.allSatisfy { $0.0 == 200 }, "non-200: \(results.filter { $0.0 != 200 }.prefix(3))")
        #expect(results.filter { $0.1.contains("echo: ") }.count == 10, "\(results.map(\.1))")
        #expect(results.filter { $0.1.contains("quota reached") }.count == 40)
        let store = try openStore(url: url, configDir: dir, lockConnections: 1) as! SQLStore
        defer { store.close() }
        let counts = try store.withConnection { c -> [Int64?] in
            [try c.one("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND session_id IS NOT NULL", [])?[0].int,
             try c.one("SELECT SUM(quantity) FROM usage_events WHERE kind = 'agent_messages'", [])?[0].int,
             try c.one("SELECT count FROM usage_counters WHERE kind = 'agent_messages' AND period = ?", [.text(UsagePeriod.month(nowMillis()))])?[0].int]
        }
        #expect(counts == [10, 10, 10], "agent calls, ledger, counter")
    }

    @Test func usageReachesStripeExactlyOnceAcrossKill9() async throws {
        let fake = try TestPeers.FakeStripe()
        defer { fake.stop() }
        // Stripe records each event, then answers 150 ms later: a kill -9 lands between
        // "Stripe has it" and "the gateway marked it reported" for some reports.
        try await fake.delay(ms: 150)
        let dir = TestEnv.tempDir("usage-kill9")
        let port = TestEnv.freePort()
        let yaml = Self.metered(store: "sqlite:\(dir)/ds.sqlite", dir: dir, port: port, stripe: fake.base)
        try yaml.write(toFile: "\(dir)/plugins.yaml", atomically: true, encoding: .utf8)
        let client = HTTPClient()
        defer { client.shutdown() }
        func burst(_ range: Range<Int>) async -> [(Int, String)] {
            await withTaskGroup(of: (Int, String).self) { group in
                for i in range {
                    group.addTask {
                        await postSMS(port: port, from: "+1555500\(String(format: "%04d", i % 20))", to: "+15550000001", id: "k\(i)", text: "msg \(i)", client: client)
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        var p = try GatewayProcess(config: "\(dir)/plugins.yaml", port: port, log: "\(dir)/gateway.log")
        try await p.waitReady(client: client)
        var answered = 0
        for round in 0..<5 {
            answered += await burst(round * 20..<(round + 1) * 20).filter { $0.0 == 200 }.count
            try await Task.sleep(nanoseconds: 150_000_000)
        }
        // Kill while a report is in flight: Stripe has recorded it but not answered yet.
        try await fake.delay(ms: 1500)
        let sentSoFar = try await fake.requests().count
        answered += await burst(100..<120).filter { $0.0 == 200 }.count
        _ = try await fake.waitFor(sentSoFar + 1)
        p.kill9()
        try await fake.delay(ms: 20)
        let before = try await fake.requests().count
        p = try GatewayProcess(config: "\(dir)/plugins.yaml", port: port, log: "\(dir)/gateway.log")
        try await p.waitReady(client: client)
        answered += await burst(120..<160).filter { $0.0 == 200 }.count
        // Wait until the ledger is fully reported.
        let store = try SQLStore(sqlitePath: "\(dir)/ds.sqlite")
        defer { store.close() }
        try await Self.waitUntilReported(store)
        p.terminate()
        let (ledger, unreported) = try Self.ledger(store)
        #expect(unreported == 0, "every usage reported")
        #expect(answered == 160, "every message answered across the crash")
        #expect((ledger["sms_inbound"] ?? 0) >= 160 && ledger["sms_inbound"] == ledger["agent_messages"], "\(ledger)")
        let totals = try await fake.totals()
        #expect(totals == ["cus_acme": ["ds_in": ledger["sms_inbound"] ?? -1, "ds_agent": ledger["agent_messages"] ?? -1,
                                        "ds_out": ledger["sms_outbound_segments"] ?? -1]], "Stripe's totals equal the ledger: \(totals) vs \(ledger)")
        let all = try await fake.requests()
        #expect(all.count > before, "reports were sent after the restart")
        let ids = all.compactMap { ($0["form"] as? [String: String])?["identifier"] }
        #expect(ids.count > Set(ids).count, "a report Stripe had accepted before the crash was sent again (and counted once)")
    }

    @Test func twoProcessesOnPostgresReportEachUsageOnce() async throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let url = try pg.newDatabase()
        let fake = try TestPeers.FakeStripe()
        defer { fake.stop() }
        try await fake.delay(ms: 30)
        let dir = TestEnv.tempDir("usage-pg")
        let ports = [TestEnv.freePort(), TestEnv.freePort()]
        let client = HTTPClient()
        defer { client.shutdown() }
        let procs = try await GatewayProcess.startAll(ports: ports, dir: dir, client: client) { port in
            Self.metered(store: url, dir: dir, port: port, stripe: fake.base)
        }
        // Each message is answered inline (200) or, when the two processes' batches deadlock
        // on the shared counters and PostgreSQL takes its deadlock_timeout (1 s) to abort one,
        // deferred (202) and then sent through the outbox: never lost.
        var deferred: [String] = []
        for round in 0..<4 {
            let statuses = await withTaskGroup(of: (String, Int).self) { group in
                for i in 0..<25 {
                    group.addTask {
                        let id = "u\(round)-\(i)"
                        return (id, await postSMS(port: ports[i % 2], from: "+1555600\(String(format: "%04d", i))", to: "+15550000001", id: id,
                                                  text: "round \(round)", client: client).0)
                    }
                }
                return await group.reduce(into: [(String, Int)]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0.1 == 200 || $0.1 == 202 }, "\(statuses.filter { $0.1 != 200 })")
            deferred += statuses.filter { $0.1 == 202 }.map(\.0)
            try await Task.sleep(nanoseconds: 150_000_000)
        }
        let sentLate = await TestPeers.eventually(30) {
            let sends = (try? String(contentsOfFile: "\(dir)/sends.txt", encoding: .utf8)) ?? ""
            return deferred.allSatisfy { sends.contains("reply:test:\($0)\t") }
        }
        #expect(sentLate, "every deferred reply was sent through the outbox: \(deferred)")
        let store = try openStore(url: url, configDir: dir, lockConnections: 1) as! SQLStore
        defer { store.close() }
        try await Self.waitUntilReported(store)
        for p in procs { p.terminate() }
        let (ledger, unreported) = try Self.ledger(store)
        #expect(unreported == 0)
        #expect(ledger["sms_inbound"] == 100 && ledger["agent_messages"] == 100, "\(ledger)")
        #expect(try await fake.totals() == ["cus_acme": ["ds_in": 100, "ds_agent": 100, "ds_out": ledger["sms_outbound_segments"] ?? -1]])
        let ids = try await fake.requests().compactMap { ($0["form"] as? [String: String])?["identifier"] }
        #expect(ids.count == Set(ids).count, "no report was sent twice by the two processes")
    }

    @Test func overageAllowLetsMessagesPastTheLimitAndBillsThem() async throws {
        let dir = TestEnv.tempDir("overage")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: Self.echo, routes: """
        accounts:
          - { id: acme, name: Acme Inc., tier: metered }
        tiers:
          metered: { sms_inbound: 2, sms_outbound_segments: 2, agent_messages: 2, per_minute: null, overage: allow }
        """), dir: dir)
        for i in 0..<4 { #expect(await g.reply(from: "+15557100001", id: "o\(i)", text: "m\(i)").hasPrefix("echo: m\(i)")) }
        let period = UsagePeriod.month(nowMillis())
        for kind in ["sms_inbound", "agent_messages", "sms_outbound_segments"] {
            #expect(try g.scalar("SELECT count FROM usage_counters WHERE account_id = 'acme' AND kind = ? AND period = ?",
                                 [.text(kind), .text(period)]) == 4, "\(kind): all four counted, two of them over the limit")
        }
        await g.stop()
    }

    @Test func aReportStripeKeepsRefusingIsRetriedByTheHostUntilAccepted() async throws {
        let fake = try TestPeers.FakeStripe()
        defer { fake.stop() }
        // The plugin tries once per record; the host must come back for the same report.
        try await fake.script([(503, nil), (503, nil)])
        let dir = TestEnv.tempDir("usage-retry")
        let g = try await TestGateway(yaml: Self.metered(store: "sqlite:\(dir)/ds.sqlite", dir: dir, port: 0, stripe: fake.base,
                                                         stripeConfig: "max_attempts: 1"), dir: dir)
        for i in 0..<3 { #expect(await g.reply(from: "+15557200001", id: "t\(i)", text: "m\(i)").hasPrefix("echo: ")) }
        try await Self.waitUntilReported(g.store, timeout: 20)
        let (ledger, unreported) = try Self.ledger(g.store)
        await g.stop()
        #expect(unreported == 0)
        #expect(ledger["sms_inbound"] == 3 && ledger["agent_messages"] == 3)
        let reqs = try await fake.requests()
        #expect(reqs.prefix(2).map { $0["status"] as? Int } == [503, 503])
        let ids = reqs.compactMap { ($0["form"] as? [String: String])?["identifier"] }
        #expect(ids.count > Set(ids).count, "the refused report was sent again with its identifier")
        #expect(try await fake.totals() == ["cus_acme": ["ds_in": 3, "ds_agent": 3, "ds_out": ledger["sms_outbound_segments"] ?? -1]])
    }
}
