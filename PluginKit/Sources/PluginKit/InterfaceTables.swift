import PluginAPI
import Foundation
import Synchronization

// The C function tables PluginKit hands to the host, shared by every Swift plugin.
// Each function finds its Swift object through the `instance` pointer (an
// InstanceBox) or, for create, through the descriptor's `plugin_data`.
// Thread rules are the header's: operations may arrive on any thread, concurrently.

/// One plugin instance as PluginKit holds it. Owned by the host through the opaque
/// `instance` pointer (retained at create, released at destroy).
final class InstanceBox: Sendable {
    let host: PluginHost
    let instance: any PluginInstance
    let tasks = TaskRegistry()
    init(host: PluginHost, instance: any PluginInstance) { self.host = host; self.instance = instance }

    static func from(_ p: UnsafeMutableRawPointer?) -> InstanceBox { Unmanaged<InstanceBox>.fromOpaque(p!).takeUnretainedValue() }

    /// Runs an operation as a task and completes `op` with its result or its error. The
    /// task starts on the calling host thread (an operation that never suspends completes
    /// before this returns) and continues on the threads that resume it (`ResumingExecutor`).
    func run(_ op: OpaquePointer, _ body: @escaping @Sendable () async throws -> OpResult) -> ds_status {
        let table = SendableTable(table: host.table)
        let sop = SendableOp(op: op)
        tasks.start(op) { [tasks] in
            let outcome: (ds_status, OpResult, PluginError?)
            do { outcome = (DS_OK, try await body(), nil) } catch {
                let e = PluginError.from(error)
                outcome = (e.status, OpResult(), e)
            }
            tasks.finished(sop.op)
            completeOp(table.table, sop.op, outcome.0, outcome.1, outcome.2)
        }
        return DS_PENDING
    }
}

/// Unchecked Sendable: carries the host's static, read-only table.
struct SendableTable: @unchecked Sendable { let table: UnsafePointer<ds_host> }

/// The result fields of an operation (ds_outcome's text and data).
struct OpResult: Sendable {
    var text = ""
    var data = ""
}

func completeOp(_ table: UnsafePointer<ds_host>, _ op: OpaquePointer, _ status: ds_status, _ result: OpResult, _ error: PluginError?) {
    let arena = CArena()
    defer { withExtendedLifetime(arena) {} }
    var o = ds_outcome()
    o.struct_size = UInt32(MemoryLayout<ds_outcome>.size)
    o.text = arena.str(result.text)
    o.data = arena.str(result.data)
    if let error {
        o.error = arena.str(error.message)
        o.retry_after_ms = error.retryAfterMs
        o.detail_code = error.detailCode
    }
    table.pointee.complete(op, status, &o)
}

/// Tasks of pending operations, so that the host's cancel can cancel them.
final class TaskRegistry: Sendable {
    /// Keyed by the op's address (an OpaquePointer is not Sendable).
    private struct State { var tasks: [Int: Task<Void, Never>] = [:]; var done: Set<Int> = [] }
    private let state = Mutex(State())

    /// Starts `body` on the calling thread (it may finish before `start` returns) and
    /// continues it where it is resumed (`ResumingExecutor`).
    func start(_ op: OpaquePointer, _ body: @escaping @Sendable () async -> Void) {
        let task = Task.immediate(executorPreference: ResumingExecutor.shared) { await body() }
        let op = Int(bitPattern: op)
        state.withLock { s in
            // The task may already have finished; then it must not be registered.
            if s.done.remove(op) == nil { s.tasks[op] = task }
        }
    }
    func finished(_ op: OpaquePointer) {
        let op = Int(bitPattern: op)
        state.withLock { s in if s.tasks.removeValue(forKey: op) == nil { s.done.insert(op) } }
    }
    func cancel(_ op: OpaquePointer) {
        let op = Int(bitPattern: op)
        state.withLock { $0.tasks[op] }?.cancel()
    }
}

