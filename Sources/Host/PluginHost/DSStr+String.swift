import PluginAPI

extension ds_str {
    /// The bytes as a Swift String (copies; invalid UTF-8 is repaired).
    var string: String {
        guard let p = ptr, len > 0 else { return "" }
        return p.withMemoryRebound(to: UInt8.self, capacity: len) {
            String(decoding: UnsafeBufferPointer(start: $0, count: len), as: UTF8.self)
        }
    }
    var bytes: [UInt8] {
        guard let p = ptr, len > 0 else { return [] }
        return p.withMemoryRebound(to: UInt8.self, capacity: len) { Array(UnsafeBufferPointer(start: $0, count: len)) }
    }
    static var empty: ds_str { ds_str(ptr: nil, len: 0) }
}

/// Calls `body` with a ds_str viewing the string's UTF-8 bytes (valid during the call only).
@inline(__always)
func withDSStr<R>(_ s: String, _ body: (ds_str) throws -> R) rethrows -> R {
    var s = s
    return try s.withUTF8 { buf in
        try buf.withMemoryRebound(to: CChar.self) { try body(ds_str(ptr: $0.baseAddress, len: $0.count)) }
    }
}

/// Holds C copies of strings and arrays for one host->plugin call; frees them at deinit.
/// Not thread-safe: one arena per call.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    func str(_ s: String) -> ds_str {
        var s = s
        return s.withUTF8 { buf in
            guard buf.count > 0 else { return ds_str.empty }
            let p = UnsafeMutableRawPointer.allocate(byteCount: buf.count, alignment: 1)
            p.copyMemory(from: buf.baseAddress!, byteCount: buf.count)
            blocks.append(p)
            return ds_str(ptr: p.assumingMemoryBound(to: CChar.self), len: buf.count)
        }
    }
    func bytes(_ b: [UInt8]) -> ds_str {
        guard !b.isEmpty else { return ds_str.empty }
        let p = UnsafeMutableRawPointer.allocate(byteCount: b.count, alignment: 1)
        b.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: b.count) }
        blocks.append(p)
        return ds_str(ptr: p.assumingMemoryBound(to: CChar.self), len: b.count)
    }
    func array<T>(_ items: [T]) -> UnsafePointer<T>? {
        guard !items.isEmpty else { return nil }
        let p = UnsafeMutablePointer<T>.allocate(capacity: items.count)
        p.initialize(from: items, count: items.count)
        blocks.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }
    func kvs(_ pairs: [(String, String)]) -> UnsafePointer<ds_kv>? {
        array(pairs.map { ds_kv(key: str($0.0), value: str($0.1)) })
    }
    deinit { for b in blocks { b.deallocate() } }
}

func kvPairs(_ p: UnsafePointer<ds_kv>?, _ n: Int) -> [(String, String)] {
    guard let p else { return [] }
    return (0..<n).map { (p[$0].key.string, p[$0].value.string) }
}
