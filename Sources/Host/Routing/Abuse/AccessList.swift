import Foundation

/// The allow and block rules at one access version, ready to match a number.
///
/// Semantics: a number that matches an allow rule is let through the block list, the
/// known-users check and the spam filter (a trusted number; the rate limits still count
/// it). Otherwise a number that matches a block rule is refused. Where several rules of a
/// list match, the most specific one is reported (number, then the longest prefix, then
/// the country code).
///
/// A value; thread-safe.
struct AccessList: Sendable {
    let version: Int64
    let rules: [AccessRule]
    private let numbers: [AccessRule.List: [String: AccessRule]]
    /// Prefix and country rules as "+digits" prefixes, longest first.
    private let prefixes: [AccessRule.List: [(prefix: String, rule: AccessRule)]]

    init(version: Int64, rules: [AccessRule]) {
        self.version = version
        self.rules = rules
        var n: [AccessRule.List: [String: AccessRule]] = [:], p: [AccessRule.List: [(prefix: String, rule: AccessRule)]] = [:]
        for r in rules {
            switch r.kind {
            case .number: n[r.list, default: [:]][r.value] = r
            case .prefix: p[r.list, default: []].append((r.value, r))
            case .country: p[r.list, default: []].append(("+" + r.value, r))
            }
        }
        numbers = n
        prefixes = p.mapValues { $0.sorted { ($0.prefix.count, $0.rule.kind == .prefix ? 1 : 0) > ($1.prefix.count, $1.rule.kind == .prefix ? 1 : 0) } }
    }

    static let empty = AccessList(version: -1, rules: [])

    /// The most specific rule of `list` that `number` matches.
    func match(_ number: String, _ list: AccessRule.List) -> AccessRule? {
        if let r = numbers[list]?[number] { return r }
        return prefixes[list]?.first(where: { number.hasPrefix($0.prefix) })?.rule
    }

    /// How a rule is named in events and logs: "prefix +1555".
    static func describe(_ r: AccessRule) -> String { "\(r.kind.rawValue) \(r.kind == .country ? "+" : "")\(r.value)" }

    /// Checks and normalises a rule's value; the error says what is expected.
    static func normalize(kind: AccessRule.Kind, value raw: String) throws -> String {
        let v = raw
        func digits(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }
        switch kind {
        case .number:
            guard !v.isEmpty, v.unicodeScalars.count <= 64,
                  !v.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f || $0.properties.isWhitespace }) else {
                throw AccessRuleError("number: expected a number such as +15551234567 (1-64 characters, no spaces)")
            }
            if v.hasPrefix("+") && !(digits(v.dropFirst()) && (7...15).contains(v.count - 1)) {
                throw AccessRuleError("number: '\(v.prefix(64))' is not an E.164 number (+ and 7-15 digits)")
            }
            return v
        case .prefix:
            guard v.hasPrefix("+"), digits(v.dropFirst()), v.count - 1 <= 15 else {
                throw AccessRuleError("prefix: expected + and 1-15 digits such as +1555, got '\(v.prefix(64))'")
            }
            return v
        case .country:
            let d = v.hasPrefix("+") ? v.dropFirst() : Substring(v)
            guard digits(d), (1...3).contains(d.count) else {
                throw AccessRuleError("country: expected a country calling code of 1-3 digits such as 44 or +44, got '\(v.prefix(64))'")
            }
            return String(d)
        }
    }
}

/// A rule value that cannot be used (the message says what is expected).
struct AccessRuleError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
