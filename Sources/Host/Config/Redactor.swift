import Foundation

/// Hides secrets in anything the gateway prints or logs.
public enum Redactor {
    /// Key names whose values are secrets (matched case-insensitively as substrings).
    static let secretWords = ["token", "secret", "password", "passwd", "api_key", "apikey", "auth", "credential", "private_key", "signing"]

    public static func isSecretKey(_ key: String) -> Bool {
        let k = key.lowercased()
        return secretWords.contains { k.contains($0) }
    }

    /// Hides a URL's password and its secret-named query parameters:
    /// `postgres://user:pass@host/db` -> `postgres://user:***@host/db`,
    /// `postgresql:///db?host=/run/postgresql&password=pw` -> `...&password=***`
    /// (libpq takes `password`, `sslpassword` and the like there too).
    ///
    /// The userinfo is what precedes the last `@` before the query, so a password with a
    /// raw `/` or `@` in it is hidden whole; text without `://` is returned as is.
    public static func redactURL(_ s: String) -> String {
        guard let scheme = s.range(of: "://") else { return s }
        let rest = s[scheme.upperBound...]
        let queryStart = rest.firstIndex(of: "?") ?? rest.endIndex
        var head = String(rest[..<queryStart])
        if let at = head.lastIndex(of: "@"), let colon = head[..<at].firstIndex(of: ":") {
            head = String(head[...colon]) + "***" + String(head[at...])
        }
        var out = String(s[..<scheme.upperBound]) + head
        guard queryStart < rest.endIndex else { return out }
        let query = rest[rest.index(after: queryStart)...]
        out += "?" + query.split(separator: "&", omittingEmptySubsequences: false).map { pair in
            guard let eq = pair.firstIndex(of: "="), isSecretKey(String(pair[..<eq])) else { return String(pair) }
            return String(pair[...eq]) + "***"
        }.joined(separator: "&")
        return out
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
