import Foundation
import Digests

/// Twilio's webhook signature (`X-Twilio-Signature`), computed exactly as Twilio does:
/// the full URL Twilio requested, then every POST parameter sorted by name with its
/// name and value appended (no separators), HMAC-SHA1 keyed with the auth token,
/// base64. Requests with a JSON body carry `bodySHA256=<hex sha256 of the body>` in the
/// URL's query instead of parameters.
///
/// Like Twilio's own validators, a signature is accepted for the URL as given, the URL
/// without its port and the URL with the scheme's default port added (Twilio signs
/// whichever form it used to reach you). Comparison is constant-time.
///
/// A value type holding the key's HMAC states (made once per auth token); thread-safe.
public struct TwilioSignature: Sendable {
    /// The HMAC algorithm, from the `X-Twilio-Webhooks-Signature-Settings` header
    /// (`algorithm=HMAC_SHA256`); HMAC-SHA1 when the header is absent.
    public enum Algorithm: String, Sendable { case hmacSHA1 = "HMAC_SHA1", hmacSHA256 = "HMAC_SHA256" }

    private let sha1: Digest.HMACKey
    private let sha256: Digest.HMACKey
    /// `authToken`: the account's auth token (the secret Twilio signs with).
    public init(authToken: String) {
        sha1 = Digest.HMACKey(.sha1, key: Array(authToken.utf8))
        sha256 = Digest.HMACKey(.sha256, key: Array(authToken.utf8))
    }

    /// The base64 signature of `url` with `params` (several values of one name are
    /// sorted and each appended, duplicates once, as twilio-python does).
    public func compute(url: String, params: [(String, String)], algorithm: Algorithm = .hmacSHA1) -> String {
        // Sorted by name, then value (byte order, as Python sorts str); exact duplicates once.
        let sorted = params.sorted {
            $0.0 == $1.0 ? $0.1.utf8Precedes($1.1) : $0.0.utf8Precedes($1.0)
        }
        var data = Array(url.utf8)
        data.reserveCapacity(data.count + sorted.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count })
        var previous: (String, String)?
        for p in sorted {
            if let q = previous, q.0 == p.0, q.1 == p.1 { continue }
            data.append(contentsOf: p.0.utf8)
            data.append(contentsOf: p.1.utf8)
            previous = p
        }
        let mac = (algorithm == .hmacSHA1 ? sha1 : sha256).mac(data)
        return Data(mac).base64EncodedString()
    }

    /// True if `signature` is valid for a form request to `url` with `params`.
    public func isValid(signature: String, url: String, params: [(String, String)], algorithm: Algorithm = .hmacSHA1) -> Bool {
        let given = Array(signature.utf8)
        // Each comparison is constant-time; trying the URL as received first only tells
        // a timing observer which URL form matched, which is not secret.
        if Digest.constantTimeEqual(Array(compute(url: url, params: params, algorithm: algorithm).utf8), given) { return true }
        for candidate in Self.urlVariants(url).dropFirst() {
            if Digest.constantTimeEqual(Array(compute(url: candidate, params: params, algorithm: algorithm).utf8), given) { return true }
        }
        return false
    }

    /// True if `signature` is valid for a request whose raw body is `body` and whose URL
    /// carries `bodySHA256` (JSON webhooks): the body hash must match and the signature
    /// is computed over the URL alone. False when the URL has no `bodySHA256`.
    public func isValidBodySHA256(signature: String, url: String, body: [UInt8], algorithm: Algorithm = .hmacSHA1) -> Bool {
        guard let expected = FormEncoding.queryValue(url, "bodySHA256") else { return false }
        let bodyOK = Digest.constantTimeEqual(Array(Digest.hex(Digest.sha256(body)).utf8), Array(expected.lowercased().utf8))
        let sigOK = isValid(signature: signature, url: url, params: [], algorithm: algorithm)
        return bodyOK && sigOK
    }

    /// The algorithm named by an `X-Twilio-Webhooks-Signature-Settings` header
    /// (`key=...,algorithm=HMAC_SHA256`); nil for an algorithm this code does not know.
    public static func algorithm(settingsHeader: String?) -> Algorithm? {
        for part in (settingsHeader ?? "").split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == "algorithm" {
                let v = kv[1].trimmingCharacters(in: .whitespaces)
                if !v.isEmpty { return Algorithm(rawValue: v.uppercased()) }
            }
        }
        return .hmacSHA1
    }

    /// The URL as given, without its port, and with the scheme's default port
    /// (https 443, http 80), without duplicates.
    public static func urlVariants(_ url: String) -> [String] {
        guard let schemeEnd = url.range(of: "://") else { return [url] }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let tail = String(rest[authorityEnd...])
        let prefix = String(url[..<schemeEnd.upperBound])
        // The port is after the last ':' following any IPv6 literal's ']'.
        let hostEnd = authority.lastIndex(of: "]") ?? authority.startIndex
        var withoutPort = String(authority), withPort = String(authority)
        if let colon = authority[hostEnd...].lastIndex(of: ":"), authority[authority.index(after: colon)...].allSatisfy(\.isNumber) {
            withoutPort = String(authority[..<colon])
        } else {
            withPort = String(authority) + (scheme == "https" ? ":443" : ":80")
        }
        var out = [url]
        for v in [prefix + withoutPort + tail, prefix + withPort + tail] where !out.contains(v) { out.append(v) }
        return out
    }
}
