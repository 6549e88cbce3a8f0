import Foundation
import Testing
import TestPeers
@testable import Host

/// Reload across processes and files: two `darkspere run` processes on one PostgreSQL,
/// each reloading its own file (one through SIGHUP found by its pid file, one through the
/// admin API, both with `darkspere reload`); a plugin library replaced on disk.
@Suite(.serialized) struct ReloadProcessTests {
    /// A POST to the fixture channel's route at `path`.
    static func post(port: Int, path: String, from: String, id: String, text: String, client: HTTPClient) async -> (Int, String) {
        func enc(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }
        let body = "from=\(enc(from))&to=%2B15550000001&id=\(enc(id))&text=\(enc(text))"
        guard let r = try? await client.send(method: "POST", url: "http://127.0.0.1:\(port)\(path)",
                                             headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(body.utf8), timeoutMs: 30_000)
        else { return (-1, "") }
        return (r.status, String(decoding: r.body, as: UTF8.self))
    }

    static func channel(_ id: String, _ route: String, dir: String) -> String {
        "  - id: \(id)\n    library: fixture-test-channel\n    config: { route: \(route), sends_file: \(dir)/sends-\(id).txt }\n"
    }

    @Test func twoProcessesOnOnePostgresEachReloadTheirOwnFile() async throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let url = try pg.newDatabase()
        let dir = TestEnv.tempDir("reload-pg")
        let ports = [TestEnv.freePort(), TestEnv.freePort()]
        let adminPort = TestEnv.freePort()
        let admin = AdminEnv.section().replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(adminPort)")
        func yaml(_ i: Int, extra: String = "") -> String {
            TestEnv.config(store: url, dir: dir, listen: "127.0.0.1:\(ports[i])", agents: AdminEnv.echoAgents,
                           routes: i == 1 ? admin : "", extraPlugins: extra)
        }
        let client = HTTPClient()
        defer { client.shutdown() }
        let procs = try await GatewayProcess.startAll(ports: ports, dir: dir, client: client) { port in yaml(ports.firstIndex(of: port)!) }
        defer { for p in procs { p.terminate() } }
        let user = "+15559200001"
        var r = await Self.post(port: ports[0], path: "/test/sms", from: user, id: "r1", text: "hello", client: client)
        #expect(r.1 == "alpha: hello (history: 0)")
        // Process 0 has no admin listener: `darkspere reload` signals the pid in its pid file.
        let pidFile = "\(dir)/data/darkspere-\(ports[0]).pid"
        #expect(await TestPeers.eventually { FileManager.default.fileExists(atPath: pidFile) })
        try yaml(0, extra: Self.channel("second", "/second/sms", dir: dir)).write(toFile: "\(dir)/plugins-0.yaml", atomically: true, encoding: .utf8)
        var (status, out, err) = try TestSupport.run(TestEnv.buildDir + "/darkspere", ["reload", "--config", "\(dir)/plugins-0.yaml"])
        #expect(status == 0, "\(out)\(err)")
        #expect(out.contains("sent SIGHUP to pid") && out.contains("reloaded"), "\(out)\(err)")
        r = await Self.post(port: ports[0], path: "/second/sms", from: user, id: "r2", text: "via second", client: client)
        #expect(r == (200, "alpha: via second (history: 0)"), "\(r)")
        // Process 1 still runs its own file.
        #expect(await Self.post(port: ports[1], path: "/second/sms", from: user, id: "r3", text: "x", client: client).0 == 404)

        // Process 1 reloads through its admin API.
        try yaml(1, extra: Self.channel("third", "/third/sms", dir: dir)).write(toFile: "\(dir)/plugins-1.yaml", atomically: true, encoding: .utf8)
        (status, out, err) = try TestSupport.run(TestEnv.buildDir + "/darkspere", ["reload", "--config", "\(dir)/plugins-1.yaml"])
        #expect(status == 0 && out.contains("reloaded (plugins added: third)"), "\(out)\(err)")
        r = await Self.post(port: ports[1], path: "/third/sms", from: user, id: "r4", text: "via third", client: client)
        #expect(r == (200, "alpha: via third (history: 0)"), "\(r)")
        #expect(await Self.post(port: ports[0], path: "/third/sms", from: user, id: "r5", text: "x", client: client).0 == 404)
        // One conversation across both processes and the new channels' own ones, in one store.
        r = await Self.post(port: ports[1], path: "/test/sms", from: user, id: "r6", text: "again", client: client)
        #expect(r.1 == "alpha: again (history: 2)", "\(r)")

