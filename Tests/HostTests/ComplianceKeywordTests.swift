@testable import Host
import Testing

/// The one implementation of the carrier compliance keywords (the router's): what counts as
/// STOP/START/HELP, and what does not.
@Suite struct ComplianceKeywordTests {
    @Test func keywordsAreWholeMessagesIgnoringCaseBlanksAndPunctuation() {
        for w in ["STOP", "stop", " Stop ", "STOP!", "stop.", "StopAll", "unsubscribe", "CANCEL", "end", "QUIT", "revoke", "optout", "\n\tSTOP?! "] {
            guard case .optOut = ComplianceKeyword.parse(w) else { Issue.record("\(w.debugDescription) is an opt-out"); continue }
        }
        for w in ["START", "yes", "Unstop", "start."] {
            guard case .optIn = ComplianceKeyword.parse(w) else { Issue.record("\(w) is an opt-in"); continue }
        }
        for w in ["HELP", "help?", "Info", " INFO "] {
            guard case .help = ComplianceKeyword.parse(w) else { Issue.record("\(w) is help"); continue }
        }
        for w in ["please stop", "stop it", "STOPS", "opt out", "", "yes please", "helpful", "st op", "STOP STOP"] {
            #expect(ComplianceKeyword.parse(w) == nil, "\(w.debugDescription)")
        }
    }
}

/// The byte-level path every ASCII message takes gives exactly the general rule's answer.
@Suite struct ComplianceKeywordASCIITests {
    @Test func asciiPathAgreesWithTheGeneralRule() {
        // Every printable ASCII character and the whitespace controls, around and inside keywords.
        let alphabet = (0x09...0x0D).map { Character(Unicode.Scalar(UInt8($0))) } + (0x20...0x7E).map { Character(Unicode.Scalar(UInt8($0))) }
        var cases = ["", " ", "STOP", "stop", "UNSUBSCRIBE", "unsubscribe!", "UNSUBSCRIBES", "st0p", "Hello agent, this is message 1. What's up?"]
        for c in alphabet {
            cases += ["\(c)STOP", "STOP\(c)", "\(c)help\(c)", "ST\(c)OP", "\(c)", "\(c)\(c)yes\(c)\(c)"]
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let words = ["STOP", "start", "Help", "info", "quit", "x", ""]
            let pad = { String((0..<Int.random(in: 0...3, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }) }
            cases.append(pad() + words.randomElement(using: &rng)! + pad())
        }
        for text in cases {
            let general = ComplianceKeyword.parseUnicode(text)
            switch ComplianceKeyword.parseASCII(text) {
            case .keyword(let k): #expect(k == general, "\(text.debugDescription)")
            case .none: #expect(general == nil, "\(text.debugDescription)")
            case .undecided: Issue.record("\(text.debugDescription) is ASCII: decided by bytes")
            }
        }
    }

    @Test func otherTextTakesTheGeneralRule() {
        for text in ["STOP\u{00A0}", "ＳＴＯＰ", "stop\u{2026}", "\u{0}STOP", "STOP\u{7F}", "arrêt"] {
            #expect(ComplianceKeyword.parseASCII(text) == .undecided, "\(text.debugDescription)")
        }
        #expect(ComplianceKeyword.parse("STOP\u{00A0}") == .optOut("STOP"))
        #expect(ComplianceKeyword.parse("\u{201C}stop\u{201D}") == .optOut("STOP"))
    }
}
