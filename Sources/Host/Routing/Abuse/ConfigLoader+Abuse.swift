import Foundation
import Yams

/// `abuse:` of plugins.yaml (see `AbuseConfig`), read with the same strictness as the rest.
extension Reader {
    mutating func readAbuse(_ node: Node) -> AbuseConfig? {
        var a = AbuseConfig()
        a.line = node.mark?.line ?? 0
        if case .scalar(let s) = node, s.string.isEmpty || s.string == "~" || s.string == "null" { return a }
        guard let m = mapping(node, "abuse") else { return nil }
        for (key, v) in m {
            let p = "abuse.\(key)"
            switch key {
            case "window":
                if let d = duration(v, p) { if d >= 1 && d <= 86_400 { a.window = d } else { problem(p, v, "must be between 1s and 24h") } }
            case "per_sender": if let n = int(v, p, min: 0) { a.perSender = n }
            case "per_account": if let n = int(v, p, min: 0) { a.perAccount = n }
            case "global": if let n = int(v, p, min: 0) { a.global = n }
            case "rate_limit_reply": if let s = string(v, p) { a.rateLimitReply = s }
            case "blocked_reply": if let s = string(v, p) { a.blockedReply = s }
            case "known_users": if let b = bool(v, p) { a.knownUsers = b }
            case "unknown_user_reply": if let s = string(v, p) { a.unknownUserReply = s }
            case "spam_filter": if let b = bool(v, p) { a.spamFilter = b }
            case "spam_threshold":
                guard let s = string(v, p) else { continue }
                if let d = Double(s), d > 0, d <= 1 { a.spamThreshold = d } else { problem(p, v, "expected a number above 0 and at most 1, got '\(s)'") }
            case "spam_phrases":
                guard let list = sequence(v, p) else { continue }
                a.spamPhrases = list.enumerated().compactMap { i, n in
                    guard let s = string(n, "\(p)[\(i)]") else { return nil }
                    let t = s.trimmingCharacters(in: .whitespaces)
                    if t.isEmpty { problem("\(p)[\(i)]", n, "must not be empty"); return nil }
                    return t
                }
            case "spam_reply": if let s = string(v, p) { a.spamReply = s }
            default: unknown(key, "abuse.", v, AbuseConfig.keys)
            }
        }
        return a
    }
}
