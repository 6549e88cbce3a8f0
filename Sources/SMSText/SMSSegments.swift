/// Counts the SMS segments a message body uses, as carriers bill it.
///
/// A body that only uses the GSM 03.38 7-bit alphabet is GSM-7: 160 septets in a single
/// message, 153 per part when concatenated (the rest holds the UDH); characters of the
/// extension table (`^ { } \ [ ] ~ | €` and form feed) take two septets and are never
/// split across parts. Anything else forces UCS-2: 70 UTF-16 units single, 67 per part,
/// surrogate pairs kept together. Pure functions: thread-safe.
public enum SMSSegments {
    public enum Encoding: String, Sendable { case gsm7 = "GSM-7", ucs2 = "UCS-2" }

    /// The GSM 03.38 default alphabet (the escape 0x1B itself excluded).
    static let basic: Set<Unicode.Scalar> = Set(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà".unicodeScalars)
    /// The extension table: each costs an escape plus itself.
    static let extended: Set<Unicode.Scalar> = Set("^{}\\[~]|€\u{0C}".unicodeScalars)

    /// The encoding a body needs.
    public static func encoding(of text: String) -> Encoding {
        text.unicodeScalars.allSatisfy { basic.contains($0) || extended.contains($0) } ? .gsm7 : .ucs2
    }

    /// How many segments `text` uses (at least 1, also for an empty body).
    public static func count(_ text: String) -> Int {
        let units: [Int]
        let single: Int, part: Int
        switch encoding(of: text) {
        case .gsm7:
            units = text.unicodeScalars.map { extended.contains($0) ? 2 : 1 }
            single = 160; part = 153
        case .ucs2:
            units = text.unicodeScalars.map { $0.value > 0xFFFF ? 2 : 1 }
            single = 70; part = 67
        }
        let total = units.reduce(0, +)
        if total <= single { return 1 }
        var segments = 1, used = 0
        for u in units {
            if used + u > part { segments += 1; used = 0 }
            used += u
        }
        return segments
    }
}
