import Foundation
import Testing
@testable import Host

/// Erasure of a number (`darkspere forget`, POST /api/v1/forget): nothing of the number left
/// in the SQLite file after a VACUUM, the PostgreSQL rows gone, other numbers untouched,
/// usage counts kept, a privacy.erased event without the number, spooled events dropped.
@Suite(.serialized) struct ForgetTests {
    static let victim = "+15557654321"
    static let other = "+15551112222"

    static let agents = """
      - name: alpha
        transport: echo
        account: acme
        config: { prefix: alpha }
    """
    static func extra(admin: String = AdminEnv.section()) -> String {
        admin + """

        accounts:
          - {id: acme, name: Acme, tier: pro}
        events:
          redact_numbers: false
          include_bodies: true
        """
    }
    static func sinkPlugin(_ dir: String) -> String {
        """
          - id: log
            library: file-sink
            config: { path: \(dir)/events.jsonl }
        """
    }

    /// Traffic from both numbers, an outbox row and an opt-out for the victim.
    static func traffic(_ g: TestGateway) async throws {
        for i in 0..<3 {
            #expect(await g.reply(from: victim, id: "v\(i)", text: "secret victim text \(i)").hasPrefix("alpha: secret victim text \(i)"))
            #expect(await g.reply(from: other, id: "o\(i)", text: "other text \(i)").hasPrefix("alpha: other text \(i)"))
        }
        try g.store.enqueueOutbox(OutboxItem(id: 0, messageKey: "late-v", channel: "nochannel", to: victim, from: "+15550000001",
                                             text: "a late reply to the victim", correlationId: "test:v0", attempts: 0), nowMs: nowMillis() + 3_600_000)
        try g.store.setOptOut(channel: "test", remote: victim, keyword: "STOP", nowMs: nowMillis())
    }

    static func forgetThroughTheCLI(_ g: TestGateway, port: Int) async throws -> (Int32, String, String) {
        var env = ProcessInfo.processInfo.environment
        env["DARKSPERE_ADMIN_TOKEN"] = AdminEnv.operatorToken
        return try await Gateway.offPool {
            try TestSupport.run(TestSupport.darkspere, ["forget", "--admin-url", "http://127.0.0.1:\(port)", "--config", "/nonexistent.yaml", victim], env: env)
        }
    }

