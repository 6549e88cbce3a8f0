import Foundation
import PluginKit
#if canImport(Glibc)
import Glibc
#endif

/// `file-sink`: events as JSON Lines in one file, rotated by size and by (UTC) day,
/// keeping `keep` rotated files; `fsync: always | interval | never`; reopens its file on
/// SIGHUP (so logrotate can move it away).
///
/// Threading: the host never calls `write` concurrently on one instance; a lock still
/// guards the file because the SIGHUP handler and the fsync timer run on other threads.
/// Unchecked Sendable: every `var` only under `lock`; the rest is immutable.
final class FileSink: LogSink, @unchecked Sendable {
    struct Config: Decodable {
        var path: String
        var rotate_bytes: Int?
        var rotate_daily: Bool?
        var keep: Int?
        var fsync: String?
        var fsync_interval_ms: Int?
    }

    let host: PluginHost
    let path: String
    let rotateBytes: Int
    let rotateDaily: Bool
    let keep: Int
    let fsyncMode: String
    private let lock = NSLock()
    private var fd: Int32 = -1
    private var size = 0
    private var day = ""
    private var dirty = false
    private var recentIds = RecentIds(capacity: 100_000)
    private var timer: PluginHost.Timer?

    init(host: PluginHost, config: PluginConfig) throws {
        self.host = host
        let c = try config.decode(Config.self)
        path = c.path
        rotateBytes = c.rotate_bytes ?? 100 * 1024 * 1024
        rotateDaily = c.rotate_daily ?? true
        keep = c.keep ?? 7
        fsyncMode = c.fsync ?? "interval"
        guard ["always", "interval", "never"].contains(fsyncMode) else { throw PluginError.config("fsync: must be always, interval or never") }
        try Self.makePrivateDirectory((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent)
        try lock.withLock { try open() }
        if fsyncMode == "interval" {
            let ms = UInt64(c.fsync_interval_ms ?? 1000)
            timer = host.timer(afterMs: ms, everyMs: ms) { [weak self] in self?.syncIfDirty() }
        }
        SighupHub.shared.register(self)
    }

    func shutdown() {
        timer?.cancel()
        SighupHub.shared.unregister(self)
        lock.withLock {
            if fd >= 0 { fsync(fd); close(fd); fd = -1 }
        }
    }

    private static func utcDay(_ date: Date = Date()) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d-%02d-%02d", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday))
    }