private func create(_ d: UnsafePointer<ds_plugin_descriptor>?, _ h: OpaquePointer?, _ config: ds_str,
                    _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ err: UnsafeMutablePointer<ds_error>?,
                    _ make: (ExportedPlugin, PluginHost, PluginConfig) throws -> (any PluginInstance)?) -> ds_status {
    guard let d, let data = d.pointee.plugin_data, let out else { return DS_ERR_INVALID }
    let plugin = Unmanaged<ExportedPlugin>.fromOpaque(data).takeUnretainedValue()
    let host = PluginHost(table: plugin.host, handle: h)
    do {
        guard let instance = try make(plugin, host, PluginConfig(json: config.string)) else { return DS_ERR_UNSUPPORTED }
        out.pointee = Unmanaged.passRetained(InstanceBox(host: host, instance: instance)).toOpaque()
        return DS_OK
    } catch {
        let e = PluginError.from(error)
        e.message.withCString { ds_error_set(err, $0) }
        return e.status < 0 ? e.status : DS_ERR_FAILED
    }
}

private let destroy: @convention(c) (UnsafeMutableRawPointer?) -> Void = { p in
    guard let p else { return }
    let box = Unmanaged<InstanceBox>.fromOpaque(p).takeRetainedValue()
    box.instance.shutdown()
}

private let cancel: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?) -> Void = { p, op in
    guard let op else { return }
    InstanceBox.from(p).tasks.cancel(op)
}

// MARK: Agents

protocol AnyAgent: AnyObject, Sendable {
    func call(_ r: AgentRequest) async throws -> AgentReply
    func probe() async throws
    func close()
}

final class AgentBox<T: AgentTransport>: AnyAgent, Sendable {
    let transport: T
    let agent: T.Agent
    init(_ t: T, _ a: T.Agent) { transport = t; agent = a }
    func call(_ r: AgentRequest) async throws -> AgentReply { try await transport.call(agent, r) }
    func probe() async throws { try await transport.probe(agent) }
    func close() { transport.close(agent) }
}

func openAgent<T: AgentTransport>(_ t: T, _ name: String, _ config: PluginConfig) throws -> any AnyAgent {
    AgentBox(t, try t.open(name: name, config: config))
}

/// DS_HAS_FIELD in Swift: whether a struct of `size` bytes (its struct_size) holds the field.
func hasField<T, V>(_ size: UInt32, _ field: KeyPath<T, V>) -> Bool {
    guard let offset = MemoryLayout<T>.offset(of: field) else { return false }
    return Int(size) >= offset + MemoryLayout<V>.size
}

func mediaList(_ p: UnsafePointer<ds_media>?, _ count: Int) -> [MediaAttachment] {
    guard let p, count > 0 else { return [] }
    return (0..<count).map { MediaAttachment(url: p[$0].url.string, contentType: p[$0].content_type.string) }
}

extension AgentRequest {
    init(_ r: ds_agent_request) {
        var history: [HistoryEntry] = []
        if let h = r.history {
            history.reserveCapacity(r.history_count)
            for i in 0..<r.history_count { history.append(HistoryEntry(role: h[i].role.string, text: h[i].text.string, timeMs: h[i].time_ms)) }
        }
        var media: [MediaAttachment] = []
        if hasField(r.struct_size, \ds_agent_request.media_count) { media = mediaList(r.media, r.media_count) }
        if hasField(r.struct_size, \ds_agent_request.history_media_count), let hm = r.history_media {
            for i in 0..<r.history_media_count where hm[i].entry < history.count {
                history[hm[i].entry].media.append(MediaAttachment(url: hm[i].media.url.string, contentType: hm[i].media.content_type.string))
            }
        }
        self.init(messageId: r.message_id.string, correlationId: r.correlation_id.string, sessionId: r.session_id.string,
                  channel: r.channel.string, from: r.from.string, to: r.to.string, text: r.text.string, history: history,
                  sessionState: r.session_state.string, timeoutMs: r.timeout_ms, timeMs: r.time_ms, media: media)
    }
}

