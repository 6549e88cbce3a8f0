import PluginAPI
import Synchronization

/// The result of a plugin operation, copied out of a ds_outcome.
public struct OpOutcome: Sendable {
    public var status: Int32
    public var text: String = ""
    public var data: String = ""
    public var error: String = ""
    public var retryAfterMs: Int64 = 0
    public var detailCode: Int32 = 0

    public init(status: Int32, text: String = "", data: String = "", error: String = "", retryAfterMs: Int64 = 0, detailCode: Int32 = 0) {
        self.status = status; self.text = text; self.data = data; self.error = error
        self.retryAfterMs = retryAfterMs; self.detailCode = detailCode
    }

    public var ok: Bool { status >= 0 && status != DS_RETRY }
    public var isRetryable: Bool {
        status == DS_RETRY || status == DS_ERR_RATE_LIMITED || status == DS_ERR_TIMEOUT || status == DS_ERR_UNAVAILABLE
    }

    /// Reads a ds_outcome the plugin owns (copying), honouring its struct_size.
    init(status: Int32, _ o: UnsafePointer<ds_outcome>?) {
        self.status = status
        guard let o else { return }
        let size = Int(o.pointee.struct_size)
        func has(_ k: PartialKeyPath<ds_outcome>, _ width: Int) -> Bool {
            guard let off = MemoryLayout<ds_outcome>.offset(of: k) else { return false }
            return size >= off + width
        }
        if has(\ds_outcome.text, MemoryLayout<ds_str>.size) { text = o.pointee.text.string }
        if has(\ds_outcome.data, MemoryLayout<ds_str>.size) { data = o.pointee.data.string }
        if has(\ds_outcome.error, MemoryLayout<ds_str>.size) { error = o.pointee.error.string }
        if has(\ds_outcome.retry_after_ms, 8) { retryAfterMs = o.pointee.retry_after_ms }
        if has(\ds_outcome.detail_code, 4) { detailCode = o.pointee.detail_code }
    }
}

/// A pending operation handed to a plugin as `ds_op *`.
///
/// Ownership: retained from `start` until the plugin completes it (or refuses it
/// synchronously). The waiter is told exactly once: by the plugin's completion, or
/// earlier by `abandon` (timeout, shutdown), after which a late completion is ignored.
/// Thread safety: every method may be called from any thread.
final class PluginOperation: @unchecked Sendable {
    private let delivered = Atomic<Bool>(false)
    private let onComplete: (@Sendable (OpOutcome) -> Void)?
    private let onRespond: (@Sendable (RouteResponse) -> Void)?
    /// Called when the plugin really completes, even after `abandon` (timeout): lets a caller
    /// keep "never concurrently" promises across a timed-out call.
    var onSettled: (@Sendable (OpOutcome) -> Void)?

    init(onComplete: @escaping @Sendable (OpOutcome) -> Void) { self.onComplete = onComplete; self.onRespond = nil }
    init(onRespond: @escaping @Sendable (RouteResponse) -> Void) { self.onComplete = nil; self.onRespond = onRespond }

    /// Retains the operation and returns the pointer to hand to the plugin.
    func retainedPointer() -> OpaquePointer { OpaquePointer(Unmanaged.passRetained(self).toOpaque()) }

    /// The plugin's completion: delivers (if not already) and drops the plugin's retain.
    static func complete(_ op: OpaquePointer, _ outcome: OpOutcome) {
        let me = Unmanaged<PluginOperation>.fromOpaque(UnsafeRawPointer(op)).takeRetainedValue()
        me.deliver(outcome)
        me.onSettled?(outcome)
    }

    static func respond(_ op: OpaquePointer, _ response: RouteResponse) {
        let me = Unmanaged<PluginOperation>.fromOpaque(UnsafeRawPointer(op)).takeRetainedValue()
        if me.delivered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            me.onRespond?(response)
        }
    }

    /// The plugin refused synchronously (negative return): drop its retain and deliver.
    static func refused(_ op: OpaquePointer, _ status: Int32, _ message: String) {
        complete(op, OpOutcome(status: status, error: message))
    }

    /// Tells the waiter now (timeout, cancellation); the plugin's later completion is ignored.
    /// Returns false if the outcome was already delivered.
    @discardableResult
    func deliver(_ outcome: OpOutcome) -> Bool {
        guard delivered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return false }
        onComplete?(outcome)
        if let onRespond {
            onRespond(RouteResponse(status: outcome.status == DS_ERR_TIMEOUT ? 503 : 500, headers: [("Content-Type", "text/plain")], body: Array(outcome.error.utf8)))
        }
        return true
    }

    var isDelivered: Bool { delivered.load(ordering: .acquiring) }
}

/// A response a plugin gave to a route request.
public struct RouteResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status; self.headers = headers; self.body = body
    }
}
