/// The address kinds of ABI 1.2 (darkspere_plugin.h, "ADDRESSES"): what the host accepts in
/// `from` and `to` of a submitted message, and how it hides them in logs.
///
/// - E.164: "+" and 2 to 15 digits, the first not 0 ("+15551234567"); phone channels.
/// - scheme:opaque-id: a lower-case scheme ([a-z][a-z0-9+.-]*, at most 32 bytes), ":", and
///   1 to 256 bytes of printable non-space ASCII or any non-ASCII UTF-8
///   ("whatsapp:+15551234567", "telegram:123456", "web:visitor-42").
///
/// Pure functions; any thread.
public enum Address {
    public enum Kind: Equatable, Sendable {
        case e164
        case scoped(scheme: String)
    }

    /// The kind of `s`, or nil if it is neither form.
    public static func kind(_ s: String) -> Kind? {
        if isE164(s) { return .e164 }
        let u = Array(s.utf8)
        guard let colon = u.firstIndex(of: UInt8(ascii: ":")), colon > 0, colon <= 32 else { return nil }
        let scheme = u[..<colon], id = u[(colon + 1)...]
        guard let first = scheme.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return nil }
        let schemeOK = scheme.allSatisfy { c in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
                || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
        }
        guard schemeOK, !id.isEmpty, id.count <= 256, id.allSatisfy({ $0 > 0x20 && $0 != 0x7f }) else { return nil }
        return .scoped(scheme: String(decoding: scheme, as: UTF8.self))
    }

    /// "+" then 2...15 digits, the first 1-9.
    public static func isE164(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count >= 3, u.count <= 16, u[0] == UInt8(ascii: "+"), u[1] != UInt8(ascii: "0") else { return false }
        return u.dropFirst().allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// Why `value` is not an address, naming `field`; nil if it is one. Never echoes the value.
    public static func problem(field: String, _ value: String) -> String? {
        if kind(value) != nil { return nil }
        if value.isEmpty { return "\(field): required" }
        return "\(field): not an address (expected E.164 like +15551234567, or scheme:id like telegram:123456; got \(value.utf8.count) bytes)"
    }

    /// An address as logs may show it: an E.164 number keeps "+" and its last 4 digits
    /// ("+*******4567"); a scheme:id keeps the scheme, an E.164 id is masked as above, and
    /// another id keeps its last 4 characters only if it is longer than 8
    /// ("telegram:******", "web:********8f3a"). Anything else is fully hidden.
    public static func redact(_ s: String) -> String {
        switch kind(s) {
        case .e164: return maskAllButLast(s, 4, keepPlus: true)
        case .scoped(let scheme):
            let id = String(s.dropFirst(scheme.count + 1))
            if isE164(id) { return scheme + ":" + maskAllButLast(id, 4, keepPlus: true) }
            return scheme + ":" + maskAllButLast(id, id.count > 8 ? 4 : 0, keepPlus: false)
        case nil: return String(repeating: "*", count: min(s.count, 16))
        }
    }

    private static func maskAllButLast(_ s: String, _ keep: Int, keepPlus: Bool) -> String {
        let keepFrom = s.count - keep
        var out = ""
        for (i, c) in s.enumerated() { out.append(i >= keepFrom || (keepPlus && i == 0 && c == "+") ? c : "*") }
        return out
    }
}