    /// Creates the missing folders of `dir` with mode 0700 (existing ones are left alone).
    static func makePrivateDirectory(_ dir: String) throws {
        var isDir: ObjCBool = false
        if dir.isEmpty || FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) { return }
        try makePrivateDirectory((dir as NSString).deletingLastPathComponent)
        guard mkdir(dir, 0o700) == 0 || errno == EEXIST else {
            throw PluginError.unavailable("cannot create \(dir): \(String(cString: strerror(errno)))")
        }
        _ = chmod(dir, 0o700)
    }

    /// Opens (or creates) the file for appending. Caller holds the lock.
    private func open() throws {
        // A new log is private (0600) whatever the umask: events may carry message bodies.
        // An existing one keeps the mode the operator gave it.
        let created = access(path, F_OK) != 0
        fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PluginError.unavailable("cannot open \(path): \(String(cString: strerror(errno)))") }
        if created { _ = fchmod(fd, 0o600) }
        var st = stat()
        fstat(fd, &st)
        size = Int(st.st_size)
        day = size == 0 ? Self.utcDay() : Self.utcDay(Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec)))
    }

    /// SIGHUP: close and reopen the path (a logrotate may have moved the old file away).
    func reopen() {
        lock.withLock {
            if fd >= 0 { fsync(fd); close(fd); fd = -1 }
            do { try open() } catch { host.log(.error, "file-sink: reopen failed: \(error)") }
        }
        host.log(.info, "file-sink: reopened \(path)")
    }

    private func syncIfDirty() {
        lock.withLock { if dirty && fd >= 0 { fsync(fd); dirty = false } }
    }

    /// Moves the current file to PATH.<UTC timestamp> and drops rotated files beyond `keep`.
    private func rotate() throws {
        if fd >= 0 { fsync(fd); close(fd); fd = -1 }
        var t = time_t(Date().timeIntervalSince1970)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        let stamp = String(format: "%04d%02d%02d-%02d%02d%02d", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday),
                           Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec))
        var target = "\(path).\(stamp)"
        var n = 1
        while FileManager.default.fileExists(atPath: target) { target = "\(path).\(stamp)-\(n)"; n += 1 }
        if rename(path, target) != 0 && errno != ENOENT {
            throw PluginError.unavailable("cannot rotate \(path): \(String(cString: strerror(errno)))")
        }
        let dir = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent + "."
        let rotated = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasPrefix(base) && $0.dropFirst(base.count).first?.isNumber == true }
            .sorted()
        for old in rotated.dropLast(keep) { try? FileManager.default.removeItem(atPath: (dir as NSString).appendingPathComponent(old)) }
        try open()
    }

    func write(_ events: [String]) async throws -> SinkResult {
        try lock.withLock {
            if fd < 0 { try open() }
            var out = ""
            for e in events {
                if let id = Self.eventId(e) { if !recentIds.insert(id) { continue } }   // already written (a retried batch)
                out += e
                out += "\n"
            }
            if out.isEmpty { return .written }
            let bytes = out.utf8.count
            if size > 0 && (size + bytes > rotateBytes || (rotateDaily && Self.utcDay() != day)) { try rotate() }
            var buf = Array(out.utf8)
            var off = 0
            while off < buf.count {
                let n = buf.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw PluginError.retry("write to \(path) failed: \(String(cString: strerror(errno)))")
                }
                off += n
            }
            buf.removeAll()
            size += bytes
            if fsyncMode == "always" { fsync(fd) } else { dirty = true }
            return .written
        }
    }

    func flush() async throws {
        lock.withLock { if fd >= 0 { fsync(fd); dirty = false } }
    }

    /// The "id" of an event line, found without a full parse (events start {"v":1,"id":"…").
    static func eventId(_ line: String) -> Substring? {
        guard let r = line.range(of: "\"id\":\"") else { return nil }
        guard let end = line[r.upperBound...].firstIndex(of: "\"") else { return nil }
        return line[r.upperBound..<end]
    }
}

/// One SIGHUP source for the whole process, fanning out to every file-sink instance.
/// (Setting SIG_IGN again after libdispatch installed its handler would silence the source,
/// so it is done exactly once, here.) Thread-safe.
/// Unchecked Sendable: `sinks` only under `lock`; `source` is immutable and thread-safe.
final class SighupHub: @unchecked Sendable {
    static let shared = SighupHub()
    private let lock = NSLock()
    private var sinks: [ObjectIdentifier: FileSinkRef] = [:]
    private let source: DispatchSourceSignal

    struct FileSinkRef { weak var sink: FileSink? }

    private init() {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { [unowned self] in
            let all = lock.withLock { sinks.values.compactMap(\.sink) }
            for s in all { s.reopen() }
        }
        source.resume()
    }

    func register(_ s: FileSink) { lock.withLock { sinks[ObjectIdentifier(s)] = FileSinkRef(sink: s) } }
    func unregister(_ s: FileSink) { lock.withLock { _ = sinks.removeValue(forKey: ObjectIdentifier(s)) } }
}

/// The last `capacity` ids seen, for skipping a batch written twice.
struct RecentIds {
    let capacity: Int
    private var set: Set<Substring> = []
    private var order: [Substring] = []
    private var next = 0
    init(capacity: Int) { self.capacity = capacity }

    /// Inserts; false if the id was already there.
    mutating func insert(_ id: Substring) -> Bool {
        let id = Substring(String(id))
        guard set.insert(id).inserted else { return false }
        if order.count < capacity { order.append(id) } else {
            set.remove(order[next])
            order[next] = id
            next = (next + 1) % capacity
        }
        return true
    }
}

@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "file-sink", name: "JSON Lines file sink", version: "1.0.0",
                 description: "Events as JSON Lines; rotation by size and day; fsync policy; SIGHUP reopens",
                 configSchema: #"""
                 {"type":"object","required":["path"],"additionalProperties":false,
                  "properties":{"path":{"type":"string","minLength":1},
                                "rotate_bytes":{"type":"integer","minimum":1024},
                                "rotate_daily":{"type":"boolean"},
                                "keep":{"type":"integer","minimum":0},
                                "fsync":{"enum":["always","interval","never"]},
                                "fsync_interval_ms":{"type":"integer","minimum":10}}}
                 """#,
                 logSink: FileSink.self).entry(host, major, minor)
}
