/// Splits long text into SMS-sized messages at word boundaries.
///
/// Twilio accepts at most 1600 characters in one message body; a longer reply is sent
/// as several messages. Pure functions: thread-safe.
public enum MessageSplitter {
    /// Twilio's limit for one message body, in characters.
    public static let maxCharacters = 1600

    /// Splits `text` into parts of at most `maxCharacters` characters (grapheme
    /// clusters), breaking after the last whitespace that fits; a single word longer than
    /// the limit is cut. Whitespace at a break is dropped. Text that fits is returned whole.
    public static func split(_ text: String, maxCharacters: Int = maxCharacters) -> [String] {
        precondition(maxCharacters > 0)
        var parts: [String] = []
        var rest = Substring(text)
        while rest.count > maxCharacters {
            let limit = rest.index(rest.startIndex, offsetBy: maxCharacters)
            // The break: the last whitespace at or before the limit (the char at `limit` may be one).
            var cut = limit
            var breakAt: String.Index?
            while cut > rest.startIndex {
                if rest[cut].isWhitespace { breakAt = cut; break }
                cut = rest.index(before: cut)
            }
            let head: Substring
            if let b = breakAt, b > rest.startIndex {
                head = rest[..<b]
                rest = rest[b...]
            } else {
                head = rest[..<limit]
                rest = rest[limit...]
            }
            let trimmed = head.trimmingTrailingWhitespace()
            if !trimmed.isEmpty { parts.append(String(trimmed)) }
            rest = rest.drop { $0.isWhitespace }
        }
        if !rest.isEmpty || parts.isEmpty { parts.append(String(rest)) }
        return parts
    }
}

extension Substring {
    func trimmingTrailingWhitespace() -> Substring {
        var end = endIndex
        while end > startIndex, self[index(before: end)].isWhitespace { end = index(before: end) }
        return self[startIndex..<end]
    }
}
