import Foundation
import PluginAPI
import Testing
@testable import Host

/// Examples/plugin-template builds as a package of its own and its library loads into
/// the host next to the host's PluginKit, without rebuilding the host, and passes
/// `darkspere plugin-check`.
@Suite struct ThirdPartyTemplateTests {
    @Test func templateBuildsOnItsOwnAndLoads() async throws {
        let pkg = TestSupport.root + "/Examples/plugin-template"
        let (rc, _, err) = try TestSupport.run("/usr/bin/env", ["swift", "build", "--package-path", pkg])
        try #require(rc == 0, "swift build of the template failed: \(err)")
        // Install it the way the template's README says: next to the host's libPluginKit.so.
        let dir = TestSupport.tempDir()
        try FileManager.default.copyItem(atPath: pkg + "/.build/debug/libds-my-adapter.so", toPath: dir + "/libds-my-adapter.so")
        try FileManager.default.createSymbolicLink(atPath: dir + "/libPluginKit.so", withDestinationPath: TestSupport.library("PluginKit"))
        let yaml = TestSupport.yaml(plugins: "  - id: mine\n    library: my-adapter\n    config: { greeting: hey }\n",
                                    agents: "  - name: a\n    transport: mine\n")
            .replacingOccurrences(of: "plugin_path: [\"\(TestSupport.buildDir)\"]", with: "plugin_path: [\"\(dir)\"]")
        let set = try PluginSet.start(try TestSupport.config(yaml), runtime: HostRuntime(logLevel: .error))
        defer { set.shutdown() }
        let a = try #require(set.agents.first)
        var c = AgentCall()
        c.text = "ping"
        let r = await a.transport.call(a, c)
        #expect(r.status == DS_OK && r.text == "hey: you said ping")
        #expect(a.transport.library.id == "my-adapter")

        // And it passes plugin-check, like every bundled plugin (PluginCheckTests).
        try #"{"greeting":"hey"}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let (crc, out, cerr) = try TestSupport.run(TestSupport.darkspere, ["plugin-check", dir + "/libds-my-adapter.so", "--config", dir + "/config.json"],
                                                   cwd: dir)
        #expect(crc == 0, "\(out)\(cerr)")
        #expect(out.contains("PASSED") && !out.contains("SKIP  create"), "\(out)")
    }
}
