import Foundation

/// One reason a message looks like spam, with its weight in the score.
public struct SpamSignal: Sendable, Equatable {
    public var name: String
    public var weight: Double
    public var detail: String
}

/// A spam score from 0 to 1 and the signals that made it.
public struct SpamVerdict: Sendable, Equatable {
    public var score: Double
    public var signals: [SpamSignal]
}

/// Scores a message from explainable signals: repeated identical texts, bursts, links and
/// their density, link shorteners, known spam phrases (configurable), money amounts,
/// shouting, "text WORD to 12345" codes, and phone numbers in the text that are on the
/// block list. Each signal has a weight in 0..<1; they combine as independent evidence,
/// score = 1 − ∏(1 − weight), so one weak signal never crosses 0.7 on its own and the
/// strong ones (a block-listed number, five identical texts) do.
///
/// Pure and thread-safe; the counts (burst, repeats) come from the store's counters.
public struct SpamScorer: Sendable {
    public let phrases: [String]

    /// Each phrase as " word word " (see `phraseForm`).
    private let phraseForms: [String]

    public init(phrases: [String] = SpamScorer.defaultPhrases) {
        self.phrases = phrases.map { Self.normalize($0) }.filter { !$0.isEmpty }
        phraseForms = self.phrases.map { Self.phraseForm($0) }
    }

    /// Punctuation other than ' % $ - as blanks, blanks collapsed, one blank at each end:
    /// phrases match whole words ("irs" not in "first").
    static func phraseForm(_ s: String) -> String {
        let mapped = String(s.map { $0.isPunctuation && !"'%$-".contains($0) ? " " : $0 })
        return " " + mapped.split(separator: " ").joined(separator: " ") + " "
    }

    /// The built-in phrase list (`abuse.spam_phrases` replaces it).
    public static let defaultPhrases = [
        // prizes and gifts
        "you have won", "you've won", "you won", "winner", "congratulations", "claim your", "claim now", "to claim", "prize",
        "free gift", "gift card", "free entry", "selected", "reward", "unclaimed", "giveaway", "lottery", "cash prize", "free msg",
        "free spins", "no deposit", "welcome bonus", "casino", "redeem",
        // pressure
        "click here", "click the link", "act now", "call now", "limited time", "urgent", "final notice", "last chance",
        "expires today", "today only", "immediately", "within 24 hours", "reply yes", "legal action", "penalty",
        // accounts and payments (phishing)
        "verify your account", "account suspended", "account has been suspended", "has been suspended", "account is locked",
        "account locked", "has been locked", "confirm your identity", "unusual activity", "suspicious activity", "bank details",
        "billing details", "payment failed", "wire transfer", "deactivated", "unpaid", "apple id", "tax refund", "refund pending",
        // parcels
        "delivery failed", "reschedule delivery", "redelivery", "customs fee", "parcel is",
        // money offers
        "bitcoin", "crypto", "investment opportunity", "guaranteed", "risk free", "risk-free", "100% free", "no credit check",
        "loan approved", "pre-approved", "make money", "work from home", "double your", "exclusive offer", "special offer",
        "no prescription", "viagra", "hot singles", "no experience",
    ]

    static let shorteners = ["bit.ly", "tinyurl.com", "t.co/", "goo.gl", "ow.ly", "is.gd", "cutt.ly", "rb.gy", "shorturl", "tiny.cc", "buff.ly"]

    /// Lowercased, blanks collapsed: what phrases and repeats compare.
    static func normalize(_ s: String) -> String {
        s.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// FNV-1a of the normalised text: the repeated-text counter's key.
    public static func textHash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in normalize(text).utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h
    }

