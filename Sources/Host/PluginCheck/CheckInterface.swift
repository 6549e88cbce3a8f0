import Foundation
import PluginAPI

/// One interface table of the plugin under check, as closures the case runner calls:
/// create/destroy/cancel/validate common to every kind, and `issue`, which starts the
/// kind's operation number `index` (send, call/probe, authorize/record, write/flush).
///
/// Built from the raw table once its struct_size and required members were checked.
/// The closures follow the header's threading rules; the caller keeps to them.
struct CheckInterface {
    let id: String
    /// The header's name for the operation, e.g. "call".
    let opNames: [String]
    let create: (_ handle: OpaquePointer, _ config: String, _ err: UnsafeMutablePointer<ds_error>) -> (ds_status, UnsafeMutableRawPointer?)
    let destroy: (UnsafeMutableRawPointer?) -> Void
    let cancel: ((UnsafeMutableRawPointer?, OpaquePointer) -> Void)?
    let validate: ((String, UnsafeMutablePointer<ds_error>) -> ds_status)?
    /// Agent transports only.
    var open: ((UnsafeMutableRawPointer?, String, String, UnsafeMutablePointer<ds_error>) -> (ds_status, UnsafeMutableRawPointer?))?
    var close: ((UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void)?
    var validateAgent: ((String, String, UnsafeMutablePointer<ds_error>) -> ds_status)?
    /// Log sinks: the header forbids concurrent writes on one instance.
    var sequentialOnly = false
    /// Starts operation `index` (which one of `opNames`: `index % opNames.count`).
    let issue: (_ instance: UnsafeMutableRawPointer?, _ agent: UnsafeMutableRawPointer?, _ index: Int, _ op: OpaquePointer) -> ds_status

    /// The members every interface table has in the same form: create, destroy, cancel
    /// and (ABI 1.2, when the table's struct_size reaches it) validate_config.
    struct Common {
        typealias CreateFn = @convention(c) (UnsafePointer<ds_plugin_descriptor>?, OpaquePointer?, ds_str,
                                             UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<ds_error>?) -> ds_status
        typealias DestroyFn = @convention(c) (UnsafeMutableRawPointer?) -> Void
        typealias CancelFn = @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?) -> Void
        typealias ValidateFn = @convention(c) (UnsafePointer<ds_plugin_descriptor>?, ds_str, UnsafeMutablePointer<ds_error>?) -> ds_status

        let create: (_ handle: OpaquePointer, _ config: String, _ err: UnsafeMutablePointer<ds_error>) -> (ds_status, UnsafeMutableRawPointer?)
        let destroy: (UnsafeMutableRawPointer?) -> Void
        let cancel: ((UnsafeMutableRawPointer?, OpaquePointer) -> Void)?
        let validate: ((String, UnsafeMutablePointer<ds_error>) -> ds_status)?

        /// Closures over table `t` of plugin `d` (create must be non-NULL: `missingMembers`).
        init<T>(_ t: UnsafePointer<T>, _ d: UnsafePointer<ds_plugin_descriptor>, _ create: KeyPath<T, CreateFn?>,
                _ destroy: KeyPath<T, DestroyFn?>, _ cancel: KeyPath<T, CancelFn?>, _ validate: KeyPath<T, ValidateFn?>) {
            self.create = { h, c, e in var out: UnsafeMutableRawPointer?; let s = withDSStr(c) { t.pointee[keyPath: create]!(d, h, $0, &out, e) }; return (s, out) }
            self.destroy = { t.pointee[keyPath: destroy]?($0) }
            self.cancel = t.pointee[keyPath: cancel].map { f in { f($0, $1) } }
            self.validate = hasField(t, validate) ? t.pointee[keyPath: validate].map { f in { c, e in withDSStr(c) { f(d, $0, e) } } } : nil
        }
    }

    init(id: String, opNames: [String], common: Common,
         issue: @escaping (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int, OpaquePointer) -> ds_status) {
        self.id = id; self.opNames = opNames; self.issue = issue
        create = common.create; destroy = common.destroy; cancel = common.cancel; validate = common.validate
    }

