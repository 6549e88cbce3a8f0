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
        let (a, b) = (g.next(), g.next())
        return Digest.hex((0..<16).map { UInt8(truncatingIfNeeded: ($0 < 8 ? a : b) >> (8 * UInt64($0 % 8))) })
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
    /// Works on the token's bytes: `v1.` + 32 hex digits + `.` + the expiry's digits + `.` +
    /// the 64 hex digits of the signature, nothing else.
    public func verify(_ token: String, now: Int64) -> Verdict {
        let u = Array(token.utf8)
        let dot = UInt8(ascii: ".")
        guard u.count > 3 + 32 + 1 + 1 + 64, u[0] == UInt8(ascii: "v"), u[1] == UInt8(ascii: "1"), u[2] == dot, u[35] == dot,
              u[3..<35].allSatisfy(Self.isHex), let last = u.lastIndex(of: dot), last > 36, u.count - last - 1 == 64,
              let expires = Int64(String(decoding: u[36..<last], as: UTF8.self)) else { return .invalid }
        let expected = Digest.hex(Digest.hmac(.sha256, key: key, message: Array(u[..<last])))
        guard Digest.constantTimeEqual(Array(expected.utf8), Array(u[(last + 1)...])) else { return .invalid }
        return expires > now ? .valid(visitor: String(decoding: u[3..<35], as: UTF8.self), expires: expires) : .expired
    }

    static func isHex(_ c: UInt8) -> Bool {
        (48...57).contains(c) || (65...70).contains(c) || (97...102).contains(c)
    }
}
