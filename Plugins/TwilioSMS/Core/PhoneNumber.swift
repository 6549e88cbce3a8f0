/// Phone number normalisation to E.164 (`+` and 8 to 15 digits).
///
/// Pure functions: thread-safe.
public enum PhoneNumber {
    /// `number` in E.164, or nil if it is not a phone number. Accepts what providers
    /// and people send: `+1 (555) 123-4567`, `+15551234567`, `0015551234567`,
    /// `tel:+15551234567`, and channel prefixes such as `sms:`. Digits without a `+`
    /// or `00` prefix are taken as already international (`15551234567`).
    public static func e164(_ number: String) -> String? {
        var bytes = Substring(number).utf8[...]
        while let f = bytes.first, f == UInt8(ascii: " ") || f == UInt8(ascii: "\t") { bytes = bytes.dropFirst() }
        while let l = bytes.last, l == UInt8(ascii: " ") || l == UInt8(ascii: "\t") { bytes = bytes.dropLast() }
        for prefix in ["tel:", "sms:"] where bytes.count >= 4 && bytes.prefix(4).map({ $0 | 0x20 }).elementsEqual(prefix.utf8) {
            bytes = bytes.dropFirst(4)
        }
        var digits: [UInt8] = []
        digits.reserveCapacity(16)
        var sawPlus = false
        for (i, c) in bytes.enumerated() {
            switch c {
            case UInt8(ascii: "+") where i == 0: sawPlus = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(c)
            case UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "."): continue
            default: return nil
            }
            if digits.count > 17 { return nil }
        }
        if !sawPlus && digits.starts(with: [UInt8(ascii: "0"), UInt8(ascii: "0")]) { digits.removeFirst(2) }
        guard (8...15).contains(digits.count), digits.first != UInt8(ascii: "0") else { return nil }
        return "+" + String(decoding: digits, as: UTF8.self)
    }

    /// A short code (3 to 8 digits) as carriers use for `To`, kept as digits; nil otherwise.
    public static func shortCode(_ number: String) -> String? {
        let t = number.trimmingCharacters(in: .whitespaces)
        return (3...8).contains(t.count) && t.allSatisfy { $0.isASCII && $0.isNumber } ? t : nil
    }

    /// A form safe for logs: the country code and the last two digits (`+1*******67`).
    public static func masked(_ e164: String) -> String {
        guard e164.count > 4 else { return "***" }
        return String(e164.prefix(2)) + String(repeating: "*", count: e164.count - 4) + String(e164.suffix(2))
    }
}

import Foundation
