import Foundation
import PluginAPI
import Testing
import TestPeers
@testable import Host

/// ABI 1.2 by its own rules: a plugin frozen at 1.1 loads unchanged (and the host reads
/// nothing past its struct sizes), a 1.2 plugin gets the 1.2 services (instance facts,
/// route patterns and late routes, media, cancellable HTTP, config defaults), and a C host
/// frozen at 1.1 loads a 1.2 plugin.
@Suite(.serialized) struct ABI12Tests {
    static let abi11 = TestSupport.library("fixture-abi11")
    static let abi12 = TestSupport.library("fixture-abi12")

    static func yaml(_ agentConfig: String = "{}", channelConfig: String = "{ url: \"https://ok.example\" }") -> String {
        TestSupport.yaml(plugins: """
              - id: old
                library: \(abi11)
              - id: a12
                library: \(abi12)
                config: \(channelConfig)
            """, agents: """
              - name: old-bot
                transport: old
              - name: new-bot
                transport: a12
                config: \(agentConfig)
            """)
    }

    @Test func aPluginFrozenAt11LoadsUnchangedAndNothingPastItsSizesIsRead() async throws {
        let runtime = HostRuntime(logLevel: .error)
        let g = Gateway(config: try TestSupport.config(Self.yaml()), logger: TestSupport.logger, runtime: runtime)
        let port = try await g.start()
        let lib = try #require(g.plugins.transports["old"]?.library)
        #expect(lib.abiVersion == "1.1")
        #expect(lib.agentConfigSchema == nil)   // the descriptor's 1.2 member holds poison
        let a = try #require(g.plugins.agents.first { $0.name == "old-bot" })
        var c = AgentCall()
        c.text = "hi"
        c.media = [(url: "https://m.example/1.jpg", contentType: "image/jpeg")]
        #expect(await a.transport.call(a, c).text == "abi11: hi")
        let r = try await TestSupport.post(port, "/abi11/sms", "")
        #expect(r.status == 200 && r.text == "abi11 ok")
        await g.stop()
        // `check` calls validate_config only where a table is large enough to have it: the
        // 1.1 tables' poison member (abort()) is never called.
        let file = TestSupport.tempDir() + "/plugins.yaml"
        try TestSupport.yaml(plugins: "  - id: old\n    library: \(Self.abi11)\n", agents: "  - name: b\n    transport: old\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let report = ConfigCheck.run(path: file, environment: [:])
        #expect(report.ok, "\(report.text)")
    }

    @Test func instanceFactsRoutePatternsAndRoutesAddedAfterCreate() async throws {
        let runtime = HostRuntime(logLevel: .error)
        let g = Gateway(config: try TestSupport.config(Self.yaml()), logger: TestSupport.logger, runtime: runtime)
        let port = try await g.start()
        let r = try await TestSupport.post(port, "/abi12/acme/sms", "")
        // instance id and server.public_url from instance_info; mode from the schema's default.
        #expect(r.status == 200 && r.text == "tenant=acme id=a12 url=http://gateway.test mode=a", "\(r.text)")
        #expect(try await TestSupport.post(port, "/abi12/a%20b/sms", "").text.hasPrefix("tenant=a b "))
        let wrongMethod = try await TestSupport.get(port, "/abi12/acme/sms")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.headers.first { $0.0.lowercased() == "allow" }?.1 == "POST", "\(wrongMethod.headers)")
        #expect(try await TestSupport.post(port, "/abi12//sms", "").status == 404)
        #expect(try await TestSupport.post(port, "/abi12/late", "").status == 404)
        // send() registers POST /abi12/late: a route added long after create().
        let ch = try #require(g.plugins.channel("a12"))
        #expect(await ch.send(messageId: "m1", correlationId: "a12:1", to: "+15551230000", from: "", text: "x").status == DS_OK)
        let late = try await TestSupport.post(port, "/abi12/late", "")
        #expect(late.status == 200 && late.text == "late")
        await g.stop()
    }

    @Test func mediaReachesTheAgentAndAgentSchemaDefaultsApply() async throws {
        let set = try PluginSet.start(try TestSupport.config(Self.yaml()), runtime: HostRuntime(logLevel: .error))
        defer { set.shutdown() }
        let a = try #require(set.agents.first { $0.name == "new-bot" })
        var c = AgentCall()
        c.text = "x"
        c.media = [(url: "https://m.example/1.jpg", contentType: "image/jpeg"), (url: "https://m.example/2.png", contentType: "")]
        #expect(await a.transport.call(a, c).text == "hello media=2 first=https://m.example/1.jpg")
        c.media = []
        #expect(await a.transport.call(a, c).text == "hello media=0 first=-")
    }

