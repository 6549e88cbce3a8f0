import Foundation
import Testing
@testable import Host

/// The darkspere executable, run as a separate process.
@Suite(.serialized) struct CLITests {
    func writeConfig(_ yaml: String) throws -> String {
        let dir = TestSupport.tempDir()
        let path = dir + "/plugins.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func pluginsListsTheExamplePlugins() throws {
        let (rc, out, _) = try TestSupport.run(TestSupport.darkspere, ["plugins", "--config", "/nonexistent.yaml"])
        #expect(rc == 0)
        #expect(out.contains("c-echo-agent") && out.contains("swift-echo-agent"))
        #expect(out.contains("ds.agent-transport/1"))
        #expect(out.contains("host ABI 1.2"))
    }

    @Test func checkListsEveryProblemAndExits1() throws {
        let path = try writeConfig("""
            server:
              listen: nowhere
              public_url: ${DARKSPERE_TEST_UNSET_URL}
            routing:
              histroy_depth: 3
            plugins:
              - id: c-echo
                library: c-echo-agent
            agents:
              - name: bot
                transport: missing
            """)
        let (rc, out, _) = try TestSupport.run(TestSupport.darkspere, ["check", "--config", path])
        #expect(rc == 1)
        #expect(out.contains("4 problems"))
        #expect(out.contains("line 2: server.listen: expected host:port, got 'nowhere'"))
        #expect(out.contains("line 3: server.public_url: environment variable DARKSPERE_TEST_UNSET_URL is not set"))
        #expect(out.contains("line 5: routing.histroy_depth: unknown key (did you mean 'history_depth'?)"))
        #expect(out.contains("agents[0].transport: no plugin with id 'missing'"))
    }

    @Test func checkShowsSecretsAsStars() throws {
        let path = try writeConfig(TestSupport.yaml(plugins: """
              - id: c-echo
                library: c-echo-agent
            """, agents: """
              - name: bot
                transport: c-echo
                config: { prefix: p, auth_token: hunter2-secret }
            """, store: "postgres://gw:pa55word@127.0.0.1/db"))
        let (rc, out, _) = try TestSupport.run(TestSupport.darkspere, ["check", "--config", path])
        #expect(rc == 0, "\(out)")
        #expect(!out.contains("hunter2-secret") && !out.contains("pa55word"))
        #expect(out.contains(#""auth_token":"***""#) && out.contains("postgres://gw:***@127.0.0.1/db"))
    }

    @Test func checkReportsPluginProblemsToo() throws {
        let path = try writeConfig(TestSupport.yaml(plugins: """
              - id: future
                library: \(TestSupport.library("fixture-abi2"))
              - id: sw
                library: swift-echo-agent
                config: { greeting: 5 }
            """))
        let (rc, out, _) = try TestSupport.run(TestSupport.darkspere, ["check", "--config", path])
        #expect(rc == 1)
        #expect(out.contains("2 problems"))
        #expect(out.contains("was built for ABI 2.0, but this host speaks ABI 1.2"))
        #expect(out.contains("plugins[1].config.greeting: expected string, found integer"))
    }

    @Test func runExitsNonZeroWithoutServingOnABrokenPlugin() throws {
        let path = try writeConfig(TestSupport.yaml(plugins: """
              - id: broken
                library: \(TestSupport.library("fixture-create-fails"))
            """))
        let (rc, _, err) = try TestSupport.run(TestSupport.darkspere, ["run", "--config", path])
        #expect(rc != 0)
        #expect(err.contains("create failed: cannot reach the database at db.invalid"))
    }

    @Test func sigtermLetsAnInFlightRequestFinish() async throws {
        let port = Int.random(in: 20_000..<40_000)
        let path = try writeConfig(TestSupport.yaml(plugins: """
              - id: all
                library: \(TestSupport.library("fixture-swift-all"))
            """).replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(port)")
                )
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.darkspere)
        p.arguments = ["run", "--config", path, "--log-level", "error"]
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        var ready = false
        for _ in 0..<200 {
            if let r = try? await TestSupport.get(port, "/readyz"), r.status == 200 { ready = true; break }
            try await Task.sleep(nanoseconds: 25_000_000)
        }
        try #require(ready)
        let slow = Task { try await TestSupport.get(port, "/fixture/in/slow?ms=1500") }
        try await Task.sleep(nanoseconds: 300_000_000)
        kill(p.processIdentifier, SIGTERM)
        let r = try await slow.value
        #expect(r.status == 200 && r.text == "slow done after 1500 ms")
        for _ in 0..<200 where p.isRunning { try await Task.sleep(nanoseconds: 25_000_000) }
        #expect(!p.isRunning)
        #expect(p.terminationStatus == 0)
        // New connections are refused once it is gone.
        await #expect(throws: (any Error).self) { try await TestSupport.get(port, "/livez") }
    }
}
