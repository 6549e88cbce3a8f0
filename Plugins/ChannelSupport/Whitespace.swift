/// Trimming of user text without Foundation: the same characters as
/// `CharacterSet.whitespacesAndNewlines` (Unicode White_Space: tab, line feed to carriage
/// return, space, U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F,
/// U+3000, and U+200B ZERO WIDTH SPACE, which Foundation on Linux trims too), with a fast
/// path for text that starts and ends with a visible ASCII character.
/// Pure functions: thread-safe.
public enum Whitespace {
    public static func isWhitespace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace || s.value == 0x200B }

    /// `s` without leading and trailing white space.
    public static func trimmed(_ s: String) -> String {
        if let f = s.utf8.first, let l = s.utf8.last, f > 0x20, f < 0x7F, l > 0x20, l < 0x7F { return s }
        let scalars = s.unicodeScalars
        guard let start = scalars.firstIndex(where: { !isWhitespace($0) }),
              let end = scalars.lastIndex(where: { !isWhitespace($0) }) else { return "" }
        return String(scalars[start...end])
    }
}