extension Usage {
    init(_ u: ds_usage) {
        self.init(accountId: u.account_id.string, customerId: u.customer_id.string, kind: u.kind.string, quantity: u.quantity,
                  idempotencyKey: u.idempotency_key.string, correlationId: u.correlation_id.string, timeMs: u.time_ms)
    }
}

/// The four tables, allocated once.
///
/// `nonisolated(unsafe)`: each table is allocated and filled by the lazy (thread-safe)
/// initializer of its static and never written again; the host only reads it.
enum Tables {
    nonisolated(unsafe) static let channel: UnsafeMutablePointer<ds_channel_v1> = {
        let t = UnsafeMutablePointer<ds_channel_v1>.allocate(capacity: 1)
        t.initialize(to: ds_channel_v1(
            struct_size: UInt32(MemoryLayout<ds_channel_v1>.size),
            create: { d, h, c, o, e in create(d, h, c, o, e) { p, host, cfg in try p.export.channel?.init(host: host, config: cfg) } },
            destroy: destroy,
            send: { p, m, op in
                let box = InstanceBox.from(p)
                guard let channel = box.instance as? any ChannelPlugin, let m = m?.pointee, let op else { return DS_ERR_UNSUPPORTED }
                let media = hasField(m.struct_size, \ds_outbound_message.media_count)
                    ? mediaList(m.media, m.media_count) : []
                let metadata = hasField(m.struct_size, \ds_outbound_message.metadata) ? m.metadata.string : ""
                let msg = OutboundMessage(messageId: m.message_id.string, correlationId: m.correlation_id.string,
                                          to: m.to.string, from: m.from.string, text: m.text.string, media: media, metadata: metadata)
                return box.run(op) {
                    let r = try await channel.send(msg)
                    return OpResult(text: r.providerMessageId, data: "{\"segments\":\(r.segments)}")
                }
            },
            cancel: cancel, validate_config: nil))
        return t
    }()

    nonisolated(unsafe) static let agent: UnsafeMutablePointer<ds_agent_transport_v1> = {
        let t = UnsafeMutablePointer<ds_agent_transport_v1>.allocate(capacity: 1)
        t.initialize(to: ds_agent_transport_v1(
            struct_size: UInt32(MemoryLayout<ds_agent_transport_v1>.size),
            create: { d, h, c, o, e in create(d, h, c, o, e) { p, host, cfg in try p.export.agentTransport?.init(host: host, config: cfg) } },
            destroy: destroy,
            open: { p, name, config, out, err in
                let box = InstanceBox.from(p)
                guard let transport = box.instance as? any AgentTransport, let out else { return DS_ERR_UNSUPPORTED }
                do {
                    let agent = try openAgent(transport, name.string, PluginConfig(json: config.string))
                    out.pointee = Unmanaged.passRetained(agent as AnyObject).toOpaque()
                    return DS_OK
                } catch {
                    let e = PluginError.from(error)
                    e.message.withCString { ds_error_set(err, $0) }
                    return e.status < 0 ? e.status : DS_ERR_FAILED
                }
            },
            call: { p, a, r, op in
                let box = InstanceBox.from(p)
                guard let a, let r, let op else { return DS_ERR_INVALID }
                let agent = Unmanaged<AnyObject>.fromOpaque(a).takeUnretainedValue() as! any AnyAgent
                let request = AgentRequest(r.pointee)
                return box.run(op) {
                    let reply = try await agent.call(request)
                    // The outcome's data: {"session_state": {...}, "handoff": {"reason": "..."}}, each optional.
                    var fields: [String] = []
                    if let s = reply.sessionState { fields.append("\"session_state\":\(s)") }
                    if let h = reply.handoff, let reason = try? JSONSerialization.data(withJSONObject: [h], options: [.fragmentsAllowed]) {
                        fields.append("\"handoff\":{\"reason\":\(String(decoding: reason.dropFirst().dropLast(), as: UTF8.self))}")
                    }
                    if !reply.media.isEmpty, let m = try? JSONSerialization.data(withJSONObject: MediaAttachment.jsonArray(reply.media),
                                                                                  options: [.withoutEscapingSlashes]) {
                        fields.append("\"media\":" + String(decoding: m, as: UTF8.self))
                    }
                    let data = fields.isEmpty ? "" : "{" + fields.joined(separator: ",") + "}"
                    return OpResult(text: reply.text, data: data)
                }
            },
            probe: { p, a, op in
                let box = InstanceBox.from(p)
                guard let a, let op else { return DS_ERR_INVALID }
                let agent = Unmanaged<AnyObject>.fromOpaque(a).takeUnretainedValue() as! any AnyAgent
                return box.run(op) { try await agent.probe(); return OpResult() }
            },
            close: { _, a in
                guard let a else { return }
                let agent = Unmanaged<AnyObject>.fromOpaque(a).takeRetainedValue() as! any AnyAgent
                agent.close()
            },
            cancel: cancel, validate_config: nil, validate_agent_config: nil))
        return t
    }()

