import PluginAPI
import Foundation
import Synchronization

/// A created plugin instance of one interface, with typed calls into it.
///
/// Threading: operation methods may be called from any thread, concurrently (the ABI
/// allows it); `destroy` only at shutdown. Completions arrive on whatever thread the
/// plugin completes from: keep them short.
/// Unchecked Sendable: immutable after init except `live` (a Mutex); `instance` is the plugin's
/// pointer, which the ABI lets any thread pass to its operations. Not final (one subclass per
/// interface), so not checked.
public class PluginInstanceBase: @unchecked Sendable {
    public let instanceId: String
    public let library: PluginLibrary
    public let interfaceId: String
    let handle: InstanceHandle
    let instance: UnsafeMutableRawPointer?
    /// False once `destroy` began: a late timeout must not ask a freed instance to cancel.
    private let live = Mutex(true)

    init(instanceId: String, library: PluginLibrary, interfaceId: String, handle: InstanceHandle, instance: UnsafeMutableRawPointer?) {
        self.instanceId = instanceId; self.library = library; self.interfaceId = interfaceId
        self.handle = handle; self.instance = instance
    }

    /// Runs one operation: makes the op, calls `invoke`, handles a synchronous refusal,
    /// and, with a timeout, delivers DS_ERR_TIMEOUT (and asks the plugin to cancel) if the
    /// plugin has not completed by then.
    func runOp(timeoutMs: UInt32 = 0, cancel: ((OpaquePointer) -> Void)? = nil, settled: (@Sendable (OpOutcome) -> Void)? = nil,
               _ invoke: (OpaquePointer) -> ds_status, completion: @escaping @Sendable (OpOutcome) -> Void) {
        let op = PluginOperation(onComplete: completion)
        op.onSettled = settled
        let p = op.retainedPointer(owner: handle)
        let status = invoke(p)
        if status < 0 {
            PluginOperation.refused(p, status, "refused by plugin '\(instanceId)'")
            return
        }
        if timeoutMs > 0 && !op.isDelivered {
            let pp = UnsafeSendable(UnsafeMutableRawPointer(p)), cancel = cancel.map(PluginCall.init)
            let task = handle.runtime.timerLoop.scheduleTask(in: .milliseconds(Int64(timeoutMs))) { [self] in
                if op.deliver(OpOutcome(status: DS_ERR_TIMEOUT, error: "no answer within \(timeoutMs) ms")), let cancel {
                    whileLive { cancel.value(OpaquePointer(pp.value!)) }
                }
            }
            _ = task
        }
    }

    /// Runs `body` unless the instance is being or has been destroyed; `retire` waits for it.
    func whileLive(_ body: () -> Void) {
        live.withLock { alive in if alive { body() } }
    }

    /// Marks the instance dead (no more cancels from late timeouts), then destroys it.
    func retire(_ destroy: () -> Void) {
        live.withLock { $0 = false }
        destroy()
        handle.markDestroyed()
    }

    /// Async form of runOp.
    func op(timeoutMs: UInt32 = 0, cancel: ((OpaquePointer) -> Void)? = nil, _ invoke: (OpaquePointer) -> ds_status) async -> OpOutcome {
        await withCheckedContinuation { (c: CheckedContinuation<OpOutcome, Never>) in
            runOp(timeoutMs: timeoutMs, cancel: cancel, invoke) { c.resume(returning: $0) }
        }
    }
}

/// An instance of `ds.channel/1`.
/// Unchecked Sendable: adds only `table`, the plugin's static, read-only interface table.
public final class ChannelInstance: PluginInstanceBase, @unchecked Sendable {
    let table: UnsafePointer<ds_channel_v1>

    init(base: PluginInstanceBase, table: UnsafePointer<ds_channel_v1>) {
        self.table = table
        super.init(instanceId: base.instanceId, library: base.library, interfaceId: base.interfaceId, handle: base.handle, instance: base.instance)
    }

    public func send(messageId: String, correlationId: String, to: String, from: String, text: String,
                     media: [(url: String, contentType: String)] = [], metadata: String = "", timeoutMs: UInt32 = 30_000) async -> OpOutcome {
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        var m = ds_outbound_message()
        m.struct_size = UInt32(MemoryLayout<ds_outbound_message>.size)
        m.message_id = arena.str(messageId)
        m.correlation_id = arena.str(correlationId)
        m.to = arena.str(to)
        m.from = arena.str(from)
        m.text = arena.str(text)
        let mediaBuffer = UnsafeMutablePointer<ds_media>.allocate(capacity: max(media.count, 1))
        defer { mediaBuffer.deallocate() }
        for (i, x) in media.enumerated() { (mediaBuffer + i).initialize(to: ds_media(url: arena.str(x.url), content_type: arena.str(x.contentType))) }
        m.media = media.isEmpty ? nil : UnsafePointer(mediaBuffer)
        m.media_count = media.count
        m.metadata = arena.str(metadata)
        let t = table, inst = instance
        return await op(timeoutMs: timeoutMs, cancel: { t.pointee.cancel?(inst, $0) }) { t.pointee.send(inst, &m, $0) }
    }

