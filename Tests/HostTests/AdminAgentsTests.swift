import Foundation
import Testing
@testable import Host

/// Agents at runtime over the admin API (a real gateway on SQLite, the C echo agent):
/// drain / disable / enable kept across a restart, runtime agents added and removed, agent
/// keys, self-registration and heartbeats, and the CLI.
@Suite(.serialized) struct AdminAgentsTests {
    static let twoAgents = """
      - name: alpha
        transport: echo
        config: { prefix: alpha }
      - name: beta
        transport: echo
        config: { prefix: beta }
    """

    static func gateway(_ dir: String) async throws -> TestGateway {
        try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: twoAgents, routes: AdminEnv.section()), dir: dir)
    }

    func agent(_ c: AdminClient, _ name: String) async throws -> JSONValue? {
        try await c.get("/api/v1/agents").json?["agents"]?.arrayValue?.first { $0["name"] == .string(name) }
    }

    @Test func stateChangesApplyAtOnceAndSurviveARestart() async throws {
        let dir = TestEnv.tempDir("admin-agents-state")
        var g = try await Self.gateway(dir)
        var c = AdminClient(port: try #require(g.gateway.adminPort))
        #expect(await g.reply(from: "+15558100001", id: "s1", text: "one") == "alpha: one (history: 0)")

        var r = try await c.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"draining"}"#)
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json?["state"] == .string("draining"))
        // Draining: its session continues, a new number goes to beta.
        #expect(await g.reply(from: "+15558100001", id: "s2", text: "two") == "alpha: two (history: 2)")
        #expect(await g.reply(from: "+15558100002", id: "s3", text: "new") == "beta: new (history: 0)")
        // Disabled: its session fails over with history.
        r = try await c.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"disabled"}"#)
        #expect(r.status == 200)
        #expect(await g.reply(from: "+15558100001", id: "s4", text: "three") == "beta: three (history: 4)")

        // Bad input: 4xx, nothing changes.
        #expect(try await c.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"sleeping"}"#).status == 400)
        #expect(try await c.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"active","x":1}"#).json?.errorCode == "unknown_field")
        #expect(try await c.call("PATCH", "/api/v1/agents/nobody", body: #"{"state":"active"}"#).status == 404)
        let viewer = AdminClient(port: c.port, token: AdminEnv.viewerToken)
        #expect(try await viewer.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"active"}"#).status == 403)
        #expect(try await agent(c, "alpha")?["state"] == .string("disabled"))
        #expect(try await c.get("/api/v1/agents/alpha").json?["state"] == .string("disabled"))

        // Kept in the store: after a restart alpha is still disabled.
        await g.stop()
        g = try await Self.gateway(dir)
        c = AdminClient(port: try #require(g.gateway.adminPort))
        #expect(g.router.agent(named: "alpha")?.state == .disabled)
        #expect(await g.reply(from: "+15558100003", id: "s5", text: "after") == "beta: after (history: 0)")
        #expect(try await c.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"active"}"#).status == 200)
        #expect(await g.reply(from: "+15558100004", id: "s6", text: "back") == "alpha: back (history: 0)")
        await g.stop()
    }

    @Test func runtimeAgentsAreAddedRemovedAndKept() async throws {
        let dir = TestEnv.tempDir("admin-agents-runtime")
        var g = try await Self.gateway(dir)
        var c = AdminClient(port: try #require(g.gateway.adminPort))
        var r = try await c.call("POST", "/api/v1/agents", body: #"{"name":"gamma","transport":"echo","config":{"prefix":"gamma"},"max_sessions":5,"history_depth":4}"#)
        #expect(r.status == 201, "\(r.text)")
        #expect(r.json?["source"] == .string("runtime"))
        #expect(r.json?["max_sessions"] == .number(5))
        #expect(r.json?["history_depth"] == .number(4))
        // Clear refusals, nothing kept.
        #expect(try await c.call("POST", "/api/v1/agents", body: #"{"name":"gamma","transport":"echo"}"#).status == 409)
        #expect(try await c.call("POST", "/api/v1/agents", body: #"{"name":"alpha","transport":"echo"}"#).status == 409)
        r = try await c.call("POST", "/api/v1/agents", body: #"{"name":"delta","transport":"nope"}"#)
        #expect(r.status == 400 && r.text.contains("not a plugin offering"), "\(r.text)")
        #expect(try await c.call("POST", "/api/v1/agents", body: #"{"name":"bad name","transport":"echo"}"#).status == 400)
        #expect(try await c.call("POST", "/api/v1/agents", body: #"{"name":"delta","transport":"echo","account":"nobody"}"#).status == 400)
        #expect(try await c.call("POST", "/api/v1/agents", body: #"{"name":"delta","transport":"echo","max_sessions":0}"#).status == 400)
        #expect(try g.scalar("SELECT COUNT(*) FROM agents WHERE name = 'delta'") == 0)

        // gamma takes new sessions once alpha and beta drain.
        for n in ["alpha", "beta"] { _ = try await c.call("PATCH", "/api/v1/agents/\(n)", body: #"{"state":"draining"}"#) }
        #expect(await g.reply(from: "+15558200001", id: "g1", text: "hi") == "gamma: hi (history: 0)")
        #expect(await g.reply(from: "+15558200001", id: "g2", text: "again") == "gamma: again (history: 2)")

        // Kept: after a restart gamma is opened again and keeps its session.
        await g.stop()
        g = try await Self.gateway(dir)
        c = AdminClient(port: try #require(g.gateway.adminPort))
        #expect(try await agent(c, "gamma")?["source"] == .string("runtime"))
        #expect(await g.reply(from: "+15558200001", id: "g3", text: "still") == "gamma: still (history: 4)")

        // An agent from plugins.yaml cannot be deleted; a runtime one can, and its session
        // moves on (alpha back in rotation) with its history.
        r = try await c.call("DELETE", "/api/v1/agents/alpha")
        #expect(r.status == 409 && r.text.contains("plugins.yaml"), "\(r.text)")
        _ = try await c.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"active"}"#)
        r = try await c.call("DELETE", "/api/v1/agents/gamma")
        #expect(r.status == 200, "\(r.text)")
        #expect(try await c.call("DELETE", "/api/v1/agents/gamma").status == 404)
        #expect(try await agent(c, "gamma") == nil)
        #expect(await g.reply(from: "+15558200001", id: "g4", text: "moved") == "alpha: moved (history: 6)")
        await g.stop()
    }

    @Test func agentKeysRegistrationHeartbeatsAndRevocation() async throws {
        let dir = TestEnv.tempDir("admin-agents-keys")
        let g = try await Self.gateway(dir)
        let port = try #require(g.gateway.adminPort)
        let c = AdminClient(port: port)
        var r = try await c.call("POST", "/api/v1/agent-keys", body: #"{"agent":"selfie"}"#)
        #expect(r.status == 201, "\(r.text)")
        let key = try #require(r.json?["key"]?.stringValue)
        let keyId = try #require(r.json?["id"]?.intValue)
        #expect(key.hasPrefix("dsk_") && key.count > 40)
        // Only its hash is stored; the listing never shows the key.
        #expect(try g.scalar("SELECT COUNT(*) FROM agent_keys WHERE key_hash = ?", [.text(AdminServer.keyHash(key))]) == 1)
        let listed = try await c.get("/api/v1/agent-keys").text
        #expect(listed.contains("selfie") && !listed.contains(key))
        #expect(try await AdminClient(port: port, token: AdminEnv.viewerToken).call("POST", "/api/v1/agent-keys", body: #"{"agent":"x"}"#).status == 403)

        let agentClient = AdminClient(port: port, token: key)
        // The agent key works only on the agent's own endpoints, and an admin token not there.
        #expect(try await agentClient.get("/api/v1/agents").status == 401)
        #expect(try await c.call("POST", "/api/v1/agents/selfie/heartbeat").status == 401)
        #expect(try await agentClient.call("POST", "/api/v1/agents/register", body: #"{"name":"other","transport":"echo"}"#).status == 403)
        r = try await agentClient.call("POST", "/api/v1/agents/register",
                                       body: #"{"transport":"echo","config":{"prefix":"selfie"},"heartbeat_interval":1}"#)
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json?["source"] == .string("runtime"))
        #expect(r.json?["heartbeat_interval"] == .number(1))
        for n in ["alpha", "beta"] { _ = try await c.call("PATCH", "/api/v1/agents/\(n)", body: #"{"state":"draining"}"#) }
        #expect(await g.reply(from: "+15558300001", id: "k1", text: "hi") == "selfie: hi (history: 0)")
        #expect(try await agentClient.call("POST", "/api/v1/agents/alpha/heartbeat").status == 403)

        // No beats: after 3 intervals (and the next poll) it is out of rotation; its session fails over.
        let deadline = Date().addingTimeInterval(12)
        while try await agent(c, "selfie")?["state"] != .string("out_of_rotation") && Date() < deadline {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(try await agent(c, "selfie")?["state"] == .string("out_of_rotation"))
        _ = try await c.call("PATCH", "/api/v1/agents/alpha", body: #"{"state":"active"}"#)
        #expect(await g.reply(from: "+15558300001", id: "k2", text: "lapsed") == "alpha: lapsed (history: 2)")
        // A beat puts it back at once.
        r = try await agentClient.call("POST", "/api/v1/agents/selfie/heartbeat")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json?["state"] == .string("active"))
        #expect(r.json?["last_heartbeat_at"]?.stringValue != nil)

        // Revoked: 401 at once.
        r = try await c.call("DELETE", "/api/v1/agent-keys/\(keyId)")
        #expect(r.status == 200 && r.json?["revoked_at"]?.stringValue != nil, "\(r.text)")
        #expect(try await agentClient.call("POST", "/api/v1/agents/selfie/heartbeat").status == 401)
        #expect(try await agentClient.call("POST", "/api/v1/agents/register", body: #"{"transport":"echo"}"#).status == 401)
        #expect(try await c.call("DELETE", "/api/v1/agent-keys/999").status == 404)
        // A key for an agent from plugins.yaml may beat but not register.
        let alphaKey = try #require(try await c.call("POST", "/api/v1/agent-keys", body: #"{"agent":"alpha"}"#).json?["key"]?.stringValue)
        let alphaClient = AdminClient(port: port, token: alphaKey)
        #expect(try await alphaClient.call("POST", "/api/v1/agents/register", body: #"{"transport":"echo"}"#).status == 409)
        #expect(try await alphaClient.call("POST", "/api/v1/agents/alpha/heartbeat").status == 200)
        await g.stop()
    }

    @Test func cliAddsDrainsEnablesAndRemovesAgents() async throws {
        let dir = TestEnv.tempDir("admin-agents-cli")
        let g = try await Self.gateway(dir)
        let url = "http://127.0.0.1:\(try #require(g.gateway.adminPort))"
        func cli(_ args: [String]) throws -> (Int32, String, String) {
            try TestSupport.run(TestSupport.darkspere, args + ["--admin-url", url], cwd: g.dir, env: ["DARKSPERE_ADMIN_TOKEN": AdminEnv.operatorToken])
        }
        var (st, out, err) = try cli(["agents", "add", "gamma", "--transport", "echo", "--agent-config", #"{"prefix":"gamma"}"#, "--max-sessions", "3"])
        #expect(st == 0, "\(err)")
        #expect(out.contains("added agent gamma (runtime, transport echo): active"), "\(out)")
        (st, out, err) = try cli(["agents", "drain", "alpha"])
        #expect(st == 0 && out.contains("agent alpha (config, transport echo): draining"), "\(out)\(err)")
        (st, out, err) = try cli(["agents", "disable", "beta"])
        #expect(st == 0 && out.contains("disabled"), "\(out)\(err)")
        (st, out, _) = try cli(["agents", "list"])
        #expect(out.contains("gamma") && out.contains("runtime") && out.contains("draining") && out.contains("0/3"), "\(out)")
        #expect(await g.reply(from: "+15558400001", id: "c1", text: "hi") == "gamma: hi (history: 0)")
        (st, out, err) = try cli(["agents", "enable", "beta"])
        #expect(st == 0 && out.contains("active"), "\(out)\(err)")
        (st, out, err) = try cli(["agents", "remove", "gamma"])
        #expect(st == 0 && out.contains("removed agent gamma"), "\(out)\(err)")
        (st, out, _) = try cli(["agents", "list", "--json"])
        #expect(try JSONValue.parse(out)["agents"]?.arrayValue?.map { $0["name"]?.stringValue ?? "" } == ["alpha", "beta"])
        // Errors: the API's message, exit 1.
        (st, _, err) = try cli(["agents", "remove", "alpha"])
        #expect(st == 1 && err.contains("409") && err.contains("plugins.yaml"), "\(err)")
        (st, _, err) = try cli(["agents", "add", "delta", "--transport", "echo", "--agent-config", "not json"])
        #expect(st != 0 && err.contains("--agent-config"), "\(err)")
        // Keys: shown once, listed without the key, revoked.
        (st, out, err) = try cli(["agents", "key", "selfie"])
        #expect(st == 0 && out.contains("dsk_"), "\(out)\(err)")
        (st, out, _) = try cli(["agents", "keys"])
        #expect(out.contains("selfie") && !out.contains("dsk_"), "\(out)")
        (st, out, err) = try cli(["agents", "revoke-key", "1"])
        #expect(st == 0 && out.contains("revoked key 1 of agent selfie"), "\(out)\(err)")
        await g.stop()
    }
}
