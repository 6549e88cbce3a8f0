import PluginAPI
import Foundation

/// The host's services as seen by one plugin instance.
///
/// Thread safety: every method may be called from any thread or task, concurrently.
/// Owned by the plugin instance; the underlying `ds_host` table and handle are owned
/// by the host and stay valid until the instance is destroyed.
/// Unchecked Sendable: immutable; `table` and `handle` are the host's, which the ABI lets any
/// thread use until the instance is destroyed.
public final class PluginHost: @unchecked Sendable {
    let table: UnsafePointer<ds_host>
    let handle: OpaquePointer?

    init(table: UnsafePointer<ds_host>, handle: OpaquePointer?) {
        self.table = table
        self.handle = handle
    }

    /// The host's ABI version.
    public var abiVersion: (major: Int, minor: Int) { (Int(table.pointee.abi_major), Int(table.pointee.abi_minor)) }

    // MARK: Logging

    public enum LogLevel: Int32, Sendable { case trace = 0, debug, info, warn, error }

    /// Writes a log line attributed to this instance. Never pass secrets.
    public func log(_ level: LogLevel, _ message: String) {
        var m = message
        m.withUTF8 { buf in
            buf.withMemoryRebound(to: CChar.self) { c in
                table.pointee.log(handle, level.rawValue, ds_str(ptr: c.baseAddress, len: c.count))
            }
        }
    }

    // MARK: Metrics

    public enum MetricKind: Int32, Sendable { case counter = 0, gauge = 1, histogram = 2 }

    /// A metric registered with the host, exposed on GET /metrics.
    /// Unchecked Sendable: immutable; the host's metric handle may be used from any thread (ABI).
    public struct Metric: @unchecked Sendable {
        let table: UnsafePointer<ds_host>
        let pointer: OpaquePointer
        /// Counter: adds `value`; gauge: sets it; histogram: observes it.
        public func record(_ value: Double) { table.pointee.metric_record(pointer, value) }
    }

    /// Registers (or finds) a metric; nil if the name is not a valid Prometheus name.
    public func metric(_ kind: MetricKind, _ name: String, help: String = "", labels: [(String, String)] = []) -> Metric? {
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        guard let p = table.pointee.metric(handle, kind.rawValue, arena.str(name), arena.str(help),
                                           arena.kvs(labels), labels.count) else { return nil }
        return Metric(table: table, pointer: p)
    }

    // MARK: HTTP client

