import COpenSSL

/// SHA-1, SHA-256, HMAC and a constant-time compare from the system's libcrypto, for the
/// plugins that check webhook signatures (Twilio: HMAC-SHA1/SHA-256 and `bodySHA256`;
/// Stripe: HMAC-SHA256).
///
/// Pure functions on byte arrays: thread-safe (libcrypto's one-shot digests keep no shared
/// state). A plain target compiled into each plugin that uses it: it holds no globals, so
/// the copies cannot disagree; libcrypto itself is one shared system library.
public enum Digest {
    /// A hash function libcrypto provides.
    public enum Algorithm: Sendable {
        case sha1, sha256

        var size: Int { self == .sha1 ? 20 : 32 }
        var md: OpaquePointer? { self == .sha1 ? EVP_sha1() : EVP_sha256() }
    }

    /// The digest of `message` (20 bytes for SHA-1, 32 for SHA-256).
    public static func hash(_ algorithm: Algorithm, _ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: algorithm.size)
        var outLen: UInt32 = 0
        let ok = nonEmpty(message).withUnsafeBufferPointer { m in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(m.baseAddress, message.count, o.baseAddress, &outLen, algorithm.md, nil)
            }
        }
        precondition(ok == 1 && Int(outLen) == algorithm.size, "libcrypto EVP_Digest failed")
        return out
    }

    /// SHA-1 of `message`.
    public static func sha1(_ message: [UInt8]) -> [UInt8] { hash(.sha1, message) }
    /// SHA-256 of `message`.
    public static func sha256(_ message: [UInt8]) -> [UInt8] { hash(.sha256, message) }

    /// HMAC (RFC 2104) of `message` under `key`.
    public static func hmac(_ algorithm: Algorithm, key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: algorithm.size)
        var outLen: UInt32 = 0
        nonEmpty(key).withUnsafeBufferPointer { k in
            nonEmpty(message).withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { o in
                    _ = HMAC(algorithm.md, k.baseAddress, Int32(key.count), m.baseAddress, message.count, o.baseAddress, &outLen)
                }
            }
        }
        precondition(Int(outLen) == algorithm.size, "libcrypto HMAC failed")
        return out
    }

    /// Lower-case hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0x0f)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `a` equals `b`, in time that depends only on the lengths (CRYPTO_memcmp).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }

    /// A buffer of at least one byte, so its base address is never NULL (libcrypto is given
    /// the real length).
    private static func nonEmpty(_ bytes: [UInt8]) -> [UInt8] { bytes.isEmpty ? [0] : bytes }
}
