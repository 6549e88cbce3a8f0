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
        switch parseASCII(text) {
        case .keyword(let k): return k
        case .none: return nil
        case .undecided: return parseUnicode(text)
        }
    }

    /// The general rule (Foundation's whitespace and punctuation sets, any script): what
    /// `parseASCII` must agree with.
    static func parseUnicode(_ text: String) -> ComplianceKeyword? {
        let word = text.trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters)).uppercased()
        return keyword(word)
    }

    private static func keyword(_ word: String) -> ComplianceKeyword? {
        if optOutWords.contains(word) { return .optOut(word) }
        if optInWords.contains(word) { return .optIn(word) }
        if helpWords.contains(word) { return .help(word) }
        return nil
    }

    enum ASCIIAnswer: Equatable { case keyword(ComplianceKeyword), none, undecided }

    /// Every message goes through `parse`, and nearly all are printable ASCII: for those,
    /// the same answer from the bytes (Foundation's trimming and upper-casing cost a few
    /// per cent of a turn's CPU). Anything else (non-ASCII, control characters other than
    /// tab, line feed, vertical tab, form feed and carriage return) is `.undecided`.
    static func parseASCII(_ text: String) -> ASCIIAnswer {
        text.utf8.withContiguousStorageIfAvailable { bytes -> ASCIIAnswer in
            var lo = 0, hi = bytes.count
            for b in bytes where b >= 0x80 || (b < 0x20 && !(0x09...0x0D).contains(b)) || b == 0x7F { return .undecided }
            while lo < hi && trimmed(bytes[lo]) { lo += 1 }
            while hi > lo && trimmed(bytes[hi - 1]) { hi -= 1 }
            // The longest keyword is UNSUBSCRIBE; a keyword is letters only.
            guard hi > lo, hi - lo <= 11 else { return .none }
            var word = [UInt8]()
            word.reserveCapacity(hi - lo)
            for b in bytes[lo..<hi] {
                switch b {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): word.append(b)
                case UInt8(ascii: "a")...UInt8(ascii: "z"): word.append(b - 32)
                default: return .none
                }
            }
            return keyword(String(decoding: word, as: UTF8.self)).map { .keyword($0) } ?? .none
        } ?? .undecided   // no contiguous UTF-8 (not a native string): the general rule
    }

    /// ASCII whitespace and the ASCII characters of Unicode's punctuation categories (P*):
    /// what Foundation's `whitespacesAndNewlines ∪ punctuationCharacters` trims among ASCII.
    private static func trimmed(_ b: UInt8) -> Bool {
        switch b {
        case 0x09...0x0D, 0x20: return true
        case UInt8(ascii: "!"), UInt8(ascii: "\""), UInt8(ascii: "#"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: ","), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: ";"), UInt8(ascii: "?"), UInt8(ascii: "@"), UInt8(ascii: "["),
             UInt8(ascii: "\\"), UInt8(ascii: "]"), UInt8(ascii: "_"), UInt8(ascii: "{"), UInt8(ascii: "}"):
            return true
        default: return false
        }
    }
}
