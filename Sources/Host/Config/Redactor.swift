import Foundation

/// Hides secrets in anything the gateway prints or logs.
public enum Redactor {
    /// Key names whose values are secrets (matched case-insensitively as substrings).
    static let secretWords = ["token", "secret", "password", "passwd", "api_key", "apikey", "auth", "credential", "private_key", "signing"]

    public static func isSecretKey(_ key: String) -> Bool {
        let k = key.lowercased()
        return secretWords.contains { k.contains($0) }
    }

    /// postgres://user:pass@host/db -> postgres://user:***@host/db
    public static func redactURL(_ s: String) -> String {
        guard let scheme = s.range(of: "://"), let at = s[scheme.upperBound...].firstIndex(of: "@") else { return s }
        let userinfo = s[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return s }
        return String(s[..<colon]) + ":***" + String(s[at...])
    }

    /// A JSON value with every secret-named key's value replaced by "***", and URLs' passwords hidden.
    public static func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let o):
            return .object(o.map { k, v in
                if isSecretKey(k), case .string = v { return (k, .string("***")) }
                if isSecretKey(k), case .number = v { return (k, .string("***")) }
                return (k, redact(v))
            })
        case .array(let a): return .array(a.map(redact))
        case .string(let s): return .string(redactURL(s))
        default: return value
        }
    }
}