    @Test func anAgentConfigViolatingTheTransportsSchemaStopsStartup() throws {
        do {
            _ = try PluginSet.start(try TestSupport.config(Self.yaml("{ greeting: \"far too long a greeting for it\", colour: red }")),
                                    runtime: HostRuntime(logLevel: .error))
            Issue.record("started")
        } catch let e as StartupErrors {
            #expect(e.problems.contains { $0.hasSuffix("agents[1].config.greeting: must be at most 20 characters") }, "\(e.problems)")
            #expect(e.problems.contains { $0.contains("agents[1].config.colour: unknown field") }, "\(e.problems)")
        }
    }

    @Test func aHostHTTPRequestCanBeCancelled() async throws {
        // A server that accepts connections (backlog) and never answers.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        try #require(withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } } == 0)
        try #require(listen(fd, 16) == 0)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let set = try PluginSet.start(try TestSupport.config(Self.yaml("{ hang_url: \"http://127.0.0.1:\(port)/hang\" }")),
                                      runtime: HostRuntime(logLevel: .error))
        defer { set.shutdown() }
        let a = try #require(set.agents.first { $0.name == "new-bot" })
        let started = Date()
        let r = await a.transport.probe(a, timeoutMs: 15_000)
        #expect(r.status == DS_ERR_CANCELLED, "\(r)")
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func aCHostFrozenAt11LoadsA12Plugin() throws {
        let dir = TestSupport.tempDir()
        let src = TestSupport.root + "/Tests/Fixtures/abi11-host/abi11_host.c"
        let exe = dir + "/abi11_host"
        // Under a sanitizer the plugin is instrumented: the host needs the same runtime.
        let cc = TestPeers.cCompiler
        let (rc, _, err) = try TestSupport.run(cc[0], Array(cc.dropFirst()) + ["-std=c99", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror",
                                                              "-I", TestSupport.root + "/Sources/PluginAPI/include", src, "-o", exe, "-ldl"])
        try #require(rc == 0, "\(cc.joined(separator: " ")): \(err)")
        let (code, out, log) = try TestSupport.run(exe, [Self.abi12])
        #expect(code == 0, "\(out)\n\(log)")
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines == [
            "plugin_abi=1.2",
            "route=/abi12/sms",                               // no pattern routes on 1.1: the exact fallback
            "channel_create=0",
            "respond=200 tenant=- id=? url=? mode=unset",     // no instance_info, no params on 1.1
            "transport_create=0",
            "open=0",
            "complete=0 hi media=0 first=-",                  // the 1.2 media fields are not read
            "call=1",
            "complete=0 ",
            "probe=1",
        ], "\(out)\n\(log)")
    }

    @Test func aNullEntryRefusalNamesBothVersions() throws {
        let loader = PluginLoader(hostTable: HostRuntime(logLevel: .error).table)
        let lib = TestSupport.library("fixture-null-entry")
        #expect(throws: PluginLoadError.self) { try loader.load(path: lib, expectedBy: "next") }
        do { _ = try loader.load(path: lib, expectedBy: "next") } catch let e as PluginLoadError {
            #expect(e.message == "plugin 'next' (\(lib)) was built for ABI 3.0, but this host speaks ABI 1.2: its entry returned NULL (the major versions must match)")
        }
    }

    @Test func routePatternsParseMatchAndRefuseOverlaps() throws {
        let p = try RoutePattern("/hooks/{tenant}/sms")
        #expect(!p.isExact)
        #expect(p.match("/hooks/acme/sms").map { $0.map { "\($0.0)=\($0.1)" } } == ["tenant=acme"])
        #expect(p.match("/hooks/acme") == nil && p.match("/hooks//sms") == nil && p.match("/hooks/a/b/sms") == nil)
        #expect(try RoutePattern("/twilio/sms").isExact)
        #expect(p.overlaps(try RoutePattern("/hooks/{other}/sms")))
        #expect(p.overlaps(try RoutePattern("/hooks/x/{leaf}")))
        #expect(!p.overlaps(try RoutePattern("/hooks/{t}/mms")))
        for bad in ["hooks", "/a/{Bad}", "/a/{x}/{x}", "/a/pre{x}", "/a/{}"] {
            #expect(throws: RoutePatternError.self, "\(bad)") { try RoutePattern(bad) }
        }
    }
}