    func destroy() { retire { table.pointee.destroy?(instance) } }
}

/// One agent opened through a transport: the plugin's `void *agent`.
/// Unchecked Sendable: immutable; `pointer` is the plugin's agent, which the ABI lets any thread
/// use.
public final class AgentHandle: @unchecked Sendable {
    public let name: String
    public let transport: AgentTransportInstance
    let pointer: UnsafeMutableRawPointer?
    init(name: String, transport: AgentTransportInstance, pointer: UnsafeMutableRawPointer?) {
        self.name = name; self.transport = transport; self.pointer = pointer
    }
}

/// A request for an agent, in Swift form.
public struct AgentCall: Sendable {
    public var messageId = ""
    public var correlationId = ""
    public var sessionId = ""
    public var channel = ""
    public var from = ""
    public var to = ""
    public var text = ""
    public var history: [(role: String, text: String, timeMs: Int64)] = []
    public var sessionState = ""
    public var timeoutMs: UInt32 = 30_000
    public var timeMs: Int64 = 0
    /// (ABI 1.2) Attachments of the new message.
    public var media: [(url: String, contentType: String)] = []
    /// (ABI 1.2) Attachments of history entries: the entry's index in `history`, ordered by it.
    public var historyMedia: [(entry: Int, url: String, contentType: String)] = []
    public init() {}
}

/// An instance of `ds.agent-transport/1`.
/// Unchecked Sendable: adds only `table`, the plugin's static, read-only interface table.
public final class AgentTransportInstance: PluginInstanceBase, @unchecked Sendable {
    let table: UnsafePointer<ds_agent_transport_v1>

    init(base: PluginInstanceBase, table: UnsafePointer<ds_agent_transport_v1>) {
        self.table = table
        super.init(instanceId: base.instanceId, library: base.library, interfaceId: base.interfaceId, handle: base.handle, instance: base.instance)
    }

    /// Opens an agent; throws PluginLoadError with the plugin's message.
    public func open(name: String, configJSON: String) throws -> AgentHandle {
        var err = ds_error()
        err.struct_size = UInt32(MemoryLayout<ds_error>.size)
        var out: UnsafeMutableRawPointer? = nil
        let status = withDSStr(name) { n in withDSStr(configJSON) { c in table.pointee.open(instance, n, c, &out, &err) } }
        guard status == DS_OK else {
            throw PluginLoadError(message: "agent '\(name)': transport '\(instanceId)' (\(library.path)) could not open it: \(errorText(&err)) [status \(status)]")
        }
        return AgentHandle(name: name, transport: self, pointer: out)
    }

