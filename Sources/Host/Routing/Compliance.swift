import Foundation

/// Carrier compliance keywords (CTIA / TCPA practice): a message whose whole text is one
/// of them is handled by the router itself, never by an agent.
public enum ComplianceKeyword: Sendable, Equatable {
    case optOut(String)
    case optIn(String)
    case help(String)

    static let optOutWords: Set<String> = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
    static let optInWords: Set<String> = ["START", "YES", "UNSTOP"]
    static let helpWords: Set<String> = ["HELP", "INFO"]

    /// The keyword the text is, ignoring case, surrounding blanks and trailing punctuation.
    public static func parse(_ text: String) -> ComplianceKeyword? {
        let word = text.trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters)).uppercased()
        if optOutWords.contains(word) { return .optOut(word) }
        if optInWords.contains(word) { return .optIn(word) }
        if helpWords.contains(word) { return .help(word) }
        return nil
    }
}
