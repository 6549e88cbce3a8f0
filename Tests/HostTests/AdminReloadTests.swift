import Foundation
import Testing
@testable import Host

/// The admin API after a reload answers from the new configuration, not the one it was
/// started with (it kept its own copy: an account added by a reload was "unknown").
@Suite("Admin API after a reload", .serialized)
struct AdminReloadTests {
    static func accounts(_ ids: [String]) -> String {
        "accounts:\n" + ids.map { "  - { id: \($0), name: \($0), tier: basic }" }.joined(separator: "\n") + """

        tiers:
          basic: { sms_inbound: 1000, sms_outbound_segments: null, agent_messages: 1000, per_minute: null, overage: allow }
        """
    }

    @Test func anAccountAddedByAReloadIsKnownToTheAdminAPI() async throws {
        let g = try await AdminEnv.gateway("admin-reload", admin: AdminEnv.section() + "\n" + Self.accounts(["acme"]))
        let api = AdminClient(port: try #require(g.gateway.adminPort))
        let before = try await api.call("POST", "/api/v1/users", body: #"{"number": "+15551230001", "account": "zeta"}"#)
        #expect(before.status == 400, "\(before.text)")

        let path = "\(g.dir)/plugins.yaml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: Self.accounts(["acme"]), with: Self.accounts(["acme", "zeta"]))
            .write(toFile: path, atomically: true, encoding: .utf8)
        let outcome = await g.gateway.reload(trigger: "test")
        #expect(outcome.ok, "\(outcome.text)")

        let after = try await api.call("POST", "/api/v1/users", body: #"{"number": "+15551230001", "account": "zeta"}"#)
        #expect(after.status == 201, "\(after.text)")
        let usage = try await api.get("/api/v1/usage")
        let ids = usage.json?["accounts"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        #expect(ids.sorted() == ["acme", "zeta"], "\(usage.text)")
        #expect(g.router.gatewayConfig.accounts.map(\.id).sorted() == ["acme", "zeta"])
        await g.stop()
    }
}
