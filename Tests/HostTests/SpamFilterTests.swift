import Foundation
import Testing
@testable import Host

/// The spam scorer on the labelled messages of Tests/Fixtures/spam/labelled.tsv (ham and
/// spam, written for this project), the access rules' matching, and the `abuse:` config.
@Suite struct SpamFilterTests {
    static let fixture = TestEnv.repoRoot + "/Tests/Fixtures/spam/labelled.tsv"

    /// Precision and recall at the default threshold (0.7), each message scored alone (no
    /// burst or repeat context). The README reports the figures this prints.
    @Test func labelledSetPrecisionAndRecall() throws {
        let text = try String(contentsOfFile: Self.fixture, encoding: .utf8)
        let scorer = SpamScorer()
        var tp = 0, fp = 0, fn = 0, tn = 0, maxHam = 0.0
        var misses: [String] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
            let parts = line.split(separator: "\t", maxSplits: 1)
            try #require(parts.count == 2 && ["ham", "spam"].contains(parts[0]), "bad line: \(line)")
            let isSpam = parts[0] == "spam"
            let v = scorer.score(String(parts[1]))
            #expect((0...1).contains(v.score))
            let flagged = v.score >= AbuseConfig().spamThreshold
            if !isSpam { maxHam = max(maxHam, v.score) }
            switch (isSpam, flagged) {
            case (true, true): tp += 1
            case (false, true): fp += 1; misses.append("false positive \(v.score): \(parts[1])")
            case (true, false): fn += 1; misses.append("missed \(v.score): \(parts[1])")
            case (false, false): tn += 1
            }
        }
        let precision = Double(tp) / Double(max(1, tp + fp)), recall = Double(tp) / Double(max(1, tp + fn))
        print("spam filter on \(tp + fp + fn + tn) labelled messages (\(tp + fn) spam): precision \(precision), recall \(recall), tp \(tp) fp \(fp) fn \(fn) tn \(tn), highest ham score \(maxHam)")
        #expect(tp + fn >= 100 && fp + tn >= 150, "the labelled set shrank")
        #expect(precision >= 0.97, "\(misses)")
        #expect(recall >= 0.85, "\(misses)")
    }

    @Test func signalsAreExplainable() {
        let s = SpamScorer()
        #expect(s.score("hello, what's the weather tomorrow?").signals.isEmpty)
        let links = s.score("see https://a.example.com/x and https://b.example.com/y")
        #expect(links.signals.first?.name == "links" && links.score < 0.7)
        #expect(s.score("please tell me the opening hours of the library", repeats: 5).signals.map(\.name) == ["repeated"])
        #expect(s.score("ok", repeats: 9).signals.isEmpty)   // short replies repeat naturally
        #expect(s.score("hi", burst: 12).signals.map(\.name) == ["burst"])
        let blocked = s.score("call 555-000-9999 now", blocked: { $0 == "+5550009999" ? "number +5550009999" : nil })
        #expect(blocked.signals.contains { $0.name == "blocked_number" } && blocked.score >= 0.7)
        // Phrases match whole words, from the configured list.
        #expect(SpamScorer(phrases: ["irs"]).score("first").signals.isEmpty)
        #expect(SpamScorer(phrases: ["free pizza"]).score("FREE   pizza!!").signals.map(\.name) == ["phrases"])
        #expect(SpamScorer.textHash("Hello  World") == SpamScorer.textHash("hello world"))
    }

    @Test func accessRulesMatchTheMostSpecific() throws {
        let l = AccessList(version: 1, rules: [
            AccessRule(id: 1, list: .block, kind: .country, value: "44"),
            AccessRule(id: 2, list: .block, kind: .prefix, value: "+447700"),
            AccessRule(id: 3, list: .block, kind: .number, value: "+447700900123"),
            AccessRule(id: 4, list: .allow, kind: .prefix, value: "+4420"),
        ])
        #expect(l.match("+447700900123", .block)?.id == 3)
        #expect(l.match("+447700900999", .block)?.id == 2)
        #expect(l.match("+441632960000", .block)?.id == 1)
        #expect(l.match("+15551234567", .block) == nil)
        #expect(l.match("+442079460000", .allow)?.id == 4)
        #expect(try AccessList.normalize(kind: .country, value: "+44") == "44")
        #expect(throws: AccessRuleError.self) { try AccessList.normalize(kind: .prefix, value: "+44a") }
        #expect(throws: AccessRuleError.self) { try AccessList.normalize(kind: .number, value: "+12") }
        #expect(throws: AccessRuleError.self) { try AccessList.normalize(kind: .country, value: "1234") }
    }

    @Test func configSectionIsStrict() throws {
        let base = "plugins: []\n"
        #expect(try ConfigLoader().load(yaml: base).abuse == nil)
        let a = try #require(try ConfigLoader().load(yaml: base + "abuse:\n").abuse)
        #expect(a.perSender == 10 && a.global == 1000 && a.spamThreshold == 0.7 && a.window == 60 && !a.knownUsers)
        let c = try #require(try ConfigLoader().load(yaml: base + "abuse:\n  per_sender: 5\n  window: 2m\n  spam_phrases: [free pizza]\n  known_users: true\n").abuse)
        #expect(c.perSender == 5 && c.window == 120 && c.spamPhrases == ["free pizza"] && c.knownUsers)
        func problems(_ yaml: String) -> String {
            do { _ = try ConfigLoader().load(yaml: base + yaml); return "" } catch { return "\(error)" }
        }
        #expect(problems("abuse:\n  spam_threshold: 1.5\n").contains("abuse.spam_threshold"))
        #expect(problems("abuse:\n  per_sendr: 3\n").contains("did you mean 'per_sender'"))
        #expect(problems("abuse:\n  per_sender: -1\n").contains("abuse.per_sender"))
        #expect(problems("abuse:\n  window: 0s\n").contains("abuse.window"))
    }
}
