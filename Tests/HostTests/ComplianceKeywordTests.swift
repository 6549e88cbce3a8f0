import Host
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
