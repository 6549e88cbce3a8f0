import Foundation
import Testing
@testable import Host

/// The loader refuses broken plugins with one clear message naming the file, the plugin
/// and both ABI versions, and the gateway does not start.
@Suite struct PluginLoaderTests {
    func startupError(_ plugins: String, agents: String = "") async throws -> String {
        let g = Gateway(config: try TestSupport.config(TestSupport.yaml(plugins: plugins, agents: agents)), logger: TestSupport.logger)
        do {
            try await g.start()
            await g.stop()
            Issue.record("the gateway started")
            return ""
        } catch let e as StartupErrors {
            // Not serving: the port was released.
            return e.description
        }
    }

    @Test func refusesAPluginBuiltForAnotherMajor() async throws {
        let msg = try await startupError("  - id: future\n    library: \(TestSupport.library("fixture-abi2"))\n")
        #expect(msg == "plugin 'future' (\(TestSupport.library("fixture-abi2"))) was built for ABI 2.0, but this host speaks ABI 1.2: the major versions must match")
    }

    @Test func refusesALibraryWithoutTheEntrySymbol() async throws {
        let msg = try await startupError("  - id: nope\n    library: \(TestSupport.library("fixture-no-entry"))\n")
        #expect(msg == "plugin 'nope': \(TestSupport.library("fixture-no-entry")) does not export darkspere_plugin_entry; it is not a DarkSpere plugin (host ABI 1.2, plugin ABI unknown)")
    }

    @Test func reportsAFailedCreate() async throws {
        let msg = try await startupError("  - id: broken\n    library: \(TestSupport.library("fixture-create-fails"))\n")
        #expect(msg == "plugin 'broken' (\(TestSupport.library("fixture-create-fails")), plugin ABI 1.2, host ABI 1.2): create failed: cannot reach the database at db.invalid [status -2]")
    }

    @Test func reportsSchemaViolationsWithPathAndLine() async throws {
        let yaml = TestSupport.yaml(plugins: """
              - id: sw
                library: swift-echo-agent
                config:
                  greeting: ""
                  colour: red
            """)
        let line = yaml.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("colour: red") }! + 1
        let g = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        do {
            try await g.start()
            Issue.record("the gateway started")
        } catch let e as StartupErrors {
            let lib = TestSupport.library("ds-swift-echo-agent")
            #expect(e.problems.count == 2)
            #expect(e.problems.contains("plugin 'sw' (\(lib), plugin ABI 1.2, host ABI 1.2): line \(line): plugins[0].config.colour: unknown field (allowed: greeting)"))
            #expect(e.problems.contains { $0.hasSuffix("plugins[0].config.greeting: must be at least 1 character") })
        }
    }

    @Test func reportsAMissingLibraryByShortName() async throws {
        let msg = try await startupError("  - id: ghost\n    library: no-such-plugin\n")
        #expect(msg.hasPrefix("plugin 'ghost' (line "))
        #expect(msg.contains("no library for short name 'no-such-plugin' (looked for libds-no-such-plugin.so, libno-such-plugin.so, no-such-plugin.so in \(TestSupport.buildDir))"))
    }

    @Test func reportsEveryBrokenPluginAtOnce() async throws {
        let msg = try await startupError("""
              - id: future
                library: \(TestSupport.library("fixture-abi2"))
              - id: broken
                library: \(TestSupport.library("fixture-create-fails"))
            """)
        #expect(msg.split(separator: "\n").count == 2)
    }

    @Test func loadsEachLibraryOnceByRealPath() throws {
        let runtime = HostRuntime(logLevel: .error)
        let loader = PluginLoader(hostTable: runtime.table)
        let dir = TestSupport.tempDir()
        let link = dir + "/libds-linked.so"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: TestSupport.library("ds-c-echo-agent"))
        let a = try loader.load(path: TestSupport.library("ds-c-echo-agent"))
        let b = try loader.load(path: link)
        #expect(a === b)
        #expect(a.id == "c-echo-agent" && a.abiVersion == "1.2" && a.interfaces == ["ds.agent-transport/1"])
    }

    @Test func servesAPluginFrozenAtABI10() async throws {
        let set = try PluginSet.start(try TestSupport.config(TestSupport.yaml(plugins: "  - id: old\n    library: \(TestSupport.library("fixture-abi10"))\n")),
                                      runtime: HostRuntime(logLevel: .error))
        defer { set.shutdown() }
        let sink = try #require(set.sinks.first)
        #expect(sink.library.abiVersion == "1.0")
        #expect(await sink.write(["{\"id\":\"1\"}", "{\"id\":\"2\"}"]).status == 0)
    }
}
