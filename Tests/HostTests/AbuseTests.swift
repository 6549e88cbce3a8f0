import Foundation
import Testing
@testable import Host

/// Abuse and cost control (`abuse:`) against a real gateway on SQLite: messages posted over
/// HTTP to the fixture channel go through the real router (echo agent "alpha"); the lists
/// and users are changed through the admin API; events land in a JSONL file sink.
@Suite(.serialized) struct AbuseTests {
    static let client = HTTPClient()

    /// A gateway with `abuse` (YAML lines under `abuse:`), the admin listener and an event file.
    static func gateway(_ name: String, abuse: String, top: String = "") async throws -> TestGateway {
        let dir = TestEnv.tempDir(name)
        let yaml = TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: AdminEnv.echoAgents, routes: """
            \(AdminEnv.section())
            abuse:
            \(abuse.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            \(top)
            """, extraPlugins: """
              - id: events
                library: file-sink
                config: { path: \(dir)/events.jsonl, fsync: always }
            """)
        return try await TestGateway(yaml: yaml, dir: dir)
    }

    func send(_ g: TestGateway, _ from: String, _ id: String, _ text: String) async -> String {
        let r = await postSMS(port: g.port, from: from, to: "+15550000001", id: id, text: text, client: Self.client)
        #expect(r.0 == 200, "\(r)")
        return r.1
    }

    func rejected(_ g: TestGateway, reason: String, count: Int) async throws -> [JSONValue] {
        let deadline = Date().addingTimeInterval(10)
        var found: [JSONValue] = []
        while Date() < deadline {
            found = ((try? String(contentsOfFile: "\(g.dir)/events.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap { try? JSONValue.parse(String($0)) }
                .filter { $0["type"]?.stringValue == "message.rejected" && $0["reason"]?.stringValue == reason }
            if found.count >= count { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        #expect(found.count == count, "message.rejected \(reason)")
        return found
    }

    func status(_ g: TestGateway, _ id: String) throws -> String? {
        try g.store.withConnection { try $0.one("SELECT status FROM messages WHERE channel_message_id = ? AND direction = 'in'", [.text(id)])?[0].text }
    }

    @Test func perSenderLimitRepliesOncePerWindowStoresAndAnnounces() async throws {
        let g = try await Self.gateway("abuse-rate", abuse: "window: 1h\nper_sender: 3\nrate_limit_reply: Slow down.\nspam_filter: false")
        defer { Task { await g.stop() } }
        let a = "+15557000001", b = "+15557000002"
        var answers: [String] = []
        for i in 0..<5 { answers.append(await send(g, a, "r\(i)", "question \(i)")) }
        #expect(answers[0] == "alpha: question 0 (history: 0)")
        #expect(answers[2] == "alpha: question 2 (history: 4)")
        #expect(answers[3] == "Slow down.")
        #expect(answers[4] == "")
        // A webhook retry of a refused message gets the same answer and counts nothing.
        #expect(await send(g, a, "r3", "question 3") == "Slow down.")
        #expect(await send(g, b, "other", "hi") == "alpha: hi (history: 0)")
        // Stored, not lost; no agent call (the session holds only the three admitted turns).
        #expect(try status(g, "r3") == "rate_limited" && status(g, "r4") == "rate_limited")
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE body = 'question 4'") == 1)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE session_id IS NOT NULL AND remote = ?", [.text(a)]) == 6)
        #expect(try g.scalar("SELECT count FROM abuse_counters WHERE scope = 'rate_sender' AND key = ?", [.text(a)]) == 3)
        let events = try await rejected(g, reason: "rate_limited", count: 2)
        #expect(events.map { $0["scope"]?.stringValue } == ["sender", "sender"])
        #expect(events.map { $0["replied"]?.boolValue } == [true, false])
        #expect(events.first?["limit"]?.intValue == 3)
        // Retention: burst and repeat windows go after two hours, rate windows after 25.
        let now = nowMillis()
        #expect(try g.scalar("SELECT COUNT(*) FROM abuse_counters WHERE scope IN ('burst', 'repeat')") > 0)
        _ = try g.store.purgeAbuseCounters(beforeMs: now + 3 * 3_600_000)
        #expect(try g.scalar("SELECT COUNT(*) FROM abuse_counters WHERE scope IN ('burst', 'repeat')") == 0)
        #expect(try g.scalar("SELECT count FROM abuse_counters WHERE scope = 'rate_sender' AND key = ?", [.text(a)]) == 3)
        _ = try g.store.purgeAbuseCounters(beforeMs: now + 26 * 3_600_000)
        #expect(try g.scalar("SELECT COUNT(*) FROM abuse_counters") == 0)
    }

    @Test func globalLimitAndKnownUsersWithAccountLimit() async throws {
        let g = try await Self.gateway("abuse-users", abuse: """
            window: 1h
            per_sender: 0
            per_account: 2
            global: 4
            known_users: true
            unknown_user_reply: Who are you?
            rate_limit_reply: Busy.
            spam_filter: false
            """, top: "accounts:\n  - { id: acme, name: Acme, tier: free }")
        defer { Task { await g.stop() } }
        let admin = AdminClient(port: try #require(g.gateway.adminPort))
        let viewer = AdminClient(port: admin.port, token: AdminEnv.viewerToken)
        let u1 = "+15557100001", u2 = "+15557100002", u3 = "+15557100003", stranger = "+15557199999"

        #expect(await send(g, stranger, "k0", "hello") == "Who are you?")
        #expect(await send(g, stranger, "k0b", "hello??") == "")
        #expect(try status(g, "k0") == "unknown_user" && status(g, "k0b") == "unknown_user")
        // Users through the admin API (viewer may read, not change; accounts must exist).
        #expect(try await viewer.call("POST", "/api/v1/users", body: #"{"number":"\#(u1)"}"#).status == 403)
        let bad = try await admin.call("POST", "/api/v1/users", body: #"{"number":"\#(u1)","account":"nope"}"#)
        #expect(bad.status == 400 && bad.text.contains("no account 'nope'"))
        #expect(try await admin.call("POST", "/api/v1/users", body: #"{"number":"not a number"}"#).status == 400)
        let added = try await admin.call("POST", "/api/v1/users", body: #"{"number":"\#(u1)","display_name":"Ada","account":"acme"}"#)
        #expect(added.status == 201 && added.json?["created"] == .bool(true) && added.json?["display_name"] == .string("Ada"))
        #expect(try await admin.call("POST", "/api/v1/users", body: #"{"number":"\#(u2)","account":"acme"}"#).status == 201)
        #expect(try await admin.call("POST", "/api/v1/users", body: #"{"number":"\#(u3)"}"#).status == 201)
        #expect(try await viewer.get("/api/v1/users").json?["users"]?.arrayValue?.count == 3)

        // Known users pass; the account's limit (2) holds across its two users.
        #expect(await send(g, u1, "k1", "one") == "alpha: one (history: 0)")
        #expect(await send(g, u2, "k2", "two") == "alpha: two (history: 0)")
        #expect(await send(g, u1, "k3", "three") == "Busy.")
        // The global limit (4): u3 (no account) takes the last two units.
        #expect(await send(g, u3, "k4", "four") == "alpha: four (history: 0)")
        #expect(await send(g, u3, "k5", "five") == "alpha: five (history: 2)")
        #expect(await send(g, u3, "k6", "six") == "Busy.")
        let events = try await rejected(g, reason: "rate_limited", count: 2)
        #expect(events.map { $0["scope"]?.stringValue } == ["account", "global"])

        // Removing a user takes effect on its next message (the cache follows the version).
        #expect(try await admin.call("DELETE", "/api/v1/users/%2B15557100003").status == 200)
        #expect(try await admin.call("DELETE", "/api/v1/users/%2B15557100003").status == 404)
        #expect(await send(g, u3, "k7", "seven") == "Who are you?")
        _ = try await rejected(g, reason: "unknown_user", count: 3)
    }

    @Test func allowAndBlockListsByNumberPrefixAndCountry() async throws {
        let g = try await Self.gateway("abuse-lists", abuse: "window: 1h\nblocked_reply: Blocked.")
        defer { Task { await g.stop() } }
        let admin = AdminClient(port: try #require(g.gateway.adminPort))
        let viewer = AdminClient(port: admin.port, token: AdminEnv.viewerToken)
        func add(_ body: String) async throws -> (status: Int, json: JSONValue?, text: String) {
            try await admin.call("POST", "/api/v1/access-rules", body: body)
        }
        // Bad input: clear errors, nothing added.
        #expect(try await add(#"{"list":"block","kind":"planet","value":"x"}"#).json?.errorCode == "invalid_value")
        #expect(try await add(#"{"list":"block","kind":"prefix","value":"1555"}"#).text.contains("expected + and 1-15 digits"))
        #expect(try await add(#"{"list":"block","kind":"country","value":"+4444"}"#).status == 400)
        #expect(try await add(#"{"list":"deny","kind":"number","value":"+15551234567"}"#).status == 400)
        #expect(try await viewer.call("POST", "/api/v1/access-rules", body: #"{"list":"block","kind":"country","value":"234"}"#).status == 403)
        #expect(try await viewer.get("/api/v1/access-rules").json?["rules"]?.arrayValue?.count == 0)

        let country = try await add(#"{"list":"block","kind":"country","value":"+234","note":"fraud wave"}"#)
        #expect(country.status == 201 && country.json?["value"] == .string("+234") && country.json?["created_by"] == .string("olivia"))
        #expect(try await add(#"{"list":"block","kind":"country","value":"234"}"#).json?["created"] == .bool(false))
        #expect(try await add(#"{"list":"block","kind":"prefix","value":"+1555999"}"#).status == 201)
        #expect(try await add(#"{"list":"block","kind":"number","value":"+15557200001"}"#).status == 201)
        #expect(try await add(#"{"list":"allow","kind":"number","value":"+2348011111111"}"#).status == 201)

        #expect(await send(g, "+2348012345678", "b1", "hello") == "Blocked.")
        #expect(await send(g, "+15559990000", "b2", "hello") == "Blocked.")
        #expect(await send(g, "+15557200001", "b3", "hello") == "Blocked.")
        #expect(await send(g, "+2348012345678", "b1b", "hello?") == "")   // one reply per window: a flood costs one SMS
        #expect(await send(g, "+2348011111111", "b4", "hello") == "alpha: hello (history: 0)")   // allowed past the country block
        #expect(await send(g, "+15557200002", "b5", "hello") == "alpha: hello (history: 0)")
        #expect(try status(g, "b1") == "blocked" && status(g, "b2") == "blocked")
        let events = try await rejected(g, reason: "blocked", count: 4)
        #expect(events.map { $0["rule"]?.stringValue } == ["country +234", "prefix +1555999", "number +15557200001", "country +234"])
        #expect(events.map { $0["replied"]?.boolValue } == [true, true, true, false])

        // Removing the country rule lets the number through on its next message.
        let id = try #require(country.json?["id"]?.intValue)
        #expect(try await viewer.call("DELETE", "/api/v1/access-rules/\(id)").status == 403)
        #expect(try await admin.call("DELETE", "/api/v1/access-rules/\(id)").status == 200)
        #expect(try await admin.call("DELETE", "/api/v1/access-rules/\(id)").status == 404)
        #expect(await send(g, "+2348012345678", "b6", "again") == "alpha: again (history: 0)")
        let blocks = try await viewer.get("/api/v1/access-rules?list=block").json?["rules"]?.arrayValue ?? []
        #expect(blocks.count == 2)

        // The CLI speaks to the same API.
        let url = "http://127.0.0.1:\(admin.port)"
        let env = ["DARKSPERE_ADMIN_TOKEN": AdminEnv.operatorToken]
        var (st, out, err) = try TestSupport.run(TestSupport.darkspere, ["access", "block", "--prefix", "+1666", "--note", "cli", "--admin-url", url], cwd: g.dir, env: env)
        #expect(st == 0 && out.contains("block rule") && out.contains("+1666"), "\(out)\(err)")
        (st, out, err) = try TestSupport.run(TestSupport.darkspere, ["access", "list", "--admin-url", url], cwd: g.dir, env: env)
        #expect(st == 0 && out.contains("+1666") && out.contains("+1555999"), "\(out)\(err)")
        (st, _, err) = try TestSupport.run(TestSupport.darkspere, ["access", "block", "--prefix", "+1", "--country", "1", "--admin-url", url], cwd: g.dir, env: env)
        #expect(st != 0 && err.contains("exactly one"), "\(err)")
        (st, out, err) = try TestSupport.run(TestSupport.darkspere, ["users", "add", "+15557200009", "--name", "Grace", "--admin-url", url], cwd: g.dir, env: env)
        #expect(st == 0 && out.contains("added +15557200009"), "\(out)\(err)")
        (st, out, err) = try TestSupport.run(TestSupport.darkspere, ["users", "list", "--admin-url", url], cwd: g.dir, env: env)
        #expect(st == 0 && out.contains("Grace"), "\(out)\(err)")
        #expect(await send(g, "+16665550000", "b7", "hello") == "Blocked.")
    }

    @Test func spamIsStoredNotSentWithScoreAndSignals() async throws {
        let g = try await Self.gateway("abuse-spam", abuse: "window: 1h\nper_sender: 100\nspam_reply: \"\"")
        defer { Task { await g.stop() } }
        let admin = AdminClient(port: try #require(g.gateway.adminPort))
        let spam = "Congratulations! You have won a $1000 gift card. Click here to claim your prize: bit.ly/claim-now"
        #expect(await send(g, "+15557300001", "s1", spam) == "")
        #expect(try status(g, "s1") == "spam")
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions WHERE remote = '+15557300001'") == 0)
        // A question with a link is not spam.
        #expect(await send(g, "+15557300002", "s2", "can you summarise https://example.com/post please") == "alpha: can you summarise https://example.com/post please (history: 0)")
        // The same harmless long text again and again: the fifth is refused as repeated.
        let same = "please tell me the opening hours of the library"
        var last = ""
        for i in 0..<5 { last = await send(g, "+15557300003", "s3-\(i)", same) }
        #expect(last == "")
        #expect(try status(g, "s3-3") == "answered" && status(g, "s3-4") == "spam")
        // A number on the block list, written in the text.
        #expect(try await admin.call("POST", "/api/v1/access-rules", body: #"{"list":"block","kind":"number","value":"+15550009999"}"#).status == 201)
        #expect(await send(g, "+15557300004", "s4", "for a good time call +1 (555) 000-9999") == "")
        let events = try await rejected(g, reason: "spam", count: 3)
        let first = try #require(events.first)
        #expect((first["score"]?.doubleValue ?? 0) >= 0.7 && first["threshold"]?.doubleValue == 0.7)
        let names = Set(first["signals"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
        #expect(names.isSuperset(of: ["phrases", "shortener", "money"]), "\(names)")
        #expect(events[1]["signals"]?.arrayValue?.first?["name"] == .string("repeated"))
        #expect(events[2]["signals"]?.arrayValue?.contains { $0["name"] == .string("blocked_number") } == true)
    }

    @Test func noAbuseSectionMeansNoChecks() async throws {
        let dir = TestEnv.tempDir("abuse-off")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: AdminEnv.echoAgents), dir: dir)
        defer { Task { await g.stop() } }
        #expect(g.router.abuseGuard == nil)
        for i in 0..<12 { #expect(await send(g, "+15557400001", "o\(i)", "Congratulations you have won, click here bit.ly/x \(i)").hasPrefix("alpha:")) }
        #expect(try g.scalar("SELECT COUNT(*) FROM abuse_counters") == 0)
    }
}
