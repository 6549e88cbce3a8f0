import Foundation
import Testing
@testable import Host

/// Proactive messages (issue 14, item 2): `POST /api/v1/messages` and `darkspere send`
/// against a real gateway — an http-agent agent (the transport tests' Python agent server,
/// whose /handoff path answers with the roles of the history it got) and the fixture
/// channel recording what is sent.
@Suite(.serialized) struct AdminProactiveTests: AdminGatewayTest {
    @Test func proactiveMessageStartsASessionTheAnswerContinues() async throws {
        let (g, agent) = try await AdminEnv.httpAgentGateway("admin-proactive")
        defer { agent.stop() }
        let dir = g.dir
        defer { Task { await g.stop() } }
        let port = try #require(g.gateway.adminPort)
        let olivia = AdminClient(port: port)
        let viewer = AdminClient(port: port, token: AdminEnv.viewerToken)
        let user = "+15558100001", ours = "+15550000001"

        // A viewer may not send; bad input is refused with what to change, and nothing is queued.
        #expect(try await viewer.call("POST", "/api/v1/messages", body: #"{"channel":"test","to":"\#(user)","from":"\#(ours)","text":"x"}"#).status == 403)
        for (body, code) in [
            (#"{"channel":"test","to":"5551234","from":"\#(ours)","text":"x"}"#, "invalid_value"),
            (#"{"channel":"nope","to":"\#(user)","from":"\#(ours)","text":"x"}"#, "invalid_value"),
            (#"{"channel":"test","to":"\#(user)","from":"\#(ours)","text":"  "}"#, "invalid_value"),
            (#"{"channel":"test","to":"\#(user)","from":"\#(ours)","text":"x","agent":"ghost"}"#, "invalid_value"),
            (#"{"channel":"test","to":"\#(user)","from":"\#(ours)","text":"x","media":[{"url":"ftp://x"}]}"#, "invalid_value"),
            (#"{"channel":"test","to":"\#(user)","from":"\#(ours)","text":"x","colour":"red"}"#, "unknown_field"),
            (#"{"channel":"test","to":"\#(user)","text":"x"}"#, "invalid_value"),   // the fixture channel has no configured 'from'
        ] {
            let r = try await olivia.call("POST", "/api/v1/messages", body: body)
            #expect(r.status == 400 && r.json?.errorCode == code, "\(body) -> \(r.status) \(r.text)")
        }
        #expect(try g.scalar("SELECT COUNT(*) FROM outbox") == 0)

        // Queued: a new session of alpha, sent once through the outbox.
        let sent = try await olivia.call("POST", "/api/v1/messages",
                                         body: #"{"channel":"test","to":"\#(user)","from":"\#(ours)","text":"Your order has shipped","media":[{"url":"https://cdn.example.com/map.png","content_type":"image/png"}]}"#,
                                         headers: [("Idempotency-Key", "ship-1")])
        #expect(sent.status == 202, "\(sent.text)")
        #expect(sent.json?["status"] == .string("queued"))
        #expect(sent.json?["agent"] == .string("alpha"))
        #expect(sent.json?["new_session"] == .bool(true))
        let session = try #require(sent.json?["session_id"]?.intValue)
        try await waitFor("the proactive message to be sent") { sends(dir).contains { $0.hasSuffix("\t\(user)\tYour order has shipped") } }
        // The same Idempotency-Key again: the same message, nothing sent twice.
        let again = try await olivia.call("POST", "/api/v1/messages",
                                          body: #"{"channel":"test","to":"\#(user)","from":"\#(ours)","text":"Your order has shipped"}"#,
                                          headers: [("Idempotency-Key", "ship-1")])
        #expect(again.status == 202 && again.json?["duplicate"] == .bool(true) && again.json?["id"] == sent.json?["id"])
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(sends(dir).filter { $0.hasSuffix("\tYour order has shipped") }.count == 1)

        // The user answers: the same session, and its agent sees the proactive message in the history.
        #expect(await g.reply(from: user, to: ours, id: "p1", text: "thanks!") == "roles: assistant")
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 1)
        let shown = try await olivia.get("/api/v1/sessions/\(session)")
        let messages = try #require(shown.json?["messages"]?.arrayValue)
        #expect(messages.map { $0["text"]?.stringValue ?? "" } == ["Your order has shipped", "thanks!", "roles: assistant"])
        #expect(messages.first?["media"]?.arrayValue?.first?["url"] == .string("https://cdn.example.com/map.png"))
        #expect(messages.first?["delivery"]?["state"] == .string("sent"))

        // A second proactive message joins the active session; another agent for it is refused.
        let more = try await olivia.call("POST", "/api/v1/messages", body: #"{"channel":"test","to":"\#(user)","from":"\#(ours)","text":"One more thing"}"#)
        #expect(more.status == 202 && more.json?["session_id"]?.intValue == session && more.json?["new_session"] == .bool(false))

        // Opted out: nothing is sent, the call says why (409 opted_out), message.rejected is announced.
        #expect(await g.reply(from: user, to: ours, id: "p2", text: "STOP") != "")
        let refused = try await olivia.call("POST", "/api/v1/messages", body: #"{"channel":"test","to":"\#(user)","from":"\#(ours)","text":"Sale!"}"#)
        #expect(refused.status == 409, "\(refused.text)")
        #expect(refused.json?.errorCode == "opted_out")
        #expect(refused.json?["error"]?["message"]?.stringValue?.contains("opted out") == true)
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(!sends(dir).contains { $0.hasSuffix("\tSale!") })
        try await waitFor("message.rejected") {
            events(dir).contains { $0["type"] == .string("message.rejected") && $0["reason"] == .string("opted_out") }
        }
        #expect(events(dir).contains { $0["type"] == .string("message.sent") && $0["proactive"] == .bool(true) })

        // darkspere send: the CLI over the same API (an opted-in number; then the opted-out one fails with the reason).
        let url = "http://127.0.0.1:\(port)"
        let env = ["DARKSPERE_ADMIN_TOKEN": AdminEnv.operatorToken]
        var (st, out, err) = try TestSupport.run(TestSupport.darkspere, ["send", "--to", "+15558100002", "--channel", "test", "--from", ours,
                                                                        "--admin-url", url, "Hello from the CLI"], cwd: dir, env: env)
        #expect(st == 0, "\(err)")
        #expect(out.contains("queued for +15558100002"))
        try await waitFor("the CLI's message to be sent") { sends(dir).contains { $0.hasSuffix("\t+15558100002\tHello from the CLI") } }
        (st, out, err) = try TestSupport.run(TestSupport.darkspere, ["send", "--to", user, "--channel", "test", "--from", ours,
                                                                    "--admin-url", url, "Sale!"], cwd: dir, env: env)
        #expect(st == 1)
        #expect(err.contains("opted out"))
    }
}
