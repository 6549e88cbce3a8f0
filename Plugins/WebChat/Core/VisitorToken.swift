import Foundation
import Digests

/// The signed, expiring token that identifies a web chat visitor:
/// `v1.<visitor id>.<expiry, Unix seconds>.<signature>` where the signature is the
/// lower-case hex HMAC-SHA256 of everything before it under the configured secret.
/// Whoever holds a token is that visitor; nobody can make one for another visitor
/// without the secret. A value type; thread-safe.
public struct VisitorToken: Sendable {
    let key: [UInt8]
    public init(secret: String) { key = Array(secret.utf8) }

    /// A new visitor id: 128 random bits as 32 hex digits.
    public static func newVisitorId() -> String {
        var g = SystemRandomNumberGenerator()
        return Digest.hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &g) })
    }

    public func issue(visitor: String, expires: Int64) -> String {
        let payload = "v1.\(visitor).\(expires)"
        return payload + "." + Digest.hex(Digest.hmac(.sha256, key: key, message: Array(payload.utf8)))
    }

    public enum Verdict: Sendable, Equatable {
        case valid(visitor: String, expires: Int64)
        case expired
        case invalid
    }

    /// Checks the signature (constant time) and the expiry against `now` (Unix seconds).
    public func verify(_ token: String, now: Int64) -> Verdict {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", parts[1].count == 32, parts[1].allSatisfy(\.isHexDigit),
              let expires = Int64(parts[2]) else { return .invalid }
        let payload = "v1.\(parts[1]).\(parts[2])"
        let expected = Digest.hex(Digest.hmac(.sha256, key: key, message: Array(payload.utf8)))
        guard Digest.constantTimeEqual(Array(expected.utf8), Array(parts[3].utf8)) else { return .invalid }
        return expires > now ? .valid(visitor: String(parts[1]), expires: expires) : .expired
    }
}