    /// The size of the interface's table in ABI 1.0 (up to and including `cancel`).
    static func minimumSize(_ id: String) -> Int? {
        switch id {
        case DS_CHANNEL_V1: MemoryLayout<ds_channel_v1>.offset(of: \.cancel)! + MemoryLayout<UnsafeRawPointer>.size
        case DS_AGENT_TRANSPORT_V1: MemoryLayout<ds_agent_transport_v1>.offset(of: \.cancel)! + MemoryLayout<UnsafeRawPointer>.size
        case DS_BILLING_V1: MemoryLayout<ds_billing_v1>.offset(of: \.cancel)! + MemoryLayout<UnsafeRawPointer>.size
        case DS_LOG_SINK_V1: MemoryLayout<ds_log_sink_v1>.offset(of: \.cancel)! + MemoryLayout<UnsafeRawPointer>.size
        default: nil
        }
    }

    /// The required members that are NULL in the table at `raw` (the header marks the others "may be NULL").
    static func missingMembers(_ id: String, _ raw: UnsafeRawPointer) -> [String] {
        var out: [String] = []
        func need(_ present: Bool, _ name: String) { if !present { out.append(name) } }
        switch id {
        case DS_CHANNEL_V1:
            let t = raw.assumingMemoryBound(to: ds_channel_v1.self).pointee
            need(t.create != nil, "create"); need(t.destroy != nil, "destroy"); need(t.send != nil, "send")
        case DS_AGENT_TRANSPORT_V1:
            let t = raw.assumingMemoryBound(to: ds_agent_transport_v1.self).pointee
            need(t.create != nil, "create"); need(t.destroy != nil, "destroy"); need(t.open != nil, "open")
            need(t.call != nil, "call"); need(t.probe != nil, "probe"); need(t.close != nil, "close")
        case DS_BILLING_V1:
            let t = raw.assumingMemoryBound(to: ds_billing_v1.self).pointee
            need(t.create != nil, "create"); need(t.destroy != nil, "destroy"); need(t.authorize != nil, "authorize"); need(t.record != nil, "record")
        case DS_LOG_SINK_V1:
            let t = raw.assumingMemoryBound(to: ds_log_sink_v1.self).pointee
            need(t.create != nil, "create"); need(t.destroy != nil, "destroy"); need(t.write != nil, "write"); need(t.flush != nil, "flush")
        default: break
        }
        return out
    }

