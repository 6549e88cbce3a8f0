import Foundation
import Digests

/// Verification of Stripe's `Stripe-Signature` webhook header:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=...][,v0=...]`, where each `v1` is
/// HMAC-SHA256(webhook_secret, t + "." + raw body). Any one matching `v1` is enough
/// (Stripe sends several while a secret is being rolled).
///
/// Immutable, thread-safe. The secret is never logged or put into an error.
struct StripeSignature: Sendable {
    let secret: [UInt8]
    /// Seconds a signature stays valid (a replay older than this is refused).
    let tolerance: Int64

    init(secret: String, tolerance: Int64) {
        self.secret = Array(secret.utf8)
        self.tolerance = tolerance
    }

    /// Why a webhook was refused; the reason is safe to log and answer with.
    struct Rejection: Error, Equatable, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    /// The `v1` signature of `body` at `timestamp` (lower-case hex).
    func sign(timestamp: Int64, body: [UInt8]) -> String {
        Digest.hex(Digest.hmac(.sha256, key: secret, message: Array("\(timestamp).".utf8) + body))
    }

    /// Accepts the request or throws a Rejection. `now` is Unix seconds.
    func verify(header: String?, body: [UInt8], now: Int64) throws(Rejection) {
        guard let header, !header.isEmpty else { throw Rejection(reason: "missing Stripe-Signature header") }
        var timestamp: Int64?
        var candidates: [String] = []
        for part in header.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let key = kv[0].trimmingCharacters(in: .whitespaces), value = kv[1].trimmingCharacters(in: .whitespaces)
            if key == "t" { timestamp = Int64(value) }
            else if key == "v1" { candidates.append(value) }
        }
        guard let t = timestamp else { throw Rejection(reason: "Stripe-Signature has no valid timestamp (t=)") }
        guard !candidates.isEmpty else { throw Rejection(reason: "Stripe-Signature has no v1 signature") }
        let expected = Array(sign(timestamp: t, body: body).utf8)
        // Compare every candidate (no early exit), each in constant time.
        var matched = false
        for c in candidates where Digest.constantTimeEqual(Array(c.lowercased().utf8), expected) { matched = true }
        guard matched else { throw Rejection(reason: "no v1 signature matches the body (wrong webhook_secret or altered body)") }
        if now - t > tolerance { throw Rejection(reason: "signature timestamp is \(now - t)s old, more than the tolerance of \(tolerance)s") }
        if t - now > tolerance { throw Rejection(reason: "signature timestamp is \(t - now)s in the future, more than the tolerance of \(tolerance)s") }
    }
}
