/// TwiML documents the webhook answers with: `<Response>` with one `<Message>` per
/// part of the reply, or empty.
///
/// Agent text is untrusted: every `&`, `<`, `>`, `"` and `'` is escaped, `\r` is kept
/// as a character reference (XML parsers would otherwise turn it into `\n`), and
/// characters XML 1.0 forbids (C0 controls other than tab/LF/CR, U+FFFE, U+FFFF) are
/// replaced by U+FFFD, so no text can break the document or inject elements.
///
/// Pure functions: thread-safe.
public enum TwiML {
    /// The content type of every TwiML answer.
    public static let contentType = "text/xml; charset=utf-8"

    /// An empty answer: Twilio sends nothing.
    public static let empty = #"<?xml version="1.0" encoding="UTF-8"?><Response/>"#

    /// A `<Response>` with one `<Message>` per element of `messages` (none → empty).
    /// `media` (MMS attachment URLs, at most 10) go with the last message as `<Media>`
    /// elements next to its `<Body>` (a message of its own when there is no text).
    public static func response(messages: [String], media: [String] = []) -> String {
        guard !messages.isEmpty || !media.isEmpty else { return empty }
        var out = #"<?xml version="1.0" encoding="UTF-8"?><Response>"#
        let texts = messages.isEmpty ? [""] : messages
        for (i, m) in texts.enumerated() {
            if i == texts.count - 1, !media.isEmpty {
                out += "<Message>" + (m.isEmpty ? "" : "<Body>" + escape(m) + "</Body>")
                for url in media.prefix(maxMedia) { out += "<Media>" + escape(url) + "</Media>" }
                out += "</Message>"
            } else {
                out += "<Message>" + escape(m) + "</Message>"
            }
        }
        return out + "</Response>"
    }

    /// Twilio takes at most this many media per MMS.
    public static let maxMedia = 10

    /// The `<Media>` URLs of a TwiML document (in order). For the CLI and tests.
    public static func mediaURLs(in document: String) -> [String] {
        var out: [String] = []
        var rest = Substring(document)
        while let open = rest.range(of: "<Media>"), let close = rest[open.upperBound...].range(of: "</Media>") {
            out.append(unescape(rest[open.upperBound..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return out
    }

    /// A reply text split into ≤1600-character messages (see `MessageSplitter`).
    public static func reply(_ text: String, maxCharacters: Int = MessageSplitter.maxCharacters) -> String {
        response(messages: text.isEmpty ? [] : MessageSplitter.split(text, maxCharacters: maxCharacters))
    }

    /// Escapes text for XML element content and attribute values.
    public static func escape(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 16)
        var utf8 = s.utf8.makeIterator()
        while let b = utf8.next() {
            switch b {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "'"): out.append(contentsOf: "&apos;".utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: "&#13;".utf8)
            case UInt8(ascii: "\t"), UInt8(ascii: "\n"): out.append(b)
            case 0..<0x20: out.append(contentsOf: "\u{FFFD}".utf8)
            case 0xEF:
                // U+FFFE and U+FFFF are EF BF BE / EF BF BF: not allowed in XML 1.0.
                let b2 = utf8.next(), b3 = utf8.next()
                if b2 == 0xBF, let b3, b3 == 0xBE || b3 == 0xBF {
                    out.append(contentsOf: "\u{FFFD}".utf8)
                } else {
                    out.append(b)
                    if let b2 { out.append(b2) }
                    if let b3 { out.append(b3) }
                }
            default: out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Undoes `escape` and decodes numeric character references.
    public static func unescape(_ s: Substring) -> String {
        guard s.utf8.contains(UInt8(ascii: "&")) else { return String(s) }
        // On Unicode scalars, not Characters: a combining mark after an entity's ";" forms
        // one Character with it and hid the entity ("&amp;\u{07A6}" stayed as it was; found
        // by fuzzing: fuzz/form/corpus/regression-entity-combining-mark).
        let u = s.unicodeScalars
        var out = String.UnicodeScalarView()
        var i = u.startIndex
        while i < u.endIndex {
            if u[i] == "&", let semi = u[i...].firstIndex(of: ";"), u.distance(from: i, to: semi) <= 10 {
                let entity = String(Substring(u[u.index(after: i)..<semi]))
                var decoded: Unicode.Scalar?
                switch entity {
                case "amp": decoded = "&"
                case "lt": decoded = "<"
                case "gt": decoded = ">"
                case "quot": decoded = "\""
                case "apos": decoded = "'"
                default:
                    if entity.hasPrefix("#x"), let v = UInt32(entity.dropFirst(2), radix: 16) { decoded = Unicode.Scalar(v) }
                    else if entity.hasPrefix("#"), let v = UInt32(entity.dropFirst()) { decoded = Unicode.Scalar(v) }
                }
                if let d = decoded { out.append(d); i = u.index(after: semi); continue }
            }
            out.append(u[i]); i = u.index(after: i)
        }
        return String(out)
    }

    /// The texts of the `<Message>` elements of a TwiML document this module wrote
    /// (or any TwiML with plain-text `<Message>` bodies). For the CLI and tests.
    public static func messages(in document: String) -> [String] {
        // Searched as UTF-8 bytes, not Characters: a reply starting with a combining mark forms
        // one Character with the tag's `>` (found by fuzzing), and the markers are all ASCII.
        let b = Array(document.utf8)
        func find(_ s: String, from: Int, to end: Int? = nil) -> Int? {
            let p = Array(s.utf8), last = (end ?? b.count) - p.count
            guard from <= last else { return nil }
            for i in from...last where b[i] == p[0] && Array(b[i..<(i + p.count)]) == p { return i }
            return nil
        }
        func text(_ r: Range<Int>) -> String { String(decoding: b[r], as: UTF8.self) }
        var out: [String] = []
        var at = 0
        while let open = find("<Message", from: at) {
            guard let gt = b[(open + 8)...].firstIndex(of: UInt8(ascii: ">")) else { break }
            if b[gt - 1] == UInt8(ascii: "/") { out.append(""); at = gt + 1; continue }
            guard let close = find("</Message>", from: gt) else { break }
            var body = (gt + 1)..<close
            if let s = find("<Body>", from: body.lowerBound, to: close), let e = find("</Body>", from: s + 6, to: close) { body = (s + 6)..<e }
            out.append(unescape(Substring(text(body))))
            at = close + 10
        }
        return out
    }
}
