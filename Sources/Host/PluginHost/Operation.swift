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
/// Ownership: registered in `PluginOperation.table` from `retainedPointer` until the plugin
/// completes it (or refuses it synchronously); the `ds_op *` is its id there, never its
/// address. The waiter is told exactly once: by the plugin's completion, or earlier by
/// `deliver` (timeout, shutdown), after which the plugin's (required) completion is dropped
/// quietly. A completion of an op that is no longer registered (a second one, one after
/// the instance was destroyed) touches nothing: it is counted as a contract violation.
/// Thread safety: every method may be called from any thread.
/// Unchecked Sendable: `owner` and `onSettled` are set before the op is registered (handed to the
/// plugin) and only read after; `delivered` is the atomic that makes delivery happen once.
final class PluginOperation: @unchecked Sendable {
    static let table = HandleTable<PluginOperation>()

    private let delivered = Atomic<Bool>(false)
    private let onComplete: (@Sendable (OpOutcome) -> Void)?
    private let onRespond: (@Sendable (RouteResponse) -> Void)?
    /// The instance the op belongs to (nil for none known): violations are counted against it.
    private(set) var owner: InstanceHandle?
    /// Called when the plugin really completes, even after `abandon` (timeout): lets a caller
    /// keep "never concurrently" promises across a timed-out call.
    var onSettled: (@Sendable (OpOutcome) -> Void)?

    init(onComplete: @escaping @Sendable (OpOutcome) -> Void) { self.onComplete = onComplete; self.onRespond = nil }
    init(onRespond: @escaping @Sendable (RouteResponse) -> Void) { self.onComplete = nil; self.onRespond = onRespond }

    /// Registers the operation and returns the `ds_op *` to hand to the plugin.
    func retainedPointer(owner: InstanceHandle? = nil) -> OpaquePointer {
        self.owner = owner
        owner?.pending.add(1, ordering: .relaxed)
        return HandleTable<PluginOperation>.pointer(Self.table.insert(self, owner: owner?.index ?? 0))
    }

    /// Unregisters the op for a completion; nil (after counting `kind`) if the plugin may not
    /// complete it now: not registered any more, or its instance was destroyed.
    private static func claim(_ op: OpaquePointer, _ kind: ContractViolation) -> PluginOperation? {
        let id = HandleTable<PluginOperation>.id(op)
        let taken = table.take(id)
        taken?.owner?.operationFinished()
        guard let me = taken else {
            let owner = InstanceHandle.registered(HandleTable<PluginOperation>.owner(of: id))
            if let owner, owner.isDestroyed {
                owner.violated(.completedAfterDestroy)
            } else {
                InstanceHandle.violated(owner, kind)
            }
            return nil
        }
        if let owner = me.owner, owner.isDestroyed {
            owner.violated(.completedAfterDestroy)
            return nil
        }
        return me
    }

    /// The plugin's completion (`host->complete`): delivers (if not already) and unregisters.
    static func complete(_ op: OpaquePointer, _ outcome: OpOutcome) {
        guard let me = claim(op, .completedTwice) else { return }
        if me.onRespond != nil {
            // complete() on a route op: answer 500 rather than leave the client hanging.
            InstanceHandle.violated(me.owner, .wrongFunction)
            me.deliver(OpOutcome(status: DS_ERR_FAILED, error: "plugin error\n"))
            return
        }
        me.deliver(outcome)
        me.onSettled?(outcome)
    }

    /// The plugin's answer to a route request (`host->respond`).
    static func respond(_ op: OpaquePointer, _ response: RouteResponse) {
        guard let me = claim(op, .respondedTwice) else { return }
        guard let onRespond = me.onRespond else {
            InstanceHandle.violated(me.owner, .wrongFunction)
            let failed = OpOutcome(status: DS_ERR_FAILED, error: "the plugin answered an operation with respond()")
            me.deliver(failed)
            me.onSettled?(failed)
            return
        }
        if me.delivered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            onRespond(response)
        }
    }

    /// The plugin refused synchronously (negative return): unregister and deliver. If the op
    /// is gone the plugin completed it and then refused it too: the first answer stands.
    static func refused(_ op: OpaquePointer, _ status: Int32, _ message: String) {
        guard let me = claim(op, .refusedAfterComplete) else { return }
        let outcome = OpOutcome(status: status, error: message)
        me.deliver(outcome)
        me.onSettled?(outcome)
    }

    /// Tells the waiter now (timeout, cancellation); the plugin's later completion is dropped.
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
