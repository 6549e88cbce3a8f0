/// `application/x-www-form-urlencoded` parsing and encoding, as Twilio sends and expects it.
///
/// Pure functions: thread-safe.
public enum FormEncoding {
    /// Why a body is not a valid form.
    public struct MalformedForm: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Parses `a=1&b=x+y&c=%C3%A9` into ordered (name, value) pairs ('+' is a space,
    /// %XX percent-decoding, values must be UTF-8). Empty segments (`a=1&&b=2`) are
    /// skipped; a name without '=' has an empty value. Bad escapes or invalid UTF-8 throw.
    public static func parse(_ body: [UInt8]) throws -> [(String, String)] {
        var out: [(String, String)] = []
        var start = 0
        while start <= body.count {
            var end = start
            while end < body.count && body[end] != UInt8(ascii: "&") { end += 1 }
            if end > start {
                let part = body[start..<end]
                let eq = part.firstIndex(of: UInt8(ascii: "="))
                let name = try decode(part[part.startIndex..<(eq ?? part.endIndex)])
                let value = try eq.map { try decode(part[($0 + 1)..<part.endIndex]) } ?? ""
                guard !name.isEmpty else { throw MalformedForm(description: "a form field has no name") }
                out.append((name, value))
            }
            start = end + 1
        }
        return out
    }

    /// Percent-decodes one name or value ('+' becomes a space).
    public static func decode(_ s: ArraySlice<UInt8>) throws -> String {
        if !s.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
            // From the buffer: the generic `String(validating:)` over a slice walks it byte by byte.
            guard let text = s.withUnsafeBufferPointer({ String(validating: $0, as: UTF8.self) }) else {
                throw MalformedForm(description: "form field is not valid UTF-8")
            }
            return text
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(s.count)
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " ")); i += 1
            } else if c == UInt8(ascii: "%") {
                guard i + 2 < s.endIndex, let hi = hexValue(s[i + 1]), let lo = hexValue(s[i + 2]) else {
                    throw MalformedForm(description: "bad percent escape in form body")
                }
                bytes.append(hi << 4 | lo); i += 3
            } else {
                bytes.append(c); i += 1
            }
        }
        guard let text = bytes.withUnsafeBufferPointer({ String(validating: $0, as: UTF8.self) }) else {
            throw MalformedForm(description: "form field is not valid UTF-8")
        }
        return text
    }

    /// Encodes pairs as a form body (RFC 3986 unreserved characters kept, space as '+').
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    /// Percent-escapes one name or value for a form body.
    public static func escape(_ s: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: " "):
                out.append(UInt8(ascii: "+"))
            default:
                out.append(UInt8(ascii: "%")); out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of query parameter `name` in a URL's query (first occurrence), decoded.
    public static func queryValue(_ url: String, _ name: String) -> String? {
        guard let q = url.firstIndex(of: "?") else { return nil }
        let query = url[url.index(after: q)...].prefix { $0 != "#" }
        let pairs = (try? parse(Array(query.utf8))) ?? []
        return pairs.first { $0.0 == name }?.1
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
