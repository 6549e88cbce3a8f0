import Foundation
import Testing
@testable import Host

/// What a reload would change between two configs (no gateway).
@Suite struct ConfigDiffTests {
    static let base = """
    server:
      listen: 127.0.0.1:8080
    store:
      url: "sqlite::memory:"
    plugins:
      - id: a
        library: ./a.so
        config: { x: 1 }
      - id: b
        library: ./b.so
    agents:
      - name: one
        transport: a
        config: { url: "http://x" }
    accounts:
      - id: acme
        name: Acme
        tier: free
    """

    func diff(_ new: String, replaced: Set<String> = []) throws -> ConfigDiff {
        ConfigDiff(old: try ConfigLoader().load(yaml: Self.base), new: try ConfigLoader().load(yaml: new)) { replaced.contains($0.id) }
    }

    @Test func theSameFileChangesNothingEvenWithLinesMoved() throws {
        let d = try diff("# a comment\n\n" + Self.base)
        #expect(d.isEmpty && d.restartKeys.isEmpty, "\(d)")
        #expect(d.summary == "no change")
    }

    @Test func pluginsAndAgentsAreComparedByIdAndName() throws {
        let fixed = Self.base
            .replacingOccurrences(of: "config: { x: 1 }", with: "config: { x: 2 }")
            .replacingOccurrences(of: "  - id: b\n    library: ./b.so\n", with: "  - id: c\n    library: ./c.so\n")
            .replacingOccurrences(of: "transport: a\n", with: "transport: a\n    max_sessions: 3\n")
            .replacingOccurrences(of: "agents:\n", with: "agents:\n  - name: two\n    transport: a\n")
        let d = try diff(fixed)
        #expect(d.pluginsChanged == ["a"] && d.pluginsAdded == ["c"] && d.pluginsRemoved == ["b"], "\(d)")
        #expect(d.agentsAdded == ["two"] && d.agentsChanged == ["one"] && d.agentsRemoved.isEmpty, "\(d)")
        #expect(d.restartKeys.isEmpty)
        // Same config, but b's file was replaced on disk (new identity).
        let r = try diff(Self.base, replaced: ["b"])
        #expect(r.pluginsChanged == ["b"])
        // Disabling is removing.
        let off = try diff(Self.base.replacingOccurrences(of: "library: ./b.so", with: "library: ./b.so\n    enabled: false"))
        #expect(off.pluginsRemoved == ["b"])
    }

    @Test func restartKeysAreNamedAndReloadableRoutingIsNot() throws {
        let d = try diff(Self.base.replacingOccurrences(of: "listen: 127.0.0.1:8080", with: "listen: 127.0.0.1:9090")
            .replacingOccurrences(of: "url: \"sqlite::memory:\"", with: "url: \"sqlite:other.db\"")
            + "\nrouting:\n  session_timeout: 10m\n  max_concurrent: 8\n")
        #expect(d.restartKeys.sorted() == ["routing.max_concurrent", "server.listen", "store.url"], "\(d.restartKeys)")
        #expect(d.routing == ["routing.session_timeout"])
    }

    @Test func accountsTiersAndRoutes() throws {
        let d = try diff(Self.base.replacingOccurrences(of: "tier: free", with: "tier: pro")
            + "\nroutes:\n  - keyword: SALES\n    agent: one\ntiers:\n  free:\n    per_minute: 3\n")
        #expect(d.accounts && d.routes && d.tiers, "\(d)")
    }
}
