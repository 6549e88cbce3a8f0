import Foundation
import Testing
@testable import Host

/// The console's server side: its static files served at / without a token (the copies
/// in the repository, with a CSP that allows nothing from elsewhere), `?access_token=` on
/// the event stream only, GET /api/v1/me, and GET /api/v1/usage against `darkspere usage`.
@Suite(.serialized) struct AdminConsoleTests {
    static let consoleDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/Host/Admin/Console").standardizedFileURL

    @Test func consoleFilesArePublicAndAreTheRepositoryCopies() async throws {
        let g = try await AdminEnv.gateway("console-files")
        let port = try #require(g.gateway.adminPort)
        let anon = AdminClient(port: port, token: nil)
        for (path, file, type) in [("/", "index.html", "text/html"), ("/console.css", "console.css", "text/css"),
                                   ("/console.js", "console.js", "text/javascript"), ("/favicon.svg", "favicon.svg", "image/svg+xml")] {
            let r = try await AdminClient.http.send(method: "GET", url: "http://127.0.0.1:\(port)\(path)", headers: [], body: [], timeoutMs: 10_000)
            #expect(r.status == 200, "\(path)")
            let expected = try Data(contentsOf: Self.consoleDir.appendingPathComponent(file))
            #expect(Data(r.body) == expected, "\(path) differs from Sources/Host/Admin/Console/\(file)")
            let headers = Dictionary(r.headers.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { a, _ in a })
            #expect(headers["content-type"]?.hasPrefix(type) == true, "\(path): \(headers["content-type"] ?? "")")
            let csp = headers["content-security-policy"] ?? ""
            #expect(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"))
            #expect(headers["set-cookie"] == nil)
        }
        // The page loads nothing from elsewhere (no CDN): every src/href is local.
        let html = try String(contentsOf: Self.consoleDir.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"))
        // Everything else still needs a token; a POST to / is not the page.
        #expect(try await anon.get("/api/v1/agents").status == 401)
        #expect(try await anon.get("/nothing.js").status == 401)
        #expect(try await anon.call("POST", "/").status == 401)
        await g.stop()
    }

    @Test func meNamesTheTokenAndItsRole() async throws {
        let g = try await AdminEnv.gateway("console-me")
        let port = try #require(g.gateway.adminPort)
        let op = try await AdminClient(port: port).get("/api/v1/me")
        #expect(op.status == 200 && op.json?["name"] == .string("olivia") && op.json?["role"] == .string("operator"))
        #expect(!op.text.contains(AdminEnv.operatorToken))
        let viewer = try await AdminClient(port: port, token: AdminEnv.viewerToken).get("/api/v1/me")
        #expect(viewer.json?["role"] == .string("viewer") && viewer.json?["name"] == .string("victor"))
        let wrong = try await AdminClient(port: port, token: "not-a-token-0123456789").get("/api/v1/me")
        #expect(wrong.status == 401 && wrong.json?.errorCode == "unauthorized")
        #expect(try await AdminClient(port: port).get("/api/v1/me?x=1").status == 400)
        await g.stop()
    }

    @Test func eventStreamTakesTheTokenInTheQueryAndNothingElseDoes() async throws {
        let g = try await AdminEnv.gateway("console-access-token")
        let port = try #require(g.gateway.adminPort)
        let enc = AdminEnv.viewerToken.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let s = try StreamReader(port: port, path: "/api/v1/events?type=message.&access_token=\(enc)", headers: [])
        #expect(s.read(until: { $0.contains("retry: 2000") }))
        #expect(s.received.hasPrefix("HTTP/1.1 200"))
        _ = await g.reply(from: "+15556100001", id: "q1", text: "hello")
        #expect(s.read(until: { _ in s.events.contains { $0.json["type"] == .string("message.received") } }), "\(s.received)")
        s.close()

        let wrong = try StreamReader(port: port, path: "/api/v1/events?access_token=wrong-token-0123456789", headers: [])
        #expect(wrong.read(until: { $0.contains("unauthorized") }))
        #expect(wrong.received.hasPrefix("HTTP/1.1 401"))
        wrong.close()
        // A wrong Authorization header is not rescued by a right access_token (the header wins).
        let both = try StreamReader(port: port, path: "/api/v1/events?access_token=\(enc)", headers: [("Authorization", "Bearer wrong-token-0123456789")])
        #expect(both.read(until: { $0.contains("unauthorized") }))
        both.close()
        // Only the event stream takes it.
        let anon = AdminClient(port: port, token: nil)
        for path in ["/api/v1/sessions?access_token=\(enc)", "/api/v1/agents?access_token=\(enc)", "/api/v1/me?access_token=\(enc)"] {
            #expect(try await anon.get(path).status == 401, "\(path)")
        }
        await g.stop()
    }

    @Test func usageIsEachAccountAgainstItsTier() async throws {
        let accounts = """
        accounts:
          - { id: acme, name: Acme Inc., tier: tiny }
          - { id: zeta, name: Zeta, tier: pro }
        tiers:
          tiny: { sms_inbound: 1000, sms_outbound_segments: null, agent_messages: 10, per_minute: null, overage: deny }
          pro: { sms_inbound: 5000, sms_outbound_segments: 2000, agent_messages: 10000, per_minute: 100, overage: allow }
        """
        let agents = """
          - name: alpha
            transport: echo
            account: acme
            config: { prefix: alpha }
        """
        let g = try await AdminEnv.gateway("console-usage", agents: agents, admin: AdminEnv.section() + "\n" + accounts)
        let port = try #require(g.gateway.adminPort)
        for i in 0..<3 { _ = await g.reply(from: "+1555620000\(i)", id: "u\(i)", text: "hi") }
        let viewer = AdminClient(port: port, token: AdminEnv.viewerToken)
        let r = try await viewer.get("/api/v1/usage")
        #expect(r.status == 200, "\(r.text)")
        let month = UsagePeriod.month(nowMillis())
        #expect(r.json?["period"] == .string(month))
        let list = try #require(r.json?["accounts"]?.arrayValue)
        #expect(list.map { $0["id"]?.stringValue ?? "" } == ["acme", "zeta"])
        let acme = list[0]
        #expect(acme["tier"] == .string("tiny") && acme["status"] == .string("active") && acme["overage"] == .string("deny"))
        #expect(acme["per_minute"] == .null)
        let lines = try #require(acme["usage"]?.arrayValue)
        let agentLine = try #require(lines.first { $0["kind"] == .string("agent_messages") })
        #expect(agentLine["used"]?.intValue == 3 && agentLine["limit"]?.intValue == 10 && agentLine["percent"] == .number(30))
        let outbound = try #require(lines.first { $0["kind"] == .string("sms_outbound_segments") })
        #expect(outbound["limit"] == .null && outbound["percent"] == .null)
        #expect(list[1]["per_minute"]?.intValue == 100 && list[1]["usage"]?.arrayValue?.allSatisfy { $0["used"]?.intValue == 0 } == true)
        // The same figures as `darkspere usage` prints.
        let text = try UsageSummary.text(config: g.gateway.config, store: g.store, accountId: "acme", period: month)
        #expect(text.contains("agent_messages") && text.contains("       3 / 10"), "\(text)")

        #expect(try await viewer.get("/api/v1/usage?account=acme").json?["accounts"]?.arrayValue?.count == 1)
        let unknown = try await viewer.get("/api/v1/usage?account=nope")
        #expect(unknown.status == 404 && unknown.json?["error"]?["message"]?.stringValue?.contains("acme") == true)
        #expect(try await viewer.get("/api/v1/usage?period=2026-13").status == 400)
        let old = try await viewer.get("/api/v1/usage?period=2020-01").json?["accounts"]?.arrayValue?.first?["usage"]?.arrayValue
        #expect(old?.count == 3 && old?.allSatisfy { $0["used"]?.intValue == 0 } == true)
        #expect(try await viewer.get("/api/v1/usage?foo=1").status == 400)
        #expect(try await viewer.call("POST", "/api/v1/usage").status == 405)
        await g.stop()
    }
}
