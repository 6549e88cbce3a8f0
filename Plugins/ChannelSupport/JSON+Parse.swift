/// The reader behind `JSON.parse`: RFC 8259 over UTF-8 bytes, in one pass, with no
/// Foundation. Strict where JSONSerialization is (control characters in strings, bad escapes,
/// leading zeros, trailing commas or data, invalid UTF-8 in strings: errors naming the byte
/// offset), lenient where it costs nothing (a UTF-8 byte order mark; a lone UTF-16 surrogate
/// escape reads as U+FFFD). Nesting deeper than `JSON.maxDepth` is refused, so a hostile body
/// cannot exhaust the stack. Pure functions: thread-safe; any input only ever throws.
extension JSON {
    /// Why a text is not JSON; never echoes the text (a request body may hold secrets).
    public struct ParseError: Error, CustomStringConvertible, Sendable, Equatable {
        public var offset: Int
        public var reason: String
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// Objects and arrays nested deeper than this are refused (a Telegram update nests about 6).
    public static let maxDepth = 128

    /// Parses one JSON value (any type at the top) from UTF-8 bytes.
    public static func parse(_ bytes: [UInt8]) throws -> JSON {
        try bytes.withUnsafeBufferPointer { (buf) throws -> JSON in
            var r = Reader(b: buf)
            if buf.count >= 3, buf[0] == 0xEF, buf[1] == 0xBB, buf[2] == 0xBF { r.i = 3 }
            r.skipSpace()
            let v = try r.value(depth: 0)
            r.skipSpace()
            guard r.i == buf.count else { throw r.fail("unexpected data after the value") }
            return v
        }
    }

    /// Parses one JSON value from text.
    public static func parse(_ text: String) throws -> JSON { try parse(Array(text.utf8)) }

    struct Reader {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0

        func fail(_ reason: String) -> ParseError { ParseError(offset: i, reason: reason) }

        mutating func skipSpace() {
            while i < b.count {
                let c = b[i]
                guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
                i += 1
            }
        }

        mutating func value(depth: Int) throws -> JSON {
            guard i < b.count else { throw fail("unexpected end") }
            switch b[i] {
            case UInt8(ascii: "{"):
                guard depth < JSON.maxDepth else { throw fail("nested deeper than \(JSON.maxDepth)") }
                i += 1
                skipSpace()
                var members: [Member] = []
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    let key = try string()
                    skipSpace()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                    members.append(Member(key, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < b.count else { throw fail("unexpected end in an object") }
                    if b[i] == UInt8(ascii: ",") { i += 1; skipSpace(); continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                guard depth < JSON.maxDepth else { throw fail("nested deeper than \(JSON.maxDepth)") }
                i += 1
                skipSpace()
                var items: [JSON] = []
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < b.count else { throw fail("unexpected end in an array") }
                    if b[i] == UInt8(ascii: ",") { i += 1; skipSpace(); continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected character")
            }
        }

        mutating func literal(_ word: StaticString) throws {
            let n = word.utf8CodeUnitCount
            guard i + n <= b.count else { throw fail("invalid literal") }
            let w = word.utf8Start
            for k in 0..<n where b[i + k] != w[k] { throw fail("invalid literal") }
            i += n
        }

        static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

        /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; integers that fit stay Int64.
        mutating func number() throws -> JSON {
            let start = i
            let negative = b[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            guard i < b.count, Self.isDigit(b[i]) else { throw fail("expected a digit") }
            var magnitude: UInt64 = 0
            var overflow = false
            if b[i] == UInt8(ascii: "0") {
                i += 1
                if i < b.count, Self.isDigit(b[i]) { throw fail("leading zero in a number") }
            } else {
                while i < b.count, Self.isDigit(b[i]) {
                    let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.addingReportingOverflow(UInt64(b[i] - UInt8(ascii: "0")))
                    overflow = overflow || o1 || o2
                    magnitude = s
                    i += 1
                }
            }
            var integral = true
            if i < b.count, b[i] == UInt8(ascii: ".") {
                integral = false
                i += 1
                guard i < b.count, Self.isDigit(b[i]) else { throw fail("expected a digit after '.'") }
                while i < b.count, Self.isDigit(b[i]) { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                integral = false
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard i < b.count, Self.isDigit(b[i]) else { throw fail("expected a digit in the exponent") }
                while i < b.count, Self.isDigit(b[i]) { i += 1 }
            }
            if integral && !overflow {
                if !negative, magnitude <= UInt64(Int64.max) { return .integer(Int64(magnitude)) }
                if negative, magnitude <= UInt64(Int64.max) { return .integer(-Int64(magnitude)) }
                if negative, magnitude == UInt64(Int64.max) + 1 { return .integer(Int64.min) }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            guard let d = Double(text), d.isFinite else { i = start; throw fail("number out of range") }
            return .number(d)
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count else { throw fail("bad \\u escape") }
            var v: UInt32 = 0
            for k in 0..<4 {
                let c = b[i + k]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw fail("bad \\u escape")
                }
                v = v << 4 | UInt32(d)
            }
            i += 4
            return v
        }

        static func appendUTF8(_ cp: UInt32, to out: inout [UInt8]) {
            switch cp {
            case 0..<0x80: out.append(UInt8(cp))
            case 0x80..<0x800:
                out.append(UInt8(0xC0 | cp >> 6)); out.append(UInt8(0x80 | cp & 0x3F))
            case 0x800..<0x10000:
                out.append(UInt8(0xE0 | cp >> 12)); out.append(UInt8(0x80 | cp >> 6 & 0x3F)); out.append(UInt8(0x80 | cp & 0x3F))
            default:
                out.append(UInt8(0xF0 | cp >> 18)); out.append(UInt8(0x80 | cp >> 12 & 0x3F))
                out.append(UInt8(0x80 | cp >> 6 & 0x3F)); out.append(UInt8(0x80 | cp & 0x3F))
            }
        }

        /// The string starting at the opening quote `b[i]`; `i` ends after the closing one.
        mutating func string() throws -> String {
            let open = i
            i += 1
            let start = i
            // Fast path: no escape (most strings): validate the bytes in place.
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    guard let s = String(validating: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self) else {
                        i = open
                        throw fail("invalid UTF-8 in a string")
                    }
                    i += 1
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw fail("control character in a string") }
                i += 1
            }
            var out = Array(UnsafeBufferPointer(rebasing: b[start..<i]))
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    guard let s = String(validating: out, as: UTF8.self) else {
                        i = open
                        throw fail("invalid UTF-8 in a string")
                    }
                    i += 1
                    return s
                }
                if c < 0x20 { throw fail("control character in a string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { break }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var cp = try hex4()
                    if (0xD800..<0xDC00).contains(cp) {
                        // A high surrogate pairs with a following \u low surrogate; alone it is U+FFFD
                        // and whatever follows is read on its own.
                        if i + 2 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                            let save = i
                            i += 2
                            let lo = try hex4()
                            if (0xDC00..<0xE000).contains(lo) { cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00) } else { i = save; cp = 0xFFFD }
                        } else {
                            cp = 0xFFFD
                        }
                    } else if (0xDC00..<0xE000).contains(cp) {
                        cp = 0xFFFD
                    }
                    Self.appendUTF8(cp, to: &out)
                default:
                    i -= 2
                    throw fail("invalid escape")
                }
            }
            i = open
            throw fail("unterminated string")
        }
    }
}
