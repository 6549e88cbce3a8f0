/// Phone number normalisation to E.164 (`+` and 8 to 15 digits).
///
/// Pure functions: thread-safe.
public enum PhoneNumber {
    /// `number` in E.164, or nil if it is not a phone number. Accepts what providers
    /// and people send: `+1 (555) 123-4567`, `+15551234567`, `0015551234567`,
    /// `tel:+15551234567`, and channel prefixes such as `sms:`. Digits without a `+`
    /// or `00` prefix are taken as already international (`15551234567`).
    public static func e164(_ number: String) -> String? {
        var s = Substring(number.trimmingCharacters(in: .whitespaces))
        for prefix in ["tel:", "sms:"] where s.lowercased().hasPrefix(prefix) { s = s.dropFirst(prefix.count) }
        var digits = ""
        var sawPlus = false
        for (i, c) in s.enumerated() {
            if c == "+" && i == 0 { sawPlus = true; continue }
            if c.isASCII && c.isNumber { digits.append(c); continue }
            if c == " " || c == "-" || c == "(" || c == ")" || c == "." { continue }
            return nil
        }
        if !sawPlus && digits.hasPrefix("00") { digits.removeFirst(2) }
        guard (8...15).contains(digits.count), digits.first != "0" else { return nil }
        return "+" + digits
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
