import Foundation
import Testing
@testable import Host

/// `darkspere agents|sessions|optouts` (the built binary) against a running gateway's admin API.
@Suite(.serialized) struct AdminCLITests {
    @Test func commandsAgainstARunningGateway() async throws {
        let g = try await AdminEnv.gateway("admin-cli")
        let url = "http://127.0.0.1:\(try #require(g.gateway.adminPort))"
        _ = await g.reply(from: "+15559000001", id: "c1", text: "hello from the cli test")
        let env = ["DARKSPERE_ADMIN_TOKEN": AdminEnv.operatorToken, "PATH": "/usr/bin:/bin"]
        func cli(_ args: [String], env: [String: String]? = nil) throws -> (Int32, String, String) {
            try TestSupport.run(TestSupport.darkspere, args + ["--admin-url", url], cwd: g.dir, env: env ?? ["DARKSPERE_ADMIN_TOKEN": AdminEnv.operatorToken])
        }
        _ = env

        var (st, out, err) = try cli(["agents", "list"])
        #expect(st == 0, "\(err)")
        #expect(out.hasPrefix("NAME"))
        #expect(out.contains("alpha") && out.contains("echo") && out.contains("closed"))

        (st, out, err) = try cli(["sessions", "list"])
        #expect(st == 0, "\(err)")
        #expect(out.contains("+15559000001") && out.contains("active"))
        (st, out, _) = try cli(["sessions", "list", "--json"])
        let listed = try JSONValue.parse(out)
        #expect(listed["sessions"]?.arrayValue?.first?["id"] == .number(1))

        (st, out, err) = try cli(["sessions", "show", "1"])
        #expect(st == 0, "\(err)")
        #expect(out.contains("hello from the cli test"))
        #expect(out.contains("agent alpha"))

        (st, _, err) = try cli(["sessions", "takeover", "1"])
        #expect(st == 0, "\(err)")
        (st, _, err) = try cli(["sessions", "reply", "1", "a person answers"])
        #expect(st == 0, "\(err)")
        (st, out, _) = try cli(["sessions", "show", "1", "--json"])
        let shown = try JSONValue.parse(out)
        #expect(shown["session"]?["operator"] == .string("olivia"))
        #expect(shown["messages"]?.arrayValue?.last?["role"] == .string("operator"))
        (st, _, err) = try cli(["sessions", "release", "1"])
        #expect(st == 0, "\(err)")
        (st, _, err) = try cli(["sessions", "close", "1"])
        #expect(st == 0, "\(err)")
        #expect(try g.store.adminSession(id: 1)?.closedMs != nil)

        (st, out, err) = try cli(["optouts", "add", "+15559000002", "--channel", "test"])
        #expect(st == 0, "\(err)")
        #expect(out.contains("opted out +15559000002 on test"))
        (st, out, _) = try cli(["optouts", "list"])
        #expect(out.contains("+15559000002") && out.contains("operator:olivia"))
        (st, _, err) = try cli(["optouts", "remove", "+15559000002", "--channel", "test"])
        #expect(st == 0, "\(err)")
        #expect(try g.store.isOptedOut(channel: "test", remote: "+15559000002") == false)

        // API errors: the API's message, exit 1. A viewer may not change anything.
        (st, _, err) = try cli(["sessions", "show", "42"])
        #expect(st == 1)
        #expect(err.contains("404") && err.contains("no session 42"))
        (st, _, err) = try cli(["optouts", "add", "+15559000003", "--channel", "test"], env: ["DARKSPERE_ADMIN_TOKEN": AdminEnv.viewerToken])
        #expect(st == 1)
        #expect(err.contains("403"))
        (st, _, err) = try cli(["agents", "list"], env: ["DARKSPERE_ADMIN_TOKEN": "wrong-token-wrong-token"])
        #expect(st == 1)
        #expect(err.contains("401"))
        // The token from the config (its first operator token) when the environment has none.
        (st, out, err) = try TestSupport.run(TestSupport.darkspere, ["agents", "list", "--config", "\(g.dir)/plugins.yaml", "--admin-url", url],
                                             cwd: g.dir, env: [:])
        #expect(st == 0, "\(err)")
        #expect(out.contains("alpha"))
        await g.stop()
    }
}
