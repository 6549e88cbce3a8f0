/// Which web pages may call the chat API (CORS). A request without an `Origin` header
/// (not from a browser page, or a same-origin GET) passes; one from the gateway's own
/// origin passes; one from an origin in `allowed_origins` passes and gets the CORS
/// headers; every other origin is refused with 403. A value type; thread-safe.
public struct OriginPolicy: Sendable {
    public let allowed: Set<String>
    public let any: Bool
    public init(allowed: [String]) {
        self.allowed = Set(allowed.filter { $0 != "*" })
        any = allowed.contains("*")
    }

    public enum Verdict: Sendable, Equatable {
        /// No Origin or the gateway's own: no CORS headers needed.
        case sameOrigin
        /// An allowed cross origin: answer with these CORS headers.
        case cors(String)
        case refused
    }

    /// `host` is the request's Host header (the gateway's own authority).
    public func check(origin: String?, host: String?) -> Verdict {
        guard let origin, !origin.isEmpty else { return .sameOrigin }
        if let host, let authority = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first,
           authority == host, origin.hasPrefix("http://") || origin.hasPrefix("https://") {
            return .sameOrigin
        }
        if any || allowed.contains(origin) { return .cors(origin) }
        return .refused
    }

    public static func corsHeaders(_ origin: String) -> [(String, String)] {
        [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
         ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
         ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
         ("Access-Control-Max-Age", "600")]
    }
}