    /// Performs an HTTP request through the host's shared client. Throws PluginError
    /// (.timeout, .unavailable, .invalid) when no HTTP response arrived; any HTTP status is returned.
    public func http(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<HTTPResponse, any Error>) in
            let box = Unmanaged.passRetained(HTTPCallbackBox(cont)).toOpaque()
            let arena = CArena()
            defer { withExtendedLifetime(arena) {} }
            var req = ds_http_request()
            req.struct_size = UInt32(MemoryLayout<ds_http_request>.size)
            req.method = arena.str(request.method)
            req.url = arena.str(request.url)
            req.headers = arena.kvs(request.headers)
            req.header_count = request.headers.count
            req.body = arena.bytes(request.body)
            req.timeout_ms = request.timeoutMs
            let status = table.pointee.http_request(handle, &req, pluginKitHTTPCallback, box)
            if status != DS_OK {
                Unmanaged<HTTPCallbackBox>.fromOpaque(box).release()
                cont.resume(throwing: PluginError(status: status, "http request refused by host"))
            }
        }
    }

    // MARK: Timers

    /// A running timer; cancel() stops it (after cancel returns the block is not running).
    /// The block stays retained until a one-shot timer has fired or the timer is cancelled.
    /// Unchecked Sendable: immutable; the host's timer handle may be cancelled from any thread
    /// (ABI); `box` is thread-safe.
    public final class Timer: @unchecked Sendable {
        let table: UnsafePointer<ds_host>
        let pointer: OpaquePointer?
        let box: TimerBox
        init(table: UnsafePointer<ds_host>, pointer: OpaquePointer?, box: TimerBox) {
            self.table = table; self.pointer = pointer; self.box = box
        }
        /// Stops the timer and drops the host's retain of the block. Safe to call more than
        /// once and after a one-shot timer fired.
        public func cancel() {
            guard let p = pointer else { return }
            if box.claimCancel() { table.pointee.timer_cancel(p) }
            box.releaseOnce()
        }
    }

    /// Runs `block` after `delayMs`, then every `intervalMs` if non-zero. The block runs on a host thread.
    /// Keep the returned Timer and cancel it when you stop; a repeating timer's block stays retained until then.
    @discardableResult
    public func timer(afterMs delayMs: UInt64, everyMs intervalMs: UInt64 = 0, _ block: @escaping @Sendable () -> Void) -> Timer {
        let box = TimerBox(block: block, oneShot: intervalMs == 0)
        let user = Unmanaged.passRetained(box)
        let p = table.pointee.timer_start(handle, delayMs, intervalMs, pluginKitTimerCallback, user.toOpaque())
        if p == nil { box.releaseOnce() }
        return Timer(table: table, pointer: p, box: box)
    }

    // MARK: Routes and inbound messages

    /// Registers an HTTP route on the host's server. Only valid during the plugin's init.
    /// The handler runs as a Swift task for each request: it starts on the host's I/O thread
    /// and runs there until it first suspends, then continues on the thread that resumed it
    /// (see `ResumingExecutor`): between suspensions it must not block.
    public func route(_ method: String, _ path: String, _ handler: @escaping @Sendable (RouteRequest) async -> HTTPResponse) throws {
        let box = Unmanaged.passRetained(RouteBox(table: table, handler: handler)).toOpaque()
        var err = ds_error()
        err.struct_size = UInt32(MemoryLayout<ds_error>.size)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        let status = table.pointee.route_register(handle, arena.str(method), arena.str(path), pluginKitRouteHandler, box, &err)
        if status != DS_OK {
            Unmanaged<RouteBox>.fromOpaque(box).release()
            throw PluginError(status: status, errorMessage(&err))
        }
    }

    /// Hands a received message to the router and waits for its verdict.
    public func submit(_ message: InboundMessage) async throws -> SubmitResult {
        try await submitWithMedia(message).result
    }

    /// `submit`, with the attachments of an inline reply (ABI 1.2; a channel that can send
    /// media inline, like TwiML `<Media>`, uses this).
    public func submitWithMedia(_ message: InboundMessage) async throws -> SubmitAnswer {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<SubmitAnswer, any Error>) in
            let box = Unmanaged.passRetained(SubmitBox(cont)).toOpaque()
            let arena = CArena()
            defer { withExtendedLifetime(arena) {} }
            var media: [ds_media] = message.media.map { ds_media(url: arena.str($0.url), content_type: arena.str($0.contentType)) }
            var m = ds_inbound_message()
            m.struct_size = UInt32(MemoryLayout<ds_inbound_message>.size)
            m.channel_message_id = arena.str(message.channelMessageId)
            m.from = arena.str(message.from)
            m.to = arena.str(message.to)
            m.text = arena.str(message.text)
            m.metadata = arena.str(message.metadata)
            let status: ds_status = media.withUnsafeMutableBufferPointer { buf in
                m.media = UnsafePointer(buf.baseAddress)
                m.media_count = buf.count
                return table.pointee.submit_inbound(handle, &m, pluginKitSubmitCallback, box)
            }
            if status != DS_OK {
                Unmanaged<SubmitBox>.fromOpaque(box).release()
                cont.resume(throwing: PluginError(status: status, "the host refused the message"))
            }
        }
    }

    /// Reports a delivery status for a message this channel sent. Returns false if the host knows no such message.
    @discardableResult
    public func reportStatus(providerMessageId: String, status: String, errorCode: Int32 = 0) -> Bool {
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        return table.pointee.report_status(handle, arena.str(providerMessageId), arena.str(status), errorCode) == DS_OK
    }

    // MARK: Environment

    /// Reads an environment variable or secret; nil if unset. Never log the value.
    public func env(_ name: String) -> String? {
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        var len = 0
        var cap = 256
        while true {
            var buf = [CChar](repeating: 0, count: cap)
            let status = buf.withUnsafeMutableBufferPointer { table.pointee.get_env(handle, arena.str(name), $0.baseAddress, cap, &len) }
            if status == DS_OK { return String(decoding: buf[0..<len].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
            if status == DS_ERR_TOO_LARGE { cap = len + 1; continue }
            return nil
        }
    }
}

func errorMessage(_ err: inout ds_error) -> String {
    withUnsafeBytes(of: &err.message) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        let n = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[0..<n], as: UTF8.self)
    }
}

// MARK: - Callback boxes and C trampolines (any host thread)

final class HTTPCallbackBox {
    let cont: CheckedContinuation<HTTPResponse, any Error>
    init(_ c: CheckedContinuation<HTTPResponse, any Error>) { cont = c }
}

let pluginKitHTTPCallback: ds_http_callback = { user, status, response, error in
    let box = Unmanaged<HTTPCallbackBox>.fromOpaque(user!).takeRetainedValue()
    if status == DS_OK, let r = response {
        box.cont.resume(returning: HTTPResponse(status: Int(r.pointee.status),
                                                headers: kvPairs(r.pointee.headers, r.pointee.header_count),
                                                body: r.pointee.body.bytes))
    } else {
        box.cont.resume(throwing: PluginError(status: status == DS_OK ? DS_ERR_FAILED : status, error.string))
    }
}