        // A broken file is refused by either route; both processes keep serving.
        try (yaml(0) + "\nnot_a_key: 1\n").write(toFile: "\(dir)/plugins-0.yaml", atomically: true, encoding: .utf8)
        (status, out, err) = try TestSupport.run(TestEnv.buildDir + "/darkspere", ["reload", "--config", "\(dir)/plugins-0.yaml", "--pid", "\(procs[0].pid)"])
        #expect(status == 1 && err.contains("refused"), "\(out)\(err)")
        let log0 = (try? String(contentsOfFile: "\(dir)/gateway-0.log", encoding: .utf8)) ?? ""
        #expect(log0.contains("not_a_key"), "the log lists the problem")
        try (yaml(1) + "\nnot_a_key: 1\n").write(toFile: "\(dir)/plugins-1.yaml", atomically: true, encoding: .utf8)
        (status, out, err) = try TestSupport.run(TestEnv.buildDir + "/darkspere", ["reload", "--config", "\(dir)/plugins-1.yaml",
                                                                                   "--admin-url", "http://127.0.0.1:\(adminPort)"])
        #expect(status == 1 && out.contains("plugins-1.yaml: 1 problem:") && out.contains("not_a_key"), "\(out)\(err)")
        #expect(await Self.post(port: ports[0], path: "/second/sms", from: user, id: "r7", text: "still", client: client).0 == 200)
        #expect(await Self.post(port: ports[1], path: "/third/sms", from: user, id: "r8", text: "still", client: client).0 == 200)
    }

    @Test func aReplacedLibraryIsLoadedAnewOnlyWhenItsFileIdentityChanged() async throws {
        let dir = TestEnv.tempDir("reload-lib")
        let lib = "\(dir)/lib/libtc.so"
        try FileManager.default.createDirectory(atPath: "\(dir)/lib", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestEnv.buildDir + "/libfixture-test-channel.so", toPath: lib)
        let yaml = TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, agents: AdminEnv.echoAgents,
                                  extraPlugins: "  - id: tc\n    library: \(lib)\n    config: { route: /tc/sms }\n")
        let g = try await TestGateway(yaml: yaml, dir: dir)
        let client = HTTPClient()
        defer { client.shutdown() }
        let first = try #require(g.gateway.plugins.channel("tc"))
        // Same file (even rewritten metadata): nothing to do.
        _ = utime(lib, nil)
        var r = await g.gateway.reload()
        #expect(r.ok && r.diff?.isEmpty == true, "\(r.text)")
        #expect(g.gateway.plugins.channel("tc") === first)
        // Replaced by rename: a new file identity, loaded anew; the old library stays mapped.
        try FileManager.default.copyItem(atPath: TestEnv.buildDir + "/libfixture-test-channel.so", toPath: "\(dir)/lib/.tc.tmp")
        #expect(rename("\(dir)/lib/.tc.tmp", lib) == 0)
        r = await g.gateway.reload()
        #expect(r.ok && r.diff?.pluginsChanged == ["tc"], "\(r.text)")
        let second = try #require(g.gateway.plugins.channel("tc"))
        #expect(second !== first && second.library !== first.library && second.library.path == first.library.path)
        let resp = await Self.post(port: g.port, path: "/tc/sms", from: "+15559300001", id: "t1", text: "new lib", client: client)
        #expect(resp == (200, "alpha: new lib (history: 0)"), "\(resp)")
        #expect(await TestPeers.eventually { first.handle.isDestroyed }, "the old instance is destroyed once idle")
        await g.stop()
    }
}
