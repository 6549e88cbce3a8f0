#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension String {
    /// Whether `self` sorts before `other` by UTF-8 bytes (as Python sorts `str` and as
    /// Twilio sorts signature parameters): `utf8.lexicographicallyPrecedes`, one `memcmp`
    /// instead of a generic byte-by-byte walk (it showed at 0.9 % of the webhook path).
    func utf8Precedes(_ other: String) -> Bool {
        var a = self, b = other
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let n = Swift.min(x.count, y.count)
                let c = n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n)
                return c != 0 ? c < 0 : x.count < y.count
            }
        }
    }
}
