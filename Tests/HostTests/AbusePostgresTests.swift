import Foundation
import Testing
@testable import Host

/// Abuse control across two `darkspere run` processes on one PostgreSQL: the per-sender
/// limit is counted in the store (not per process), and list and user changes made through
/// one process's admin API hold in the other from its next message.
@Suite(.serialized) struct AbusePostgresTests {
    @Test func limitsListsAndUsersHoldAcrossProcesses() async throws {
        let client = HTTPClient()
        defer { client.shutdown() }
        let pair = try await AdminProcessPair.start("abuse-pg", client: client, extra: """

                abuse:
                  window: 1h
                  per_sender: 4
                  known_users: true
                  unknown_user_reply: Who are you?
                  rate_limit_reply: Slow down.
                  blocked_reply: Blocked.
                  spam_filter: false
                """)
        let (ports, adminPorts) = (pair.ports, pair.adminPorts)
        defer { pair.terminate() }
        let a = AdminClient(port: adminPorts[0]), b = AdminClient(port: adminPorts[1])
        func send(_ i: Int, _ from: String, _ id: String, _ text: String) async -> String {
            let r = await postSMS(port: ports[i], from: from, to: "+15550000001", id: id, text: text, client: client)
            #expect(r.0 == 200, "\(r)")
            return r.1
        }
        let user = "+15557500001", other = "+15557500002"

        // Unknown in B (cached there as unknown), added through A: B lets it through next time.
        #expect(await send(1, user, "p0", "hello") == "Who are you?")
        #expect(try await a.call("POST", "/api/v1/users", body: #"{"number":"\#(user)","display_name":"Ada"}"#).status == 201)
        #expect(try await a.call("POST", "/api/v1/users", body: #"{"number":"\#(other)"}"#).status == 201)
        var answers: [String] = []
        for i in 1...7 { answers.append(await send(i % 2, user, "p\(i)", "m\(i)")) }
        // Four admitted in all (not four per process), one reply for the window, then silence.
        #expect(answers.prefix(4).allSatisfy { $0.hasPrefix("alpha: ") }, "\(answers)")
        #expect(answers[4] == "Slow down.")
        #expect(answers[5] == "" && answers[6] == "")

        // Blocked through B: A refuses the next message; removed through A: B lets it through.
        let rule = try await b.call("POST", "/api/v1/access-rules", body: #"{"list":"block","kind":"prefix","value":"+1555750"}"#)
        #expect(rule.status == 201)
        #expect(await send(0, other, "q1", "hi") == "Blocked.")
        let id = try #require(rule.json?["id"]?.intValue)
        #expect(try await a.call("DELETE", "/api/v1/access-rules/\(id)").status == 200)
        #expect(await send(1, other, "q2", "hi again") == "alpha: hi again (history: 0)")
        // Removed through B: A refuses (its cached "known" is stale, the version says so).
        #expect(await send(0, other, "q3", "still there?") == "alpha: still there? (history: 2)")
        #expect(try await b.call("DELETE", "/api/v1/users/%2B15557500002").status == 200)
        #expect(await send(0, other, "q4", "and now?") == "Who are you?")
    }
}
