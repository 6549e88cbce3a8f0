import PluginAPI
#if canImport(Glibc)
import Glibc
#endif

extension ds_str {
    /// The bytes as a Swift String (invalid UTF-8 is repaired). Copies.
    public var string: String {
        guard let p = ptr, len > 0 else { return "" }
        return p.withMemoryRebound(to: UInt8.self, capacity: len) {
            String(decoding: UnsafeBufferPointer(start: $0, count: len), as: UTF8.self)
        }
    }
    /// The bytes as an array. Copies.
    public var bytes: [UInt8] {
        guard let p = ptr, len > 0 else { return [] }
        return p.withMemoryRebound(to: UInt8.self, capacity: len) { Array(UnsafeBufferPointer(start: $0, count: len)) }
    }
    static var empty: ds_str { ds_str(ptr: nil, len: 0) }
}

/// Owns C copies of Swift strings for the duration of one boundary crossing.
/// Not thread-safe: one arena per call. Frees everything at deinit.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    func str(_ s: String) -> ds_str {
        var s = s
        return s.withUTF8 { buf in
            guard buf.count > 0 else { return ds_str.empty }
            let p = malloc(buf.count)!
            memcpy(p, buf.baseAddress!, buf.count)
            blocks.append(p)
            return ds_str(ptr: p.assumingMemoryBound(to: CChar.self), len: buf.count)
        }
    }
    func bytes(_ b: [UInt8]) -> ds_str {
        guard !b.isEmpty else { return ds_str.empty }
        let p = malloc(b.count)!
        b.withUnsafeBytes { _ = memcpy(p, $0.baseAddress!, b.count) }
        blocks.append(p)
        return ds_str(ptr: p.assumingMemoryBound(to: CChar.self), len: b.count)
    }
    func kvs(_ pairs: [(String, String)]) -> UnsafePointer<ds_kv>? {
        guard !pairs.isEmpty else { return nil }
        let raw = malloc(MemoryLayout<ds_kv>.stride * pairs.count)!
        let p = raw.bindMemory(to: ds_kv.self, capacity: pairs.count)
        for (i, (k, v)) in pairs.enumerated() { p[i] = ds_kv(key: str(k), value: str(v)) }
        blocks.append(raw)
        return UnsafePointer(p)
    }
    deinit {
        for b in blocks { free(b) }
    }
}

/// Copies a NUL-terminated string into static (never freed) storage.
func staticCString(_ s: String?) -> UnsafePointer<CChar>? {
    guard let s else { return nil }
    return UnsafePointer(strdup(s))
}

func kvPairs(_ p: UnsafePointer<ds_kv>?, _ n: Int) -> [(String, String)] {
    guard let p else { return [] }
    return (0..<n).map { (p[$0].key.string, p[$0].value.string) }
}
