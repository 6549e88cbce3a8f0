import Foundation
import Testing
@testable import Host

/// Human takeover through the admin API against a real gateway: an http-agent agent (the
/// transport tests' Python agent server), the fixture channel recording what is sent.
@Suite(.serialized) struct AdminTakeoverTests: AdminGatewayTest {
    @Test func takeoverReplyReleaseHandoffClose() async throws {
        let (g, agent) = try await AdminEnv.httpAgentGateway("admin-takeover", routing: "session_timeout: 1s")
        defer { agent.stop() }
        let dir = g.dir
        let port = try #require(g.gateway.adminPort)
        let olivia = AdminClient(port: port)
        let oscar = AdminClient(port: port, token: AdminEnv.secondOperatorToken)
        let viewer = AdminClient(port: port, token: AdminEnv.viewerToken)
        let user = "+15558000001"

        #expect(await g.reply(from: user, id: "t1", text: "hello") == "roles: ")
        #expect(try await viewer.call("POST", "/api/v1/sessions/1/takeover").status == 403)
        let taken = try await olivia.call("POST", "/api/v1/sessions/1/takeover")
        #expect(taken.status == 200, "\(taken.text)")
        #expect(taken.json?["state"] == .string("taken_over"))
        #expect(taken.json?["operator"] == .string("olivia"))
        let stolen = try await oscar.call("POST", "/api/v1/sessions/1/takeover")
        #expect(stolen.status == 409)
        #expect(stolen.json?.errorCode == "conflict")
        #expect(try await oscar.call("POST", "/api/v1/sessions/1/messages", body: #"{"text":"me too"}"#).status == 409)

        // Under takeover: stored, no agent call, nothing automatic to the user.
        #expect(await g.reply(from: user, id: "t2", text: "are you there") == "")
        let calls = try await olivia.get("/api/v1/agents").json?["agents"]?.arrayValue?.first?["calls_5m"]
        #expect(calls == .number(1))

        // The operator writes: through the outbox, sent once, delivery tracked, role operator.
        let sent = try await olivia.call("POST", "/api/v1/sessions/1/messages", body: #"{"text":"Hi, Olivia here"}"#)
        #expect(sent.status == 201, "\(sent.text)")
        #expect(sent.json?["role"] == .string("operator"))
        #expect(sent.json?["operator"] == .string("olivia"))
        try await waitFor("the operator's message to be sent") { sends(dir).contains { $0.hasSuffix("\t\(user)\tHi, Olivia here") } }
        for _ in 0..<2 {
            let r = try await olivia.call("POST", "/api/v1/sessions/1/messages", body: #"{"text":"once"}"#, headers: [("Idempotency-Key", "k-1")])
            #expect(r.status == 201)
        }
        try await waitFor("the second message") { sends(dir).contains { $0.hasSuffix("\tonce") } }
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(sends(dir).filter { $0.hasSuffix("\tonce") }.count == 1)
        #expect(sends(dir).filter { $0.hasSuffix("\tHi, Olivia here") }.count == 1)
        try await waitFor("delivery state sent") {
            let t = try await olivia.get("/api/v1/sessions/1").json?["messages"]?.arrayValue ?? []
            return t.first { $0["text"] == .string("Hi, Olivia here") }?["delivery"]?["state"] == .string("sent")
        }
        #expect(try await olivia.call("POST", "/api/v1/sessions/1/messages", body: #"{"text":"  "}"#).status == 400)

        // Sticky past session_timeout (1 s) while held.
        try await Task.sleep(nanoseconds: 1_300_000_000)
        #expect(await g.reply(from: user, id: "t3", text: "still there?") == "")
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 1)
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE status = 'held'") == 2)

        // Released: the agent's next call carries the operator's messages, role operator.
        let released = try await olivia.call("POST", "/api/v1/sessions/1/release")
        #expect(released.status == 200)
        #expect(released.json?["state"] == .string("active"))
        #expect(await g.reply(from: user, id: "t4", text: "ok thanks") == "roles: user,assistant,user,operator,operator,user")
        #expect(try await olivia.call("POST", "/api/v1/sessions/1/release").status == 409)

        // The agent asks for a human: the waiting reply, then the session waits (no agent call).
        #expect(await g.reply(from: user, id: "t5", text: "I want a human") == "Connecting you with a person. Please hold on.")
        try await waitFor("the session to wait for an operator") {
            try await olivia.get("/api/v1/sessions/1").json?["session"]?["state"] == .string("waiting")
        }
        #expect(try await olivia.get("/api/v1/sessions?state=waiting").json?["sessions"]?.arrayValue?.count == 1)
        #expect(await g.reply(from: user, id: "t6", text: "hello?") == "")
        let t = try #require(try await olivia.get("/api/v1/sessions/1").json?["messages"]?.arrayValue)
        #expect(t.last?["status"] == .string("held"))
        #expect(try await olivia.call("POST", "/api/v1/sessions/1/takeover").json?["handoff_requested_at"] == .null)
        #expect(try await olivia.call("POST", "/api/v1/sessions/1/release").status == 200)

        // Closed: the next message starts a new session.
        let closed = try await olivia.call("POST", "/api/v1/sessions/1/close")
        #expect(closed.json?["state"] == .string("closed"))
        #expect(await g.reply(from: user, id: "t7", text: "new topic") == "roles: ")
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 2)
        #expect(try await olivia.call("POST", "/api/v1/sessions/1/takeover").status == 409)
        #expect(try await olivia.call("POST", "/api/v1/sessions/99/takeover").status == 404)
        await g.stop()

        let types = events(dir).compactMap { $0["type"]?.stringValue }
        for t in ["session.taken_over", "session.released", "session.handoff_requested", "message.held", "session.closed"] {
            #expect(types.contains(t), "no \(t) event")
        }
        let operatorSent = events(dir).filter { $0["type"] == .string("message.sent") && $0["role"] == .string("operator") }
        #expect(operatorSent.count == 2)
        #expect(operatorSent.allSatisfy { $0["operator"] == .string("olivia") })
    }

    @Test func moveAndNotice() async throws {
        let dir = TestEnv.tempDir("admin-move")
        let yaml = TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: AdminEnv.echoAgentList("alpha", "beta"), routes: AdminEnv.section(extra: "  takeover:\n    notice: \"A person has joined.\""))
        let g = try await TestGateway(yaml: yaml, dir: dir)
        let c = AdminClient(port: try #require(g.gateway.adminPort))
        #expect(await g.reply(from: "+15558100001", id: "m1", text: "hi") == "alpha: hi (history: 0)")
        #expect(try await c.call("POST", "/api/v1/sessions/1/move", body: #"{"agent":"nobody"}"#).status == 400)
        let moved = try await c.call("POST", "/api/v1/sessions/1/move", body: #"{"agent":"beta"}"#)
        #expect(moved.json?["agent"] == .string("beta"))
        #expect(await g.reply(from: "+15558100001", id: "m2", text: "again") == "beta: again (history: 2)")
        // takeover.notice: sent to the user through the outbox when an operator takes over.
        #expect(try await c.call("POST", "/api/v1/sessions/1/takeover").status == 200)
        try await waitFor("the notice") { sends(dir).contains { $0.hasSuffix("\tA person has joined.") } }
        let t = try #require(try await c.get("/api/v1/sessions/1").json?["messages"]?.arrayValue)
        #expect(t.last?["role"] == .string("system"))
        await g.stop()
    }
}
