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

extension AdminProactiveTests {
    /// An `agent` that takes no new conversation — draining, disabled, out of rotation
    /// (missed heartbeats) or removed — is refused with 409 `agent_unavailable` naming the
    /// state, and nothing is queued; without `agent` the choice (and a session whose agent
    /// is gone or disabled) goes to an agent that takes new sessions. Echo agents: alpha,
    /// beta, delta from plugins.yaml, gamma and selfie added at runtime.
    @Test func anAgentThatTakesNoNewConversationIsRefused() async throws {
        let g = try await AdminEnv.gateway("admin-proactive-states", agents: AdminEnv.echoAgentList("alpha", "beta", "delta"))
        let port = try #require(g.gateway.adminPort)
        let c = AdminClient(port: port)
        let ours = "+15550000001"
        func send(_ to: String, agent: String? = nil) async throws -> (status: Int, json: JSONValue?, text: String) {
            let a = agent.map { #","agent":"\#($0)""# } ?? ""
            return try await c.call("POST", "/api/v1/messages", body: #"{"channel":"test","to":"\#(to)","from":"\#(ours)","text":"Hello"\#(a)}"#)
        }
        func counts() throws -> [Int64] {
            try ["outbox", "messages", "sessions", "failovers"].map { try g.scalar("SELECT COUNT(*) FROM \($0)") }
        }
        /// Refused with the state in the message; nothing written.
        func refused(_ to: String, _ agent: String, _ says: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let before = try counts()
            let r = try await send(to, agent: agent)
            #expect(r.status == 409, "\(agent): \(r.status) \(r.text)", sourceLocation: sourceLocation)
            #expect(r.json?.errorCode == "agent_unavailable", "\(r.text)", sourceLocation: sourceLocation)
            let message = r.json?["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("agent '\(agent)' \(says)") && message.contains("Nothing was queued"), "\(message)", sourceLocation: sourceLocation)
            #expect(try counts() == before, "nothing queued for \(agent)", sourceLocation: sourceLocation)
        }

        // Sessions before the changes: alpha's (inbound), beta's and gamma's (proactive, named).
        #expect(await g.reply(from: "+15558400002", id: "s1", text: "hi") == "alpha: hi (history: 0)")
        #expect(try await send("+15558400003", agent: "beta").json?["agent"] == .string("beta"))
        var r = try await c.call("POST", "/api/v1/agents", body: #"{"name":"gamma","transport":"echo","config":{"prefix":"gamma"}}"#)
        #expect(r.status == 201, "\(r.text)")
        #expect(try await send("+15558400004", agent: "gamma").json?["agent"] == .string("gamma"))
        // selfie registers with a heartbeat every 0.1 s and never beats.
        let key = try #require(try await c.call("POST", "/api/v1/agent-keys", body: #"{"agent":"selfie"}"#).json?["key"]?.stringValue)
        r = try await AdminClient(port: port, token: key).call("POST", "/api/v1/agents/register",
                                                              body: #"{"transport":"echo","config":{"prefix":"selfie"},"heartbeat_interval":0.1}"#)
        #expect(r.status == 200, "\(r.text)")

        #expect(try await c.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"draining"}"#).status == 200)
        #expect(try await c.call("PATCH", "/api/v1/agents/beta", body: #"{"state":"disabled"}"#).status == 200)
        #expect(try await c.call("DELETE", "/api/v1/agents/gamma").status == 200)
        let deadline = Date().addingTimeInterval(10)
        func selfieState() async throws -> JSONValue? {
            try await c.get("/api/v1/agents").json?["agents"]?.arrayValue?.first { $0["name"] == .string("selfie") }?["state"]
        }
        while try await selfieState() != .string("out_of_rotation") && Date() < deadline {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(try await selfieState() == .string("out_of_rotation"))

        // A new conversation with each of them: refused, naming the state.
        let newUser = "+15558400007"
        try await refused(newUser, "alpha", "is draining: it keeps its conversations but takes no new one")
        try await refused(newUser, "beta", "is disabled")
        try await refused(newUser, "selfie", "is out of rotation: it missed 3 heartbeats")
        try await refused(newUser, "gamma", "was removed")
        r = try await send(newUser, agent: "ghost")   // never an agent: still a plain 400
        #expect(r.status == 400 && r.json?.errorCode == "invalid_value", "\(r.text)")
        // A draining agent keeps its own conversation (so it may be named there); a disabled one does not.
        r = try await send("+15558400002", agent: "alpha")
        #expect(r.status == 202 && r.json?["agent"] == .string("alpha") && r.json?["new_session"] == .bool(false), "\(r.text)")
        try await refused("+15558400003", "beta", "is disabled")

        // Without agent: the only agent that takes new sessions, delta; the sessions of the
        // disabled beta (without agent) and the removed gamma (naming delta) move to it, a
        // failover each; alpha's stays with the draining alpha.
        let moves: [(String, String?, Bool)] = [("+15558400003", nil, false), ("+15558400004", "delta", false), (newUser, nil, true),
                                                ("+15558400002", nil, false)]
        for (user, agent, newSession) in moves {
            r = try await send(user, agent: agent)
            #expect(r.status == 202, "\(r.text)")
            #expect(r.json?["agent"] == .string(user == "+15558400002" ? "alpha" : "delta"), "\(user): \(r.text)")
            #expect(r.json?["new_session"] == .bool(newSession), "\(user): \(r.text)")
        }
        #expect(try g.scalar("SELECT COUNT(*) FROM failovers WHERE new_agent = 'delta'") == 2)
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions WHERE agent IN ('beta', 'gamma')") == 0)
        // The user's answer continues with delta.
        #expect(await g.reply(from: "+15558400003", id: "s2", text: "ok") == "delta: ok (history: 2)")

        // Nobody takes new conversations: 409 no_agent, nothing queued.
        #expect(try await c.call("PATCH", "/api/v1/agents/delta", body: #"{"state":"draining"}"#).status == 200)
        let before = try counts()
        r = try await send("+15558400008")
        #expect(r.status == 409 && r.json?.errorCode == "no_agent", "\(r.text)")
        #expect(try counts() == before)

        // darkspere send says the same and exits 1.
        let (st, _, err) = try TestSupport.run(TestSupport.darkspere, ["send", "--to", "+15558400009", "--channel", "test", "--from", ours,
                                                                       "--agent", "beta", "--admin-url", "http://127.0.0.1:\(port)", "Hi"],
                                               cwd: g.dir, env: ["DARKSPERE_ADMIN_TOKEN": AdminEnv.operatorToken])
        #expect(st == 1)
        #expect(err.contains("agent 'beta' is disabled"), "\(err)")
        #expect(try counts() == before)
        await g.stop()
    }
}
