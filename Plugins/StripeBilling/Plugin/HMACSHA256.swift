import COpenSSL

/// HMAC-SHA256 and constant-time comparison, from the system's libcrypto.
/// Pure functions: thread-safe (libcrypto's one-shot HMAC keeps no shared state).
enum HMACSHA256 {
    /// HMAC-SHA256 of `message` under `key` (32 bytes).
    static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var outLen: UInt32 = 0
        // Buffers of at least one byte, so their base addresses are never NULL; the lengths are the real ones.
        let k = key.isEmpty ? [0] : key, m = message.isEmpty ? [0] : message
        k.withUnsafeBufferPointer { kp in
            m.withUnsafeBufferPointer { mp in
                out.withUnsafeMutableBufferPointer { o in
                    _ = HMAC(EVP_sha256(), kp.baseAddress, Int32(key.count), mp.baseAddress, message.count, o.baseAddress, &outLen)
                }
            }
        }
        precondition(outLen == 32, "HMAC-SHA256 failed")
        return out
    }

    /// Lower-case hex of `bytes`.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0x0f)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `a` equals `b`, in time that depends only on the lengths (CRYPTO_memcmp).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }
}
