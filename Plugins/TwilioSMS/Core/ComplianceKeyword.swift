/// The carrier compliance keywords of US/CA messaging (CTIA) as Twilio handles them.
///
/// A message is a keyword only if, after trimming whitespace and punctuation from both
/// ends and ignoring case, it is exactly one of the words: "stop" is, "Stop!" and
/// " STOP " are, "please stop texting me" is not. Pure functions: thread-safe.
public enum ComplianceKeyword: String, Sendable, Equatable, CaseIterable {
    /// Opt out: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT.
    case optOut
    /// Opt back in: START, YES, UNSTOP.
    case optIn
    /// HELP, INFO.
    case help

    public static let optOutWords: Set<String> = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
    public static let optInWords: Set<String> = ["START", "YES", "UNSTOP"]
    public static let helpWords: Set<String> = ["HELP", "INFO"]

    /// The keyword `text` is, or nil if it is an ordinary message.
    public static func classify(_ text: String) -> ComplianceKeyword? {
        // Cheap exit: no keyword is longer than 11 letters; 32 bytes leaves room for padding.
        guard text.utf8.count <= 32 else { return nil }
        let core = text.unicodeScalars.drop { !isLetter($0) }.reversed().drop { !isLetter($0) }.reversed()
        let word = String(String.UnicodeScalarView(core)).uppercased()
        if optOutWords.contains(word) { return .optOut }
        if optInWords.contains(word) { return .optIn }
        if helpWords.contains(word) { return .help }
        return nil
    }

    private static func isLetter(_ u: Unicode.Scalar) -> Bool { u.properties.isAlphabetic || ("0"..."9").contains(u) }
}
