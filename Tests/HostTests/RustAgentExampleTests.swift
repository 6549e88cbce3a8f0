import Foundation
import PluginAPI
import Testing
@testable import Host

/// Examples/rust-agent: a cdylib with its own #[repr(C)] declarations of the header's types
/// and no crates. Built with cargo (when cargo is installed), checked with plugin-check, and
/// loaded into a host that calls it.
@Suite(.serialized) struct RustAgentExampleTests {
    /// The cargo on PATH, if any.
    static let cargo: String? = {
        guard let (rc, out, _) = try? TestSupport.run("/usr/bin/env", ["sh", "-c", "command -v cargo"]), rc == 0 else { return nil }
        let path = out.trimmingCharacters(in: .whitespacesAndNewlines)
        return path.isEmpty ? nil : path
    }()

    /// Builds the example in a scratch copy (its own target dir and lock file) and installs
    /// the library by rename as libds-rust-agent.so; returns the plugin folder.
    static func build() throws -> String {
        let dir = TestSupport.tempDir()
        let src = dir + "/rust-agent"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        for f in ["Cargo.toml", "src"] {
            try FileManager.default.copyItem(atPath: TestSupport.root + "/Examples/rust-agent/" + f, toPath: src + "/" + f)
        }
        let (rc, _, err) = try TestSupport.run(cargo!, ["build", "--release", "--offline", "--manifest-path", src + "/Cargo.toml",
                                                        "--target-dir", dir + "/target"])
        try #require(rc == 0, "cargo build failed: \(err)")
        let plugins = dir + "/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir + "/target/release/libds_rust_agent.so", toPath: plugins + "/.libds-rust-agent.so")
        try FileManager.default.moveItem(atPath: plugins + "/.libds-rust-agent.so", toPath: plugins + "/libds-rust-agent.so")
        return plugins
    }

    @Test(.enabled(if: cargo != nil, "cargo is not installed"))
    func buildsPassesPluginCheckAndAnswers() async throws {
        let plugins = try Self.build()
        let lib = plugins + "/libds-rust-agent.so"

        // plugin-check with its own example (the agent schema's defaults) and with a delay,
        // which exercises DS_PENDING, completion from a thread and cancel.
        let (rc, out, err) = try TestSupport.run(TestSupport.darkspere, ["plugin-check", lib])
        #expect(rc == 0, "\(out)\(err)")
        #expect(out.contains("plugin 'rust-agent'") && out.contains("PASSED"), "\(out)")
        let delayed = plugins + "/delayed.yaml"
        try "delay_ms: 40\nprefix: \"late: \"\n".write(toFile: delayed, atomically: true, encoding: .utf8)
        let (rc2, out2, err2) = try TestSupport.run(TestSupport.darkspere, ["plugin-check", lib, "--agent-config", delayed])
        #expect(rc2 == 0, "\(out2)\(err2)")
        #expect(out2.contains("PASS  cancel ds.agent-transport/1"), "\(out2)")

        // The host loads it by short name from plugin_path and calls it.
        let yaml = TestSupport.yaml(plugins: "  - id: rust\n    library: rust-agent\n",
                                    agents: "  - name: r\n    transport: rust\n    config: { prefix: \"rs> \" }\n  - name: slow\n    transport: rust\n    config: { delay_ms: 30 }\n")
            .replacingOccurrences(of: "plugin_path: [\"\(TestSupport.buildDir)\"]", with: "plugin_path: [\"\(plugins)\"]")
        let set = try PluginSet.start(try TestSupport.config(yaml), runtime: HostRuntime(logLevel: .error))
        defer { set.shutdown() }
        let r = try #require(set.agents.first { $0.name == "r" })
        var c = AgentCall()
        c.text = "ping"
        c.history = [(role: "user", text: "hi", timeMs: 1), (role: "assistant", text: "hello", timeMs: 2)]
        c.media = [(url: "https://example.com/a.jpg", contentType: "image/jpeg")]
        let answer = await r.transport.call(r, c)
        #expect(answer.status == DS_OK && answer.text == "rs> ping (history: 2) [1 attachment(s)]", "\(answer)")
        let slow = try #require(set.agents.first { $0.name == "slow" })
        c.media = []
        let late = await slow.transport.call(slow, c)
        #expect(late.status == DS_OK && late.text == "rust: ping (history: 2)", "\(late)")
        #expect(r.transport.library.id == "rust-agent" && r.transport.library.abiVersion == "1.2")
    }
}
