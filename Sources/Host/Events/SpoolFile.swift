import Foundation

/// An append-only JSON Lines file holding one sink's overflow, with a side file
/// recording how far it has been delivered. Survives restarts (and kill -9: appends go
/// to the page cache at once). Not thread-safe: the owning SinkPipeline serialises access.
final class SpoolFile {
    let path: String
    private let offsetPath: String
    private var writer: FileHandle?
    /// Byte offset of the first event not yet delivered.
    private(set) var readOffset: UInt64 = 0
    private(set) var size: UInt64 = 0

    init(path: String) throws {
        self.path = path
        offsetPath = path + ".offset"
        try PrivateFiles.prepare(path)   // 0600 in a 0700 folder: events carry message bodies
        size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value ?? 0
        if let d = FileManager.default.contents(atPath: offsetPath), let o = UInt64(String(decoding: d, as: UTF8.self)) {
            readOffset = min(o, size)
        }
    }

    /// True if undelivered events are in the file.
    var hasPending: Bool { readOffset < size }

    func append(_ line: String) throws {
        if writer == nil {
            writer = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try writer!.seekToEnd()
        }
        let data = Data((line + "\n").utf8)
        try writer!.write(contentsOf: data)
        size += UInt64(data.count)
    }

    /// Reads up to `max` events from the delivery offset; returns them and the offset after them.
    func read(max: Int) throws -> (events: [String], next: UInt64) {
        guard hasPending, let h = FileHandle(forReadingAtPath: path) else { return ([], readOffset) }
        defer { try? h.close() }
        try h.seek(toOffset: readOffset)
        var events: [String] = []
        var offset = readOffset
        var carry = Data()
        while events.count < max, offset < size {
            let chunk = try h.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { break }
            carry.append(chunk)
            var start = carry.startIndex
            while events.count < max, let nl = carry[start...].firstIndex(of: 0x0A) {
                let line = carry[start..<nl]
                if !line.isEmpty { events.append(String(decoding: line, as: UTF8.self)) }
                offset += UInt64(nl - start + 1)
                start = nl + 1
            }
            carry = Data(carry[start...])
        }
        return (events, offset)
    }

    /// Marks everything before `offset` delivered; empties the file once all is delivered.
    func commit(_ offset: UInt64) throws {
        readOffset = offset
        if readOffset >= size {
            try writer?.close()
            writer = nil
            try Data().write(to: URL(fileURLWithPath: path))
            size = 0
            readOffset = 0
            try? FileManager.default.removeItem(atPath: offsetPath)
        } else {
            try Data(String(offset).utf8).write(to: URL(fileURLWithPath: offsetPath), options: .atomic)
        }
    }

    /// Rewrites the file with only the undelivered events that `drop` keeps (an erasure):
    /// delivered bytes go too. `mapping` is an offset of the old file at an event boundary
    /// at or after the delivery offset (the end of a batch being delivered); returns where
    /// that point is in the new file. Returns also how many events were dropped.
    func remove(where drop: (String) -> Bool, mapping: UInt64?) throws -> (dropped: Int, mapped: UInt64?) {
        var kept: [String] = []
        var dropped = 0
        var newSize: UInt64 = 0
        var mapped: UInt64? = mapping.map { $0 <= readOffset ? 0 : $0 }
        while hasPending {
            let (e, next) = try read(max: 1)
            guard let line = e.first else { break }
            if drop(line) { dropped += 1 } else { kept.append(line); newSize += UInt64(line.utf8.count + 1) }
            readOffset = next
            if let m = mapping, m == next { mapped = newSize }
        }
        try writer?.close()
        writer = nil
        let text = kept.map { $0 + "\n" }.joined()
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        try PrivateFiles.prepare(path)
        size = UInt64(text.utf8.count)
        readOffset = 0
        try? FileManager.default.removeItem(atPath: offsetPath)
        return (dropped, mapped)
    }

    /// Rewrites the file as `first` followed by what is still undelivered (used at shutdown
    /// to keep older in-memory events ahead of newer spooled ones).
    func prepend(_ first: [String]) throws {
        guard !first.isEmpty else { return }
        var rest: [String] = []
        while hasPending {
            let (e, next) = try read(max: 10_000)
            if e.isEmpty { break }
            rest.append(contentsOf: e)
            readOffset = next
        }
        try writer?.close()
        writer = nil
        let text = (first + rest).map { $0 + "\n" }.joined()
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        size = UInt64(text.utf8.count)
        readOffset = 0
        try? FileManager.default.removeItem(atPath: offsetPath)
    }
}
