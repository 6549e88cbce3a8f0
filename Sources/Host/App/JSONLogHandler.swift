import Foundation
import Logging
import Synchronization

/// A swift-log handler that writes one JSON object per line (`--log-format json`):
/// `{"time":"2026-12-02T19:18:27.123Z","level":"info","label":"darkspere","message":"…",
/// "correlation_id":"twilio:SM…","plugin":"twilio",…}` — the handler's and the call's
/// metadata flattened into the object (a call's value wins over the handler's), so a log
/// shipper can index `correlation_id`, `plugin`, `agent` and `session` without parsing text.
///
/// Threading: `log` may be called from any thread; each line is written with one `write(2)`
/// under a process-wide lock, so lines from concurrent threads never interleave.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let fd: Int32

    /// A handler writing to `fd` (standard error by default).
    public init(label: String, fd: Int32 = 2, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.fd = fd
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let line = Self.line(time: Date(), level: event.level, label: label, message: "\(event.message)", metadata: fields)
        Self.writeLock.withLock { _ in
            line.withCString { p in
                var off = 0
                let n = strlen(p)
                while off < n {
                    let w = write(fd, p + off, n - off)
                    if w <= 0 { if w < 0 && errno == EINTR { continue }; break }
                    off += w
                }
            }
        }
    }

    /// One log line, newline-terminated. The fixed keys come first; metadata keys follow in
    /// sorted order and never replace `time`, `level`, `label` or `message`.
    static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var out = "{\"time\":\"\(timestamp(time))\",\"level\":\"\(level.rawValue)\",\"label\":"
        appendString(label, to: &out)
        out += ",\"message\":"
        appendString(message, to: &out)
        for key in metadata.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            out += ","
            appendString(key, to: &out)
            out += ":"
            appendValue(metadata[key]!, to: &out)
        }
        out += "}\n"
        return out
    }

    static func appendValue(_ v: Logger.Metadata.Value, to out: inout String) {
        switch v {
        case .string(let s): appendString(s, to: &out)
        case .stringConvertible(let c): appendString(c.description, to: &out)
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() { if i > 0 { out += "," }; appendValue(e, to: &out) }
            out += "]"
        case .dictionary(let d):
            out += "{"
            for (i, k) in d.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                appendString(k, to: &out); out += ":"; appendValue(d[k]!, to: &out)
            }
            out += "}"
        }
    }

    /// `s` as a JSON string literal (RFC 8259 escapes; control characters as \u00XX).
    static func appendString(_ s: String, to out: inout String) { JSONText.appendQuoted(s, to: &out) }

    /// RFC 3339 UTC time with milliseconds.
    static func timestamp(_ d: Date) -> String {
        var t = time_t(d.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        let ms = Int((d.timeIntervalSince1970 - Double(t)) * 1000)
        func pad(_ v: Int32, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ms), 3))Z"
    }

    private static let writeLock = Mutex<Void>(())
}