    /// - Parameters:
    ///   - burst: messages from the sender in the last burst window (10 s), this one included.
    ///   - repeats: this text from the sender in the repeat window (1 h), this one included.
    ///   - blocked: the block rule a number matches, if any.
    public func score(_ text: String, burst: Int64 = 1, repeats: Int64 = 1, blocked: (String) -> String? = { _ in nil }) -> SpamVerdict {
        var signals: [SpamSignal] = []
        func add(_ name: String, _ w: Double, _ detail: String) { signals.append(SpamSignal(name: name, weight: w, detail: detail)) }
        let norm = Self.normalize(text)
        let words = norm.split(separator: " ")

        if repeats >= 3 && norm.count >= 12 {
            add("repeated", repeats >= 5 ? 0.8 : 0.5, "\(repeats) identical texts from this number within an hour")
        }
        if burst >= 6 { add("burst", burst >= 10 ? 0.6 : 0.4, "\(burst) messages from this number within 10 seconds") }

        let links = words.filter(Self.isLink)
        if !links.isEmpty {
            let density = Double(links.count) / Double(max(words.count, 1))
            add("links", min(0.5, 0.15 * Double(links.count)) + (density >= 0.25 ? 0.2 : 0),
                "\(links.count) link(s), \(Int(density * 100))% of the words")
            if let s = links.lazy.compactMap({ l in Self.shorteners.first(where: { l.contains($0) }) }).first {
                add("shortener", 0.35, "link shortener \(s)")
            }
            if let l = links.first(where: Self.isSuspiciousLink) { add("suspicious_link", 0.45, "link to \(Self.host(l))") }
        }
        let padded = Self.phraseForm(norm)
        let matched = zip(phrases, phraseForms).filter { padded.contains($0.1) }.map(\.0)
        if !matched.isEmpty {
            add("phrases", 1 - pow(0.6, Double(matched.count)), "spam phrases: " + matched.prefix(5).joined(separator: ", "))
        }
        if norm.range(of: #"[$£€]\s?\d|\d\s?(usd|eur|gbp|dollars|pounds)\b"#, options: .regularExpression) != nil {
            add("money", 0.25, "a money amount")
        }
        let letters = text.unicodeScalars.filter { $0.properties.isAlphabetic }
        let upper = letters.filter { $0.properties.isUppercase }.count
        if letters.count >= 12 && Double(upper) / Double(letters.count) >= 0.6 { add("shouting", 0.2, "\(upper * 100 / letters.count)% capitals") }
        if norm.range(of: #"\b1?[-. (]*8(00|88|77|66|55|44|33)[-. )]*\d{3}[-. ]*\d{4}\b|\b09\d{9}\b"#, options: .regularExpression) != nil {
            add("premium_number", 0.35, "a toll-free or premium-rate number to call")
        }
        if norm.range(of: #"\b(text|txt|reply|send)\s+[a-z]{2,12}\s+to\s+\d{4,6}\b"#, options: .regularExpression) != nil {
            add("short_code", 0.4, "asks to text a keyword to a short code")
        }
        for n in Self.phoneNumbers(in: text) {
            if let rule = blocked(n) { add("blocked_number", 0.8, "mentions a number on the block list (\(rule))"); break }
        }
        let score = 1 - signals.reduce(1.0) { $0 * (1 - $1.weight) }
        return SpamVerdict(score: (score * 1000).rounded() / 1000, signals: signals)
    }

    static let cheapTLDs: Set<String> = ["top", "xyz", "site", "online", "club", "info", "biz", "link", "ru", "tk", "co", "io", "me", "cn"]
    static let lureWords = ["verify", "secure", "login", "account", "update", "support", "refund", "pay", "bank", "track", "claim",
                            "reward", "gift", "prize", "win", "redeliver", "customs", "toll", "unlock", "renew", "survey", "free", "cash", "loan"]

    /// The host part of a link word.
    static func host(_ link: Substring) -> String {
        var h = link
        for p in ["https://", "http://"] where h.hasPrefix(p) { h = h.dropFirst(p.count) }
        if h.hasPrefix("www.") { h = h.dropFirst(4) }
        return String(h.prefix { $0 != "/" && $0 != "?" }.trimmingCharacters(in: CharacterSet(charactersIn: ".,!?:;")))
    }

    /// A link to a cheap top-level domain, or a hyphenated domain made of lure words
    /// ("secure-bank-verify.com"): what phishing and prize spam use, and what people rarely share.
    static func isSuspiciousLink(_ w: Substring) -> Bool {
        let h = host(w)
        let labels = h.split(separator: ".")
        guard labels.count >= 2, let tld = labels.last else { return false }
        if cheapTLDs.contains(String(tld)) && !["t.co", "t.me", "bit.ly"].contains(h) { return true }
        let name = labels.dropLast().joined(separator: ".")
        return name.contains("-") && lureWords.contains { name.contains($0) }
    }

    static func isLink(_ w: Substring) -> Bool {
        if w.hasPrefix("http://") || w.hasPrefix("https://") || w.hasPrefix("www.") { return true }
        // bare domains: "example.com/path", "bit.ly/x"
        return w.range(of: #"^[a-z0-9-]+(\.[a-z0-9-]+)*\.(com|net|org|info|biz|ly|co|io|me|xyz|top|club|online|site|link|gl|gd|cc|ru|cn|tk)(/\S*)?[.,!?]?$"#,
                       options: .regularExpression) != nil
    }

    /// Phone numbers written in a text, as "+digits" (7-15 digits).
    static func phoneNumbers(in text: String) -> [String] {
        var out: [String] = []
        var cur = "", plus = false
        func flush() {
            if (7...15).contains(cur.count) { out.append("+" + cur) }
            cur = ""; plus = false
        }
        for ch in text {
            if ch.isASCII && ch.isNumber { cur.append(ch) }
            else if ch == "+" && cur.isEmpty { plus = true }
            else if (ch == "-" || ch == " " || ch == "(" || ch == ")" || ch == ".") && (!cur.isEmpty || plus) { continue }
            else { flush() }
        }
        flush()
        _ = plus
        return out
    }
}
