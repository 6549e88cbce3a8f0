import Foundation
import Testing
@testable import Host

/// Takeover across two `darkspere run` processes on one PostgreSQL: what one process's
/// admin API decides, the other's router honours on the session's next message.
@Suite(.serialized) struct AdminPostgresTests {
    @Test func takeoverHoldsAcrossProcesses() async throws {
        let client = HTTPClient()
        defer { client.shutdown() }
        let pair = try await AdminProcessPair.start("admin-pg", client: client, routing: "session_timeout: 2s")
        let (dir, ports, adminPorts) = (pair.dir, pair.ports, pair.adminPorts)
        defer { pair.terminate() }
        let a = AdminClient(port: adminPorts[0]), b = AdminClient(port: adminPorts[1])
        let user = "+15559100001"
        var r = await postSMS(port: ports[0], from: user, to: "+15550000001", id: "p1", text: "hello", client: client)
        #expect(r.1 == "alpha: hello (history: 0)")

        // Taken over through process B; process A's router holds the session's messages.
        #expect(try await b.call("POST", "/api/v1/sessions/1/takeover").status == 200)
        #expect(try await a.get("/api/v1/sessions/1").json?["session"]?["operator"] == .string("olivia"))
        r = await postSMS(port: ports[0], from: user, to: "+15550000001", id: "p2", text: "anyone?", client: client)
        #expect(r.0 == 200 && r.1 == "", "\(r)")
        // The operator's message goes out exactly once, whichever process's outbox sends it.
        #expect(try await b.call("POST", "/api/v1/sessions/1/messages", body: #"{"text":"operator here"}"#).status == 201)
        let deadline = Date().addingTimeInterval(15)
        func sentLines() -> [Substring] {
            ((try? String(contentsOfFile: "\(dir)/sends.txt", encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.hasSuffix("\toperator here") }
        }
        while sentLines().isEmpty && Date() < deadline { try await Task.sleep(nanoseconds: 100_000_000) }
        try await Task.sleep(nanoseconds: 1_500_000_000)
        #expect(sentLines().count == 1)
        // Sticky past session_timeout (2 s) in both processes.
        try await Task.sleep(nanoseconds: 2_200_000_000)
        r = await postSMS(port: ports[1], from: user, to: "+15550000001", id: "p3", text: "still waiting", client: client)
        #expect(r.1 == "")

        // Released through A; B's router calls the agent with the history, operator message included.
        #expect(try await a.call("POST", "/api/v1/sessions/1/release").status == 200)
        r = await postSMS(port: ports[1], from: user, to: "+15550000001", id: "p4", text: "thanks", client: client)
        #expect(r.1 == "alpha: thanks (history: 5)", "\(r)")
        let sessions = try await b.get("/api/v1/sessions").json?["sessions"]?.arrayValue ?? []
        #expect(sessions.count == 1)
    }
}
