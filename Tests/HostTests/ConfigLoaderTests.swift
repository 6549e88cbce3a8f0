import Testing
@testable import Host

/// The HostTests target's folder was missing from the branch (Package.swift names it),
/// which stopped `swift build`. A real, small test of the loader keeps it meaningful.
@Suite struct ConfigLoaderTests {
    @Test func readsAgentsAndDefaults() throws {
        let c = try ConfigLoader().load(yaml: """
        plugins:
          - id: t
            library: c-echo-agent
        agents:
          - name: a
            transport: t
            config: {prefix: x}
        """)
        #expect(c.agents.count == 1)
        #expect(c.agents[0].transport == "t")
        #expect(c.agents[0].configJSON.contains("prefix"))
    }

    @Test func rejectsUnknownTransport() {
        #expect(throws: (any Error).self) {
            try ConfigLoader().load(yaml: "plugins: []\nagents:\n  - name: a\n    transport: nope\n")
        }
    }
}
