import Foundation
import Testing
@testable import Host

/// Runtime agents across two `darkspere run` processes on one PostgreSQL: an agent added,
/// drained or removed through A's admin API is seen by B within a few seconds (B's poll of
/// the agents table), a missed heartbeat takes an agent out of rotation on both, and a key
/// revoked on A is refused on B at once.
@Suite(.serialized) struct AgentsPostgresTests {
    @Test func agentChangesReachTheOtherProcess() async throws {
        let client = HTTPClient()
        defer { client.shutdown() }
        let pair = try await AdminProcessPair.start("agents-pg", client: client)
        let (ports, adminPorts) = (pair.ports, pair.adminPorts)
        defer { pair.terminate() }
        let a = AdminClient(port: adminPorts[0]), b = AdminClient(port: adminPorts[1])
        func state(_ c: AdminClient, _ name: String) async throws -> String? {
            try await c.get("/api/v1/agents").json?["agents"]?.arrayValue?.first { $0["name"] == .string(name) }?["state"]?.stringValue
        }
        /// Seconds until `cond` holds (polling), or nil after `timeout`.
        func within(_ timeout: Double, _ cond: () async throws -> Bool) async throws -> Double? {
            let start = Date()
            while Date().timeIntervalSince(start) < timeout {
                if try await cond() { return Date().timeIntervalSince(start) }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            return nil
        }

        // Added on A: B opens it within a few seconds and routes to it.
        var r = try await a.call("POST", "/api/v1/agents", body: #"{"name":"gamma","transport":"echo","config":{"prefix":"gamma"}}"#)
        #expect(r.status == 201, "\(r.text)")
        let seen = try await within(6) { try await state(b, "gamma") == "active" }
        #expect(seen != nil, "B did not see gamma")
        print("agents-pg: runtime agent added on A seen on B after \(seen ?? -1) s")
        // Drained on A: B stops giving alpha new sessions, and gamma takes them.
        #expect(try await a.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"draining"}"#).status == 200)
        let drained = try await within(6) { try await state(b, "alpha") == "draining" }
        #expect(drained != nil, "B did not see alpha draining")
        print("agents-pg: drain on A seen on B after \(drained ?? -1) s")
        var sms = await postSMS(port: ports[1], from: "+15559200001", to: "+15550000001", id: "q1", text: "hi", client: client)
        #expect(sms.1 == "gamma: hi (history: 0)", "\(sms)")

        // A self-registered agent with heartbeats; no beats -> out of rotation on both.
        r = try await a.call("POST", "/api/v1/agent-keys", body: #"{"agent":"selfie"}"#)
        let key = try #require(r.json?["key"]?.stringValue)
        let keyId = try #require(r.json?["id"]?.intValue)
        let agentA = AdminClient(port: adminPorts[0], token: key), agentB = AdminClient(port: adminPorts[1], token: key)
        r = try await agentB.call("POST", "/api/v1/agents/register", body: #"{"transport":"echo","config":{"prefix":"selfie"},"heartbeat_interval":1}"#)
        #expect(r.status == 200, "\(r.text)")
        #expect(try await within(6) { try await state(a, "selfie") == "active" } != nil)
        let lapsedA = try await within(10) { try await state(a, "selfie") == "out_of_rotation" }
        let lapsedB = try await within(10) { try await state(b, "selfie") == "out_of_rotation" }
        #expect(lapsedA != nil && lapsedB != nil, "selfie did not leave rotation after missed heartbeats")
        // A beat on A puts it back on B too.
        #expect(try await agentA.call("POST", "/api/v1/agents/selfie/heartbeat").status == 200)
        #expect(try await within(6) { try await state(b, "selfie") == "active" } != nil)

        // Revoked on A: 401 on B at once.
        #expect(try await a.call("DELETE", "/api/v1/agent-keys/\(keyId)").status == 200)
        #expect(try await agentB.call("POST", "/api/v1/agents/selfie/heartbeat").status == 401)

        // Removed on A: B drops it; gamma's session moves on B (alpha back in rotation) with history.
        _ = try await a.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"active"}"#)
        #expect(try await a.call("DELETE", "/api/v1/agents/gamma").status == 200)
        let removed = try await within(6) {
            let names = try await b.get("/api/v1/agents").json?["agents"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            let alpha = try await state(b, "alpha")
            return !names.contains("gamma") && alpha == "active"
        }
        #expect(removed != nil, "B did not drop gamma")
        sms = await postSMS(port: ports[1], from: "+15559200001", to: "+15550000001", id: "q2", text: "still there?", client: client)
        #expect(sms.1 == "alpha: still there? (history: 2)", "\(sms)")
    }
}