    /// Calls the agent with a completion (the router's hot path). The request's strings
    /// are packed into one stack buffer for the duration of the call: no heap allocation
    /// for marshalling.
    public func call(_ agent: AgentHandle, _ c: AgentCall, completion: @escaping @Sendable (OpOutcome) -> Void) {
        var total = c.messageId.utf8.count + c.correlationId.utf8.count + c.sessionId.utf8.count + c.channel.utf8.count
        total += c.from.utf8.count + c.to.utf8.count + c.text.utf8.count + c.sessionState.utf8.count
        for h in c.history { total += h.role.utf8.count + h.text.utf8.count }
        for m in c.media { total += m.url.utf8.count + m.contentType.utf8.count }
        for m in c.historyMedia { total += m.url.utf8.count + m.contentType.utf8.count }
        let t = table, inst = instance, a = agent.pointer
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(total, 1)) { buf in
            withUnsafeTemporaryAllocation(of: ds_history_entry.self, capacity: max(c.history.count, 1)) { hist in
            withUnsafeTemporaryAllocation(of: ds_media.self, capacity: max(c.media.count, 1)) { media in
            withUnsafeTemporaryAllocation(of: ds_history_media.self, capacity: max(c.historyMedia.count, 1)) { historyMedia in
                var packer = StringPacker(buffer: buf)
                var r = ds_agent_request()
                r.struct_size = UInt32(MemoryLayout<ds_agent_request>.size)
                r.message_id = packer.add(c.messageId)
                r.correlation_id = packer.add(c.correlationId)
                r.session_id = packer.add(c.sessionId)
                r.channel = packer.add(c.channel)
                r.from = packer.add(c.from)
                r.to = packer.add(c.to)
                r.text = packer.add(c.text)
                for (i, h) in c.history.enumerated() {
                    hist.initializeElement(at: i, to: ds_history_entry(role: packer.add(h.role), text: packer.add(h.text), time_ms: h.timeMs))
                }
                r.history = c.history.isEmpty ? nil : UnsafePointer(hist.baseAddress)
                r.history_count = c.history.count
                r.session_state = packer.add(c.sessionState)
                r.timeout_ms = c.timeoutMs
                r.time_ms = c.timeMs
                for (i, m) in c.media.enumerated() {
                    media.initializeElement(at: i, to: ds_media(url: packer.add(m.url), content_type: packer.add(m.contentType)))
                }
                r.media = c.media.isEmpty ? nil : UnsafePointer(media.baseAddress)
                r.media_count = c.media.count
                for (i, m) in c.historyMedia.enumerated() {
                    historyMedia.initializeElement(at: i, to: ds_history_media(entry: m.entry, media: ds_media(url: packer.add(m.url),
                                                                                                             content_type: packer.add(m.contentType))))
                }
                r.history_media = c.historyMedia.isEmpty ? nil : UnsafePointer(historyMedia.baseAddress)
                r.history_media_count = c.historyMedia.count
                runOp(timeoutMs: c.timeoutMs, cancel: { t.pointee.cancel?(inst, $0) }, { t.pointee.call(inst, a, &r, $0) }, completion: completion)
            }
            }
            }
        }
    }

    public func call(_ agent: AgentHandle, _ c: AgentCall) async -> OpOutcome {
        await withCheckedContinuation { cont in call(agent, c) { cont.resume(returning: $0) } }
    }

    public func probe(_ agent: AgentHandle, timeoutMs: UInt32 = 5_000) async -> OpOutcome {
        let t = table, inst = instance, a = agent.pointer
        return await op(timeoutMs: timeoutMs, cancel: { t.pointee.cancel?(inst, $0) }) { t.pointee.probe(inst, a, $0) }
    }

    /// probe() with a completion and no timeout (benchmarks, health loops).
    public func probeSync(_ agent: AgentHandle, completion: @escaping @Sendable (OpOutcome) -> Void) {
        let t = table, inst = instance, a = agent.pointer
        runOp({ t.pointee.probe(inst, a, $0) }, completion: completion)
    }

    public func close(_ agent: AgentHandle) { table.pointee.close?(instance, agent.pointer) }
    func destroy() { retire { table.pointee.destroy?(instance) } }
}

/// A usage in Swift form (see ds_usage).
public struct UsageRecord: Sendable {
    public var accountId: String
    public var customerId: String
    public var kind: String
    public var quantity: Int64
    public var idempotencyKey: String
    public var correlationId: String
    public var timeMs: Int64
    public init(accountId: String, customerId: String = "", kind: String, quantity: Int64, idempotencyKey: String, correlationId: String = "", timeMs: Int64 = 0) {
        self.accountId = accountId; self.customerId = customerId; self.kind = kind; self.quantity = quantity
        self.idempotencyKey = idempotencyKey; self.correlationId = correlationId; self.timeMs = timeMs
    }
}

/// An instance of `ds.billing/1`.
/// Unchecked Sendable: adds only `table`, the plugin's static, read-only interface table.
public final class BillingInstance: PluginInstanceBase, @unchecked Sendable {
    let table: UnsafePointer<ds_billing_v1>

    init(base: PluginInstanceBase, table: UnsafePointer<ds_billing_v1>) {
        self.table = table
        super.init(instanceId: base.instanceId, library: base.library, interfaceId: base.interfaceId, handle: base.handle, instance: base.instance)
    }

    private func withUsage<R>(_ u: UsageRecord, _ body: (UnsafePointer<ds_usage>) -> R) -> R {
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        var d = ds_usage()
        d.struct_size = UInt32(MemoryLayout<ds_usage>.size)
        d.account_id = arena.str(u.accountId)
        d.customer_id = arena.str(u.customerId)
        d.kind = arena.str(u.kind)
        d.quantity = u.quantity
        d.idempotency_key = arena.str(u.idempotencyKey)
        d.correlation_id = arena.str(u.correlationId)
        d.time_ms = u.timeMs
        return body(&d)
    }

    public func authorize(_ u: UsageRecord, timeoutMs: UInt32 = 5_000) async -> OpOutcome {
        let t = table, inst = instance
        return await op(timeoutMs: timeoutMs, cancel: { t.pointee.cancel?(inst, $0) }) { p in withUsage(u) { t.pointee.authorize(inst, $0, p) } }
    }