/// A timer's block, retained once for the host's `user` pointer (released by `releaseOnce`:
/// after a one-shot timer fired, or at cancel). Thread-safe.
/// Unchecked Sendable: `released` and `firedOrCancelled` only under `lock`; `block` is @Sendable.
final class TimerBox: @unchecked Sendable {
    let block: @Sendable () -> Void
    let oneShot: Bool
    private let lock = NSLock()
    private var released = false
    private var firedOrCancelled = false
    init(block: @escaping @Sendable () -> Void, oneShot: Bool) { self.block = block; self.oneShot = oneShot }

    /// Drops the `user` retain, once.
    func releaseOnce() {
        lock.lock()
        let first = !released
        released = true
        lock.unlock()
        if first { Unmanaged.passUnretained(self).release() }
    }

    /// A one-shot timer has fired: later cancels skip the host.
    func markFired() { lock.lock(); firedOrCancelled = true; lock.unlock() }

    /// True if the host timer still needs timer_cancel (it has not fired as a one-shot and
    /// was not cancelled yet).
    func claimCancel() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if firedOrCancelled { return false }
        firedOrCancelled = true
        return true
    }
}

let pluginKitTimerCallback: ds_timer_callback = { user in
    let box = Unmanaged<TimerBox>.fromOpaque(user!).takeUnretainedValue()
    box.block()
    // A one-shot timer fires once: drop the retain taken in timer(). A repeating one keeps it
    // until cancel().
    if box.oneShot { box.markFired(); box.releaseOnce() }
}

final class SubmitBox {
    let cont: CheckedContinuation<SubmitAnswer, any Error>
    init(_ c: CheckedContinuation<SubmitAnswer, any Error>) { cont = c }
}

/// The `{"media": […]}` of an outcome's data ([] if none or unreadable).
func outcomeMedia(_ data: String) -> [MediaAttachment] {
    guard data.contains("\"media\""), let o = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] else { return [] }
    return MediaAttachment.parse(o["media"]) ?? []
}

let pluginKitSubmitCallback: ds_submit_callback = { user, status, reply in
    let box = Unmanaged<SubmitBox>.fromOpaque(user!).takeRetainedValue()
    switch status {
    case DS_OK: box.cont.resume(returning: SubmitAnswer(result: .reply(reply?.pointee.text.string ?? ""),
                                                         media: outcomeMedia(reply?.pointee.data.string ?? "")))
    case DS_DEFERRED: box.cont.resume(returning: SubmitAnswer(result: .deferred))
    default: box.cont.resume(throwing: PluginError(status: status, reply?.pointee.error.string ?? "rejected"))
    }
}

/// Unchecked Sendable: immutable; `table` is the host's, usable from any thread (ABI); `handler` is
/// @Sendable.
final class RouteBox: @unchecked Sendable {
    let table: UnsafePointer<ds_host>
    let handler: @Sendable (RouteRequest) async -> HTTPResponse
    init(table: UnsafePointer<ds_host>, handler: @escaping @Sendable (RouteRequest) async -> HTTPResponse) {
        self.table = table; self.handler = handler
    }
}

/// Unchecked Sendable: carries a host operation handle, which the ABI lets any thread complete
/// (once).
struct SendableOp: @unchecked Sendable { let op: OpaquePointer }

let pluginKitRouteHandler: ds_route_handler = { user, request, op in
    let box = Unmanaged<RouteBox>.fromOpaque(user!).takeUnretainedValue()
    let r = request!.pointee
    let req = RouteRequest(method: r.method.string, path: r.path.string, query: r.query.string,
                           headers: kvPairs(r.headers, r.header_count), body: r.body.bytes,
                           publicURL: r.public_url.string, remoteAddress: r.remote_address.string)
    let sop = SendableOp(op: op!)
    // Starts on the host's I/O thread and runs there until it first suspends (the handler
    // must not block); continues on the thread that resumes it (`ResumingExecutor`).
    Task.immediate(executorPreference: ResumingExecutor.shared) {
        let response = await box.handler(req)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        var resp = ds_http_response()
        resp.struct_size = UInt32(MemoryLayout<ds_http_response>.size)
        resp.status = Int32(response.status)
        resp.headers = arena.kvs(response.headers)
        resp.header_count = response.headers.count
        resp.body = arena.bytes(response.body)
        box.table.pointee.respond(sop.op, &resp)
    }
    return DS_OK
}