    nonisolated(unsafe) static let billing: UnsafeMutablePointer<ds_billing_v1> = {
        let t = UnsafeMutablePointer<ds_billing_v1>.allocate(capacity: 1)
        t.initialize(to: ds_billing_v1(
            struct_size: UInt32(MemoryLayout<ds_billing_v1>.size),
            create: { d, h, c, o, e in create(d, h, c, o, e) { p, host, cfg in try p.export.billing?.init(host: host, config: cfg) } },
            destroy: destroy,
            authorize: { p, u, op in
                let box = InstanceBox.from(p)
                guard let billing = box.instance as? any BillingProvider, let u, let op else { return DS_ERR_UNSUPPORTED }
                let usage = Usage(u.pointee)
                return box.run(op) {
                    switch try await billing.authorize(usage) {
                    case .allow: return OpResult()
                    case .deny(let reason): throw PluginError.denied(reason)
                    }
                }
            },
            record: { p, u, op in
                let box = InstanceBox.from(p)
                guard let billing = box.instance as? any BillingProvider, let u, let op else { return DS_ERR_UNSUPPORTED }
                let usage = Usage(u.pointee)
                return box.run(op) { try await billing.record(usage); return OpResult() }
            },
            cancel: cancel, validate_config: nil))
        return t
    }()

    nonisolated(unsafe) static let sink: UnsafeMutablePointer<ds_log_sink_v1> = {
        let t = UnsafeMutablePointer<ds_log_sink_v1>.allocate(capacity: 1)
        t.initialize(to: ds_log_sink_v1(
            struct_size: UInt32(MemoryLayout<ds_log_sink_v1>.size),
            create: { d, h, c, o, e in create(d, h, c, o, e) { p, host, cfg in try p.export.logSink?.init(host: host, config: cfg) } },
            destroy: destroy,
            write: { p, events, n, op in
                let box = InstanceBox.from(p)
                guard let sink = box.instance as? any LogSink, let op else { return DS_ERR_UNSUPPORTED }
                let batch: [String] = events.map { e in (0..<n).map { e[$0].string } } ?? []
                return box.run(op) {
                    switch try await sink.write(batch) {
                    case .written: return OpResult()
                    case .retry(let reason): throw PluginError.retry(reason)
                    }
                }
            },
            flush: { p, op in
                let box = InstanceBox.from(p)
                guard let sink = box.instance as? any LogSink, let op else { return DS_ERR_UNSUPPORTED }
                return box.run(op) { try await sink.flush(); return OpResult() }
            },
            cancel: cancel, validate_config: nil))
        return t
    }()
}