    @Test func sqliteFileHoldsNoByteOfTheNumberAfterForgetAndVacuum() async throws {
        let dir = TestEnv.tempDir("forget")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: Self.agents, routes: Self.extra(),
                                                           extraPlugins: Self.sinkPlugin(dir)), dir: dir)
        let port = try #require(g.gateway.adminPort)
        try await Self.traffic(g)
        let usageBefore = try g.scalar("SELECT COALESCE(SUM(count), 0) FROM usage_counters")
        let ledgerBefore = try g.scalar("SELECT COUNT(*) FROM usage_events")
        #expect(usageBefore > 0 && ledgerBefore > 0)

        // A viewer may not erase.
        let viewer = AdminClient(port: port, token: AdminEnv.viewerToken)
        #expect(try await viewer.call("POST", "/api/v1/forget", body: #"{"number":"\#(Self.victim)"}"#).status == 403)
        let bad = try await AdminClient(port: port).call("POST", "/api/v1/forget", body: #"{"number":""}"#)
        #expect(bad.status == 400, "\(bad.text)")

        let (rc, out, err) = try await Self.forgetThroughTheCLI(g, port: port)
        #expect(rc == 0, "forget: \(out) \(err)")
        #expect(out.contains("erased \(Self.victim): 6 message(s), 1 session(s), 3 dedupe key(s), 1 outbox row(s), 1 opt-out(s)"), "\(out)")
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE remote = ?", [.text(Self.victim)]) == 0)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE remote = ?", [.text(Self.other)]) == 6)
        #expect(try g.scalar("SELECT COALESCE(SUM(count), 0) FROM usage_counters") == usageBefore, "aggregated counts are kept")
        #expect(try g.scalar("SELECT COUNT(*) FROM usage_events") == ledgerBefore, "the ledger keeps its quantities")
        #expect(try g.scalar("SELECT COUNT(*) FROM usage_events WHERE correlation_id LIKE 'test:v%'") == 0)
        #expect(try g.scalar("SELECT COUNT(*) FROM usage_events WHERE correlation_id LIKE 'test:o%'") > 0)

        // The number texts again: a new conversation, no history.
        #expect(await g.reply(from: Self.victim, id: "v-after", text: "hello again") == "alpha: hello again (history: 0)")
        _ = try await AdminClient(port: port).call("POST", "/api/v1/forget", body: #"{"number":"\#(Self.victim)"}"#)
        try await Task.sleep(nanoseconds: 500_000_000)   // the sink writes the event
        await g.stop()

        // The event says an erasure happened, without the number.
        let events = try String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8).split(separator: "\n")
        let erased = events.filter { $0.contains("\"type\":\"privacy.erased\"") }
        #expect(erased.count == 2)
        #expect(erased.allSatisfy { !$0.contains("7654321") && $0.contains("\"messages\":") }, "\(erased)")

        let (vrc, vout) = sh("sqlite3 \(dir)/ds.sqlite 'PRAGMA wal_checkpoint(TRUNCATE); VACUUM;'")
        #expect(vrc == 0, "\(vout)")
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("ds.sqlite") }
        var all = Data()
        for f in files { all.append(FileManager.default.contents(atPath: "\(dir)/\(f)") ?? Data()) }
        #expect(all.count > 4096)
        for needle in ["5557654321", "secret victim text", "a late reply to the victim"] {
            #expect(all.range(of: Data(needle.utf8)) == nil, "'\(needle)' is still in \(files)")
        }
        // The search can find things: the other number is there.
        #expect(all.range(of: Data("5551112222".utf8)) != nil)
    }

    @Test func postgresRowsAreGone() async throws {
        let pg = try PostgresServer()
        let dir = TestEnv.tempDir("forget-pg")
        let g = try await TestGateway(yaml: TestEnv.config(store: pg.url, dir: dir, agents: Self.agents, routes: Self.extra(),
                                                           extraPlugins: Self.sinkPlugin(dir)), dir: dir)
        let port = try #require(g.gateway.adminPort)
        try await Self.traffic(g)
        let usageBefore = try pg.psql("SELECT SUM(count) FROM usage_counters")
        let (rc, out, err) = try await Self.forgetThroughTheCLI(g, port: port)
        #expect(rc == 0, "forget: \(out) \(err)")
        #expect(out.contains("6 message(s), 1 session(s), 3 dedupe key(s), 1 outbox row(s), 1 opt-out(s)"), "\(out)")
        await g.stop()
        let v = Self.victim
        #expect(try pg.psql("""
            SELECT (SELECT COUNT(*) FROM messages WHERE remote = '\(v)' OR body LIKE 'secret victim%')
                 + (SELECT COUNT(*) FROM sessions WHERE remote = '\(v)') + (SELECT COUNT(*) FROM outbox WHERE to_number = '\(v)')
                 + (SELECT COUNT(*) FROM opt_outs WHERE remote = '\(v)')
                 + (SELECT COUNT(*) FROM dedupe_keys WHERE channel_message_id LIKE 'v%')
                 + (SELECT COUNT(*) FROM usage_events WHERE correlation_id LIKE 'test:v%')
            """) == "0")
        #expect(try pg.psql("SELECT COUNT(*) FROM messages WHERE remote = '\(Self.other)'") == "6")
        #expect(try pg.psql("SELECT SUM(count) FROM usage_counters") == usageBefore)
        // No table holds the number in any column.
        let dump = try TestSupport.run("/usr/bin/pg_dump", ["-h", "127.0.0.1", "-p", "\(pg.port)", "-U", "postgres", "--data-only", "postgres"])
        #expect(dump.0 == 0)
        #expect(!dump.1.contains("5557654321") && dump.1.contains("5551112222"))
    }

    /// The spool: undelivered events of the number dropped, delivered bytes gone, others kept,
    /// and a batch in delivery still committed at the right place.
    @Test func spoolFileDropsTheNumbersEvents() throws {
        let dir = TestEnv.tempDir("forget-spool")
        let s = try SpoolFile(path: "\(dir)/log.jsonl")
        let lines = (0..<10).map { i in #"{"type":"message.received","from":"\#(i % 2 == 0 ? Self.victim : Self.other)","n":\#(i)}"# }
        for l in lines { try s.append(l) }
        let (first, next) = try s.read(max: 2)   // delivered
        #expect(first.count == 2)
        try s.commit(next)
        let (inFlight, inFlightEnd) = try s.read(max: 3)   // being delivered: lines 2, 3, 4
        #expect(inFlight.count == 3)
        let r = try s.remove(where: { $0.contains(Self.victim) }, mapping: inFlightEnd)
        #expect(r.dropped == 4)   // 2, 4, 6, 8
        let text = try String(contentsOfFile: "\(dir)/log.jsonl", encoding: .utf8)
        #expect(!text.contains("7654321"))
        #expect(!text.contains(#""n":1}"#), "delivered events go too")
        // Kept undelivered: 3, 5, 7, 9; the in-flight batch's kept line (3) ends at `mapped`.
        let mapped = try #require(r.mapped)
        try s.commit(mapped)
        let (rest, _) = try s.read(max: 10)
        #expect(rest == [lines[5], lines[7], lines[9]])
        #expect(Self.mode("\(dir)/log.jsonl") == 0o600)
    }

    static func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? NSNumber)?.intValue ?? -1
    }
}
