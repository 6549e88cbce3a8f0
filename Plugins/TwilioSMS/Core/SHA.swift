/// SHA-1 and SHA-256 (FIPS 180-4) and HMAC (RFC 2104) in plain Swift, so the Twilio
/// plugin links no crypto library. Used for webhook signatures (HMAC-SHA1, optionally
/// HMAC-SHA256) and the `bodySHA256` check.
///
/// Pure functions on byte arrays: thread-safe, no shared state.
public enum SHA {
    /// The SHA-1 chaining state (five words), the initial value or the state after
    /// some whole 64-byte blocks.
    public struct SHA1State: Sendable {
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32)
        public static let initial = SHA1State(h: (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0))
    }

    /// The SHA-1 digest (20 bytes) of `message`.
    public static func sha1(_ message: [UInt8]) -> [UInt8] { sha1(message, from: .initial, prefixBytes: 0) }

    /// SHA-1 of (prefix ‖ message) where `state` is the state after the `prefixBytes`
    /// bytes of the prefix (a multiple of 64). Lets HMAC hash its key pads once.
    static func sha1(_ message: [UInt8], from state: SHA1State, prefixBytes: Int) -> [UInt8] {
        var st = state
        var w = [UInt32](repeating: 0, count: 80)
        let full = message.count / 64 * 64
        message.withUnsafeBufferPointer { m in
            var i = 0
            while i < full { sha1Block(&st, m.baseAddress! + i, &w); i += 64 }
        }
        var tail = Array(message[full...])
        let bitLength = UInt64(prefixBytes + message.count) &* 8
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        tail.withUnsafeBufferPointer { t in
            var i = 0
            while i < t.count { sha1Block(&st, t.baseAddress! + i, &w); i += 64 }
        }
        return [st.h.0, st.h.1, st.h.2, st.h.3, st.h.4].flatMap(bytes)
    }

    /// The state after one 64-byte block from `state`.
    static func sha1State(after block: [UInt8], from state: SHA1State) -> SHA1State {
        precondition(block.count == 64)
        var st = state
        var w = [UInt32](repeating: 0, count: 80)
        block.withUnsafeBufferPointer { sha1Block(&st, $0.baseAddress!, &w) }
        return st
    }

    @inline(__always)
    private static func sha1Block(_ st: inout SHA1State, _ p: UnsafePointer<UInt8>, _ w: inout [UInt32]) {
        for i in 0..<16 {
            w[i] = UInt32(p[i * 4]) << 24 | UInt32(p[i * 4 + 1]) << 16 | UInt32(p[i * 4 + 2]) << 8 | UInt32(p[i * 4 + 3])
        }
        for i in 16..<80 { w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
        var (a, b, c, d, e) = st.h
        for i in 0..<80 {
            let f: UInt32, k: UInt32
            switch i {
            case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
            case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
            case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
            default: f = b ^ c ^ d; k = 0xCA62_C1D6
            }
            let t = rotl(a, 5) &+ f &+ e &+ k &+ w[i]
            e = d; d = c; c = rotl(b, 30); b = a; a = t
        }
        st.h = (st.h.0 &+ a, st.h.1 &+ b, st.h.2 &+ c, st.h.3 &+ d, st.h.4 &+ e)
    }

    /// An HMAC-SHA1 key with its inner and outer pads already hashed, for many MACs
    /// under one key (every webhook is signed with the same auth token).
    public struct HMACSHA1Key: Sendable {
        let inner: SHA1State
        let outer: SHA1State
        public init(_ key: [UInt8]) {
            var k = key.count > 64 ? SHA.sha1(key) : key
            k += [UInt8](repeating: 0, count: 64 - k.count)
            inner = SHA.sha1State(after: k.map { $0 ^ 0x36 }, from: .initial)
            outer = SHA.sha1State(after: k.map { $0 ^ 0x5c }, from: .initial)
        }
        /// HMAC-SHA1 of `message`.
        public func mac(_ message: [UInt8]) -> [UInt8] {
            SHA.sha1(SHA.sha1(message, from: inner, prefixBytes: 64), from: outer, prefixBytes: 64)
        }
    }

    private static let k256: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// The SHA-256 digest (32 bytes) of `message`.
    public static func sha256(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var w = [UInt32](repeating: 0, count: 64)
        forEachBlock(padded(message)) { block in
            for i in 0..<16 { w[i] = bigEndianWord(block, i * 4) }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
            for i in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ k256[i] &+ w[i]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
            }
            h[0] = h[0] &+ a; h[1] = h[1] &+ b; h[2] = h[2] &+ c; h[3] = h[3] &+ d
            h[4] = h[4] &+ e; h[5] = h[5] &+ f; h[6] = h[6] &+ g; h[7] = h[7] &+ hh
        }
        return h.flatMap(bytes)
    }

    /// The hash functions HMAC can use.
    public enum Algorithm: Sendable {
        case sha1, sha256
        func digest(_ m: [UInt8]) -> [UInt8] { self == .sha1 ? SHA.sha1(m) : SHA.sha256(m) }
    }

    /// HMAC of `message` under `key` (RFC 2104; both hashes have 64-byte blocks).
    public static func hmac(_ algorithm: Algorithm, key: [UInt8], message: [UInt8]) -> [UInt8] {
        var k = key.count > 64 ? algorithm.digest(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        let inner = algorithm.digest(k.map { $0 ^ 0x36 } + message)
        return algorithm.digest(k.map { $0 ^ 0x5c } + inner)
    }

    /// Lower-case hexadecimal of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](); out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Compares two byte strings in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    // MARK: - Helpers

    private static func padded(_ message: [UInt8]) -> [UInt8] {
        var m = message
        let bitLength = UInt64(message.count) &* 8
        m.append(0x80)
        while m.count % 64 != 56 { m.append(0) }
        for i in (0..<8).reversed() { m.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        return m
    }

    private static func forEachBlock(_ m: [UInt8], _ body: (ArraySlice<UInt8>) -> Void) {
        var i = 0
        while i < m.count { body(m[i..<(i + 64)]); i += 64 }
    }

    @inline(__always) private static func bigEndianWord(_ b: ArraySlice<UInt8>, _ offset: Int) -> UInt32 {
        let s = b.startIndex + offset
        return UInt32(b[s]) << 24 | UInt32(b[s + 1]) << 16 | UInt32(b[s + 2]) << 8 | UInt32(b[s + 3])
    }

    @inline(__always) private static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }
    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
    private static func bytes(_ w: UInt32) -> [UInt8] { [UInt8(w >> 24), UInt8(truncatingIfNeeded: w >> 16), UInt8(truncatingIfNeeded: w >> 8), UInt8(truncatingIfNeeded: w)] }
}
