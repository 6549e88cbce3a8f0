/// Writes compact JSON into a byte buffer: the channels' answers (the Telegram webhook's
/// `sendMessage` call, the web chat's messages) and the metadata they submit, without
/// Foundation's JSONSerialization (dictionaries of `Any`, NSNumber bridging). Members come
/// out in the order they are written; commas are placed by the writer.
///
/// Strings are escaped per RFC 8259 (`"`, `\`, control characters; everything else is copied
/// as UTF-8, which a Swift String always is). A value type: use one per thread.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Whether the next value or key needs a comma before it.
    private var needsComma = false

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// The text written so far.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma = false }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needsComma = false }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma = true }

    /// A member's key; its value is the next thing written.
    public mutating func key(_ k: String) {
        separate()
        Self.quote(k, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ s: String) { separate(); Self.quote(s, into: &bytes); needsComma = true }
    public mutating func int(_ v: Int64) { separate(); bytes.append(contentsOf: String(v).utf8); needsComma = true }
    public mutating func bool(_ v: Bool) { separate(); bytes.append(contentsOf: (v ? "true" : "false").utf8); needsComma = true }
    public mutating func null() { separate(); bytes.append(contentsOf: "null".utf8); needsComma = true }

    /// A finite Double in Swift's shortest form that reads back as the same Double ("0.5",
    /// "1000.0", "1e+300": it stays a number, never becomes an integer); NaN and infinities,
    /// which JSON cannot hold, are written as null. Whole numbers: use `int`.
    public mutating func number(_ d: Double) {
        guard d.isFinite else { return null() }
        separate(); bytes.append(contentsOf: "\(d)".utf8); needsComma = true
    }

    public mutating func field(_ k: String, _ v: String) { key(k); string(v) }
    public mutating func field(_ k: String, _ v: Int64) { key(k); int(v) }
    public mutating func field(_ k: String, _ v: Bool) { key(k); bool(v) }

    /// Any JSON value (objects keep their members' order and duplicates).
    public mutating func value(_ v: JSON) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .integer(let i): int(i)
        case .number(let d): number(d)
        case .string(let s): string(s)
        case .array(let a):
            beginArray()
            for x in a { value(x) }
            endArray()
        case .object(let members):
            beginObject()
            for m in members { key(m.key); value(m.value) }
            endObject()
        }
    }

    /// `s` as a JSON string literal.
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        quote(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `s` as a JSON string literal.
    public static func quote(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { u in
            var run = 0   // start of the bytes not yet copied
            for (k, c) in u.enumerated() where c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: u[run..<k]))
                out.append(UInt8(ascii: "\\"))
                switch c {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(c)
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                default:
                    let hex: StaticString = "0123456789abcdef"
                    out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                            hex.utf8Start[Int(c >> 4)], hex.utf8Start[Int(c & 15)]])
                }
                run = k + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: u[run...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
