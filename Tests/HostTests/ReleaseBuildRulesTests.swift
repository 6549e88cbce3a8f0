import Foundation
import Testing

/// Rules that keep `swift build -c release` (scripts/run.sh, scripts/install.sh, bench/)
/// building, checked on the sources because the suite itself builds only the debug
/// configuration.
@Suite("Release build rules")
struct ReleaseBuildRulesTests {
    /// `@testable import` compiles only against a module built for testing (a debug build):
    /// in a product target (Sources/, Plugins/, PluginKit/, fuzz/, bench/, Examples/) it must
    /// sit inside `#if DEBUG`, or the release build of every product fails. (fuzz/http's did,
    /// and broke the README's run command.)
    @Test("no product target uses @testable import outside #if DEBUG")
    func testableImportsAreDebugOnly() throws {
        var offenders: [String] = []
        for top in ["Sources", "Plugins", "PluginKit", "fuzz", "bench", "Examples"] {
            let root = TestSupport.root + "/" + top
            guard let walker = FileManager.default.enumerator(atPath: root) else { continue }
            for case let rel as String in walker where rel.hasSuffix(".swift") && !rel.contains(".build/") {
                let text = try String(contentsOfFile: root + "/" + rel, encoding: .utf8)
                var depth = 0, debugDepth: Int? = nil
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                    let t = line.trimmingCharacters(in: .whitespaces)
                    if t.hasPrefix("#if") {
                        depth += 1
                        if t == "#if DEBUG" && debugDepth == nil { debugDepth = depth }
                    } else if t.hasPrefix("#else") || t.hasPrefix("#elseif") {
                        if debugDepth == depth { debugDepth = nil }
                    } else if t.hasPrefix("#endif") {
                        if debugDepth == depth { debugDepth = nil }
                        depth -= 1
                    } else if t.hasPrefix("@testable import") && debugDepth == nil {
                        offenders.append("\(top)/\(rel)")
                    }
                }
            }
        }
        #expect(offenders.isEmpty, "@testable import outside #if DEBUG (breaks swift build -c release): \(offenders)")
    }
}