    /// Closures over a table that passed `minimumSize` and `missingMembers`.
    static func make(_ id: String, _ d: UnsafePointer<ds_plugin_descriptor>, _ raw: UnsafeRawPointer, timeoutMs: UInt32) -> CheckInterface? {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        switch id {
        case DS_CHANNEL_V1:
            let t = raw.assumingMemoryBound(to: ds_channel_v1.self)
            return CheckInterface(
                id: id, opNames: ["send"], common: .init(t, d, \.create, \.destroy, \.cancel, \.validate_config),
                issue: { inst, _, i, op in
                    let a = CArena()
                    var m = ds_outbound_message()
                    m.struct_size = UInt32(MemoryLayout<ds_outbound_message>.size)
                    m.message_id = a.str("check-out-\(i)")
                    m.correlation_id = a.str("plugin-check:m-\(i)")
                    m.to = a.str(String(format: "+1555010%04d", i % 10_000))
                    m.text = a.str("darkspere plugin-check message \(i)")
                    return withExtendedLifetime(a) { t.pointee.send!(inst, &m, op) }
                })
        case DS_AGENT_TRANSPORT_V1:
            let t = raw.assumingMemoryBound(to: ds_agent_transport_v1.self)
            var f = CheckInterface(
                id: id, opNames: ["call", "call", "call", "probe"], common: .init(t, d, \.create, \.destroy, \.cancel, \.validate_config),
                issue: { inst, agent, i, op in
                    if i % 4 == 3 { return t.pointee.probe!(inst, agent, op) }
                    let a = CArena()
                    var r = ds_agent_request()
                    r.struct_size = UInt32(MemoryLayout<ds_agent_request>.size)
                    r.message_id = a.str("check-m-\(i)")
                    r.correlation_id = a.str("plugin-check:m-\(i)")
                    r.session_id = a.str("check-session-\(i)")
                    r.channel = a.str("plugin-check")
                    r.from = a.str(String(format: "+1555010%04d", i % 10_000))
                    r.to = a.str("+15550009999")
                    r.text = a.str("darkspere plugin-check message \(i)")
                    let history = [ds_history_entry(role: a.str("user"), text: a.str("earlier"), time_ms: now - 60_000),
                                   ds_history_entry(role: a.str("assistant"), text: a.str("earlier reply"), time_ms: now - 59_000)]
                    r.history = a.array(history)
                    r.history_count = history.count
                    r.timeout_ms = timeoutMs
                    r.time_ms = now
                    return withExtendedLifetime(a) { t.pointee.call!(inst, agent, &r, op) }
                })
            f.open = { inst, name, c, e in
                var out: UnsafeMutableRawPointer?
                let s = withDSStr(name) { n in withDSStr(c) { t.pointee.open!(inst, n, $0, &out, e) } }
                return (s, out)
            }
            f.close = { t.pointee.close?($0, $1) }
            if hasField(t, \.validate_agent_config), let v = t.pointee.validate_agent_config {
                f.validateAgent = { name, c, e in withDSStr(name) { n in withDSStr(c) { v(d, n, $0, e) } } }
            }
            return f
        case DS_BILLING_V1:
            let t = raw.assumingMemoryBound(to: ds_billing_v1.self)
            return CheckInterface(
                id: id, opNames: ["authorize", "record"], common: .init(t, d, \.create, \.destroy, \.cancel, \.validate_config),
                issue: { inst, _, i, op in
                    let a = CArena()
                    var u = ds_usage()
                    u.struct_size = UInt32(MemoryLayout<ds_usage>.size)
                    u.account_id = a.str("check-account")
                    u.customer_id = a.str("cus_plugincheck")
                    u.kind = a.str("sms_inbound")
                    u.quantity = 1
                    u.idempotency_key = a.str("plugin-check-\(i)")
                    u.correlation_id = a.str("plugin-check:m-\(i)")
                    u.time_ms = now
                    return withExtendedLifetime(a) { i % 2 == 0 ? t.pointee.authorize!(inst, &u, op) : t.pointee.record!(inst, &u, op) }
                })
        case DS_LOG_SINK_V1:
            let t = raw.assumingMemoryBound(to: ds_log_sink_v1.self)
            var f = CheckInterface(
                id: id, opNames: ["write", "write", "write", "flush"], common: .init(t, d, \.create, \.destroy, \.cancel, \.validate_config),
                issue: { inst, _, i, op in
                    if i % 4 == 3 { return t.pointee.flush!(inst, op) }
                    let a = CArena()
                    let events = (0..<3).map { j in
                        a.str(#"{"id":"plugin-check-\#(i)-\#(j)","type":"message.received","time_ms":\#(now),"channel":"plugin-check","correlation_id":"plugin-check:m-\#(i)"}"#)
                    }
                    return withExtendedLifetime(a) { events.withUnsafeBufferPointer { t.pointee.write!(inst, $0.baseAddress, $0.count, op) } }
                })
            f.sequentialOnly = true
            return f
        default:
            return nil
        }
    }
}

/// Runs `body` with a fresh ds_error the callee may fill; returns its result and the message.
func withCheckError<R>(_ body: (UnsafeMutablePointer<ds_error>) -> R) -> (R, String) {
    let e = UnsafeMutablePointer<ds_error>.allocate(capacity: 1)
    defer { e.deallocate() }
    e.initialize(to: ds_error())
    e.pointee.struct_size = UInt32(MemoryLayout<ds_error>.size)
    let r = body(e)
    return (r, errorText(&e.pointee))
}