    public func record(_ u: UsageRecord, timeoutMs: UInt32 = 30_000) async -> OpOutcome {
        let t = table, inst = instance
        return await op(timeoutMs: timeoutMs, cancel: { t.pointee.cancel?(inst, $0) }) { p in withUsage(u) { t.pointee.record(inst, $0, p) } }
    }

    func destroy() { retire { table.pointee.destroy?(instance) } }
}

/// An instance of `ds.log-sink/1`.
/// Unchecked Sendable: adds only `table`, the plugin's static, read-only interface table.
public final class LogSinkInstance: PluginInstanceBase, @unchecked Sendable {
    let table: UnsafePointer<ds_log_sink_v1>

    init(base: PluginInstanceBase, table: UnsafePointer<ds_log_sink_v1>) {
        self.table = table
        super.init(instanceId: base.instanceId, library: base.library, interfaceId: base.interfaceId, handle: base.handle, instance: base.instance)
    }



    /// Writes a batch of JSON events. Call from one task at a time.
    ///
    /// On timeout the host asks the plugin to cancel and then waits until the plugin has
    /// really finished the write: the plugin never sees two writes at once (the header's
    /// promise), and the caller gets the plugin's real outcome. A write that succeeded just
    /// after the timeout is reported as written, so it is not sent again.
    public func write(_ events: [String], timeoutMs: UInt32 = 30_000) async -> OpOutcome {
        let gate = SettleGate(open: false)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        let strs = events.map { arena.str($0) }
        let t = table, inst = instance
        let first = await withCheckedContinuation { (c: CheckedContinuation<OpOutcome, Never>) in
            runOp(timeoutMs: timeoutMs, cancel: { t.pointee.cancel?(inst, $0) }, settled: { gate.open($0) }, { p in
                strs.withUnsafeBufferPointer { t.pointee.write(inst, $0.baseAddress, $0.count, p) }
            }) { c.resume(returning: $0) }
        }
        guard first.status == DS_ERR_TIMEOUT else { return first }
        return await gate.wait() ?? first
    }

    public func flush(timeoutMs: UInt32 = 30_000) async -> OpOutcome {
        let t = table, inst = instance
        return await op(timeoutMs: timeoutMs, cancel: { t.pointee.cancel?(inst, $0) }) { t.pointee.flush(inst, $0) }
    }

    func destroy() { retire { table.pointee.destroy?(instance) } }
}

func errorText(_ err: inout ds_error) -> String {
    withUnsafeBytes(of: &err.message) { raw in
        let b = raw.bindMemory(to: UInt8.self)
        let n = b.firstIndex(of: 0) ?? b.count
        return String(decoding: b[0..<n], as: UTF8.self)
    }
}

/// Copies strings back to back into a caller-provided buffer and returns ds_str views.
struct StringPacker {
    let buffer: UnsafeMutableBufferPointer<CChar>
    var offset = 0
    init(buffer: UnsafeMutableBufferPointer<CChar>) { self.buffer = buffer }

    mutating func add(_ s: String) -> ds_str {
        var s = s
        let start = buffer.baseAddress! + offset
        let n = s.withUTF8 { u -> Int in
            guard u.count > 0 else { return 0 }
            UnsafeMutableRawPointer(start).copyMemory(from: u.baseAddress!, byteCount: u.count)
            return u.count
        }
        offset += n
        return n == 0 ? ds_str(ptr: nil, len: 0) : ds_str(ptr: UnsafePointer(start), len: n)
    }
}

/// A one-way gate carrying an operation's final outcome: `wait` returns once `open`
/// has been called. Thread-safe.
/// Unchecked Sendable: `outcome`, `isOpen` and `waiters` only under `lock`.
final class SettleGate: @unchecked Sendable {
    private let lock = NSLock()
    private var outcome: OpOutcome?
    private var isOpen: Bool
    private var waiters: [CheckedContinuation<OpOutcome?, Never>] = []
    init(open: Bool) { isOpen = open }
    func open(_ o: OpOutcome) {
        lock.lock()
        isOpen = true
        outcome = o
        let w = waiters
        waiters = []
        lock.unlock()
        for c in w { c.resume(returning: o) }
    }
    func wait() async -> OpOutcome? {
        await withCheckedContinuation { (c: CheckedContinuation<OpOutcome?, Never>) in
            lock.lock()
            if isOpen { let o = outcome; lock.unlock(); c.resume(returning: o) } else { waiters.append(c); lock.unlock() }
        }
    }
}
