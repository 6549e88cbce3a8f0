import Foundation
import PluginAPI
import Synchronization

/// The `ds_host` table `darkspere plugin-check` hands to the plugin under test: the real
/// host's table (logging, metrics, get_env, instance_info, timers) with the services that
/// touch operations or the outside world replaced by recording ones:
///
/// - `complete` / `respond` record every call against the op the checker handed out
///   (how many, which status, when, after cancel or destroy) instead of acting on it;
/// - `http_request` / `http_start` never touch the network: a checker thread answers every
///   request with HTTP 503 a few milliseconds later (`http_cancel` answers DS_ERR_CANCELLED);
/// - `submit_inbound` validates the message (sizes, ADDRESSES) and answers DS_DEFERRED;
/// - `route_register` / `route_unregister` keep the routes in the checker, which calls the
///   handlers itself;
/// - `process_spawn` is the real service (1.2), with the plugin's callback wrapped;
/// - every callback into the plugin (HTTP, timer, submit, process) is timed: one that does not return
///   within `callbackBoundMs` is a `blocking_callback`.
///
/// One process runs one check case (see `PluginCheck`), so this state is process-global.
/// Thread safety: every member may be used from any thread (one lock).
enum CheckHost {
    /// The real runtime behind the services the checker does not replace.
    static let runtime: HostRuntime = HostRuntime(logLevel: .info)
    /// Set once by the case runner before the plugin is created, read by every timed callback.
    static let callbackBound = Atomic<UInt64>(1_000)
    static var callbackBoundMs: UInt64 { callbackBound.load(ordering: .relaxed) }
    static let state = CheckState()

    /// Milliseconds since an arbitrary start (monotonic).
    static func nowMs() -> UInt64 { DispatchTime.now().uptimeNanoseconds / 1_000_000 }

    /// The `ds_op *` value of checker op `id`: non-null, never reused, never a host address.
    static func opPointer(_ id: Int) -> OpaquePointer { OpaquePointer(bitPattern: UInt(0x0D5C_0000_0000) + UInt(id) << 4)! }
    static func opId(_ p: OpaquePointer) -> Int { Int((UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(p))) - UInt(0x0D5C_0000_0000)) >> 4) }

    /// Runs a callback into the plugin, recording how long it ran: a callback still running
    /// past the bound is reported by `runningCallbacks` even if it never returns.
    static func timed(_ what: String, _ body: () -> Void) {
        let token = state.callbackStarted(what)
        body()
        let ms = state.callbackEnded(token)
        if ms > callbackBoundMs {
            state.fail(.blockingCallback, "the plugin's \(what) ran for \(ms) ms before returning (bound \(callbackBoundMs) ms): callbacks run on host threads and must not block")
        }
    }

    /// The instance a `ds_host_handle *` belongs to, reporting a service call after destroy.
    static func live(_ h: OpaquePointer?, _ service: String) -> CheckInstance? {
        guard let h, let inst = state.instance(h) else {
            state.fail(.invalidHandle, "\(service) was called with a ds_host_handle the host never gave out")
            return nil
        }
        if inst.destroyedAtMs != nil {
            state.fail(.serviceAfterDestroy, "\(service) was called for instance '\(inst.name)' after its destroy() returned")
        }
        return inst
    }

    /// `nonisolated(unsafe)`: built once by the lazy (thread-safe) initializer, never written
    /// after; the plugin only reads it.
    nonisolated(unsafe) static let table: UnsafePointer<ds_host> = {
        let real = HostTable.table.pointee
        var t = real
        t.http_request = { h, req, cb, user in
            guard CheckHost.live(h, "http_request") != nil else { return DS_ERR_INVALID }
            guard let cb, let req else { return DS_ERR_INVALID }
            if let problem = CheckHost.httpProblem(req) { CheckHost.state.fail(.invalidArgument, "http_request: \(problem)"); return DS_ERR_INVALID }
            FakeHTTPCall(callback: cb, user: user).start()
            return DS_OK
        }
        t.http_start = { h, req, cb, user, out in
            guard CheckHost.live(h, "http_start") != nil else { return DS_ERR_INVALID }
            out?.pointee = nil
            guard let cb, let req else { return DS_ERR_INVALID }
            if let problem = CheckHost.httpProblem(req) { CheckHost.state.fail(.invalidArgument, "http_start: \(problem)"); return DS_ERR_INVALID }
            let call = FakeHTTPCall(callback: cb, user: user)
            out?.pointee = OpaquePointer(Unmanaged.passRetained(call).toOpaque())   // kept for the process: a late cancel stays safe
            call.start()
            return DS_OK
        }
        t.http_cancel = { call in
            guard let call else { return }
            Unmanaged<FakeHTTPCall>.fromOpaque(UnsafeRawPointer(call)).takeUnretainedValue().finish(cancelled: true)
        }
        t.timer_start = { h, delay, interval, cb, user in
            guard let inst = CheckHost.live(h, "timer_start"), let cb else { return nil }
            let box = TimerBox(callback: cb, user: user, instance: inst)
            let u = Unmanaged.passRetained(box).toOpaque()   // one per timer, kept for the process
            return HostTable.table.pointee.timer_start(h, delay, interval, { u in
                guard let u else { return }
                let box = Unmanaged<TimerBox>.fromOpaque(u).takeUnretainedValue()
                if box.instance.destroyedAtMs != nil {
                    CheckHost.state.fail(.timerAfterDestroy, "a timer of instance '\(box.instance.name)' fired after destroy() returned: cancel every timer in destroy()")
                    return
                }
                CheckHost.timed("timer callback") { box.callback(box.user) }
            }, u)
        }
        t.route_register = { h, method, path, handler, user, err in
            guard let inst = CheckHost.live(h, "route_register"), let handler else { return DS_ERR_INVALID }
            let p = path.string
            do { _ = try RoutePattern(p) } catch {
                "\(error)".withCString { ds_error_set(err, $0) }
                return DS_ERR_CONFIG
            }
            let m = method.len == 0 ? "*" : method.string.uppercased()
            return inst.addRoute(CheckRoute(method: m, path: p, handler: handler, user: user)) ? DS_OK : {
                "route \(m) \(p) is already registered".withCString { ds_error_set(err, $0) }
                return DS_ERR_CONFIG
            }()
        }
        t.route_unregister = { h, method, path in
            guard let inst = CheckHost.live(h, "route_unregister") else { return DS_ERR_NOT_FOUND }
            return inst.removeRoute(method: method.len == 0 ? "*" : method.string.uppercased(), path: path.string) ? DS_OK : DS_ERR_NOT_FOUND
        }
        t.respond = { op, resp in
            guard let op else { CheckHost.state.fail(.invalidArgument, "respond() was called with a NULL op"); return }
            var size: UInt32 = 0
            var status: Int32 = 0
            if let resp { size = resp.pointee.struct_size; status = resp.pointee.status }
            CheckHost.state.recordCompletion(op, status: status, outcomeSize: resp == nil ? nil : size, isRespond: true)
        }
        t.complete = { op, status, outcome in
            guard let op else { CheckHost.state.fail(.invalidArgument, "complete() was called with a NULL op"); return }
            CheckHost.state.recordCompletion(op, status: status, outcomeSize: outcome.map { $0.pointee.struct_size }, isRespond: false)
        }
        t.submit_inbound = { h, msg, cb, user in
            guard CheckHost.live(h, "submit_inbound") != nil, let cb else { return DS_ERR_INVALID }
            guard let msg else { CheckHost.state.fail(.invalidArgument, "submit_inbound: message is NULL"); return DS_ERR_INVALID }
            let m = msg.pointee
            var problem: String?
            if m.struct_size < UInt32(MemoryLayout<ds_inbound_message>.size) {
                CheckHost.state.fail(.structSizeTooSmall, "submit_inbound: ds_inbound_message.struct_size is \(m.struct_size), smaller than the 1.0 layout (\(MemoryLayout<ds_inbound_message>.size) bytes)")
                problem = "struct_size too small"
            } else if m.channel_message_id.len == 0 {
                problem = "channel_message_id is empty"
            } else {
                problem = Address.problem(field: "from", m.from.string) ?? Address.problem(field: "to", m.to.string)
            }
            let u = UnsafeSendable(user)
            let refusal = problem
            DispatchQueue.global().async {
                var o = ds_outcome()
                o.struct_size = UInt32(MemoryLayout<ds_outcome>.size)
                CheckHost.timed("submit_inbound callback") {
                    if let refusal { withDSStr(refusal) { o.error = $0; cb(u.value, DS_ERR_INVALID, &o) } } else { cb(u.value, DS_DEFERRED, &o) }
                }
            }
            return DS_OK
        }
        t.process_spawn = { h, spec, cb, user, out, err in
            guard CheckHost.live(h, "process_spawn") != nil, let cb else { return DS_ERR_INVALID }
            // The real service, with the plugin's callback timed like every other callback.
            let box = Unmanaged.passRetained(ProcessBox(callback: cb, user: user)).toOpaque()
            let status = HostTable.table.pointee.process_spawn(h, spec, { u, event, data, code in
                guard let u else { return }
                let box = Unmanaged<ProcessBox>.fromOpaque(u)
                CheckHost.timed("process callback") { box.takeUnretainedValue().callback(box.takeUnretainedValue().user, event, data, code) }
                if event == DS_PROCESS_EXIT { box.release() }
            }, box, out, err)
            if status != DS_OK { Unmanaged<ProcessBox>.fromOpaque(box).release() }
            return status
        }
        t.report_status = { h, _, _, _ in
            _ = CheckHost.live(h, "report_status")
            return DS_ERR_NOT_FOUND
        }
        let p = UnsafeMutablePointer<ds_host>.allocate(capacity: 1)
        p.initialize(to: t)
        return UnsafePointer(p)
    }()

    /// Why a ds_http_request is unusable, or nil.
    static func httpProblem(_ r: UnsafePointer<ds_http_request>) -> String? {
        let min = MemoryLayout<ds_http_request>.size
        if r.pointee.struct_size < UInt32(min) {
            state.fail(.structSizeTooSmall, "ds_http_request.struct_size is \(r.pointee.struct_size), smaller than the 1.0 layout (\(min) bytes)")
            return "struct_size too small"
        }
        let url = r.pointee.url.string
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { return "url '\(url.prefix(40))' is not an absolute http(s) URL" }
        return nil
    }
}

/// A plugin's timer callback, wrapped so the checker can time it and notice it after destroy.
/// Unchecked Sendable: immutable after init; `callback` and `user` are the plugin's, which the ABI
/// says may be called from any thread.
final class TimerBox: @unchecked Sendable {
    let callback: ds_timer_callback
    let user: UnsafeMutableRawPointer?
    let instance: CheckInstance
    init(callback: ds_timer_callback, user: UnsafeMutableRawPointer?, instance: CheckInstance) {
        self.callback = callback; self.user = user; self.instance = instance
    }
}

/// A plugin's child-process callback, wrapped so the checker can time it; released after
/// the exit event.
/// Unchecked Sendable: immutable after init; `callback` and `user` are the plugin's, callable from
/// any thread by the ABI.
final class ProcessBox: @unchecked Sendable {
    let callback: ds_process_callback
    let user: UnsafeMutableRawPointer?
    init(callback: @escaping ds_process_callback, user: UnsafeMutableRawPointer?) { self.callback = callback; self.user = user }
}

/// One HTTP request of the plugin, answered by the checker (503, no network) or cancelled.
/// The callback runs exactly once, on a checker thread. Thread safety: any thread.
/// Unchecked Sendable: `done` is read and written only under `lock`; the rest is immutable (the
/// plugin's callback and `user`, any thread by the ABI).
final class FakeHTTPCall: @unchecked Sendable {
    private let callback: ds_http_callback
    private let user: UnsafeSendable
    private let lock = NSLock()
    private var done = false

    init(callback: @escaping ds_http_callback, user: UnsafeMutableRawPointer?) {
        self.callback = callback; self.user = UnsafeSendable(user)
    }

    func start() {
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(5)) { self.finish(cancelled: false) }
    }

    func finish(cancelled: Bool) {
        lock.lock()
        let first = !done
        done = true
        lock.unlock()
        guard first else { return }
        let go: @Sendable () -> Void = { [self] in
            if cancelled {
                CheckHost.timed("HTTP callback") { withDSStr("cancelled") { callback(user.value, DS_ERR_CANCELLED, nil, $0) } }
                return
            }
            let body = Array(#"{"error":"darkspere plugin-check answers every request with 503"}"#.utf8)
            body.withUnsafeBufferPointer { b in
                var r = ds_http_response()
                r.struct_size = UInt32(MemoryLayout<ds_http_response>.size)
                r.status = 503
                r.body = ds_str(ptr: UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self), len: b.count)
                CheckHost.timed("HTTP callback") { callback(user.value, DS_OK, &r, ds_str(ptr: nil, len: 0)) }
            }
        }
        if cancelled { DispatchQueue.global().async(execute: go) } else { go() }
    }
}

/// A route an instance registered with the checker's host.
/// Unchecked Sendable: immutable; `handler` and `user` are the plugin's, callable from any thread
/// by the ABI.
struct CheckRoute: @unchecked Sendable {
    let method: String
    let path: String
    let handler: ds_route_handler
    let user: UnsafeMutableRawPointer?
}

/// One instance the checker created: its handle, routes and when it was destroyed.
/// Thread safety: any thread (own lock).
/// Unchecked Sendable: `routeList` and `destroyed` only under `lock`; the rest is immutable.
final class CheckInstance: @unchecked Sendable {
    let name: String
    let handle: InstanceHandle
    private let lock = NSLock()
    private var routeList: [CheckRoute] = []
    private var destroyed: UInt64?

    init(name: String, interfaceId: String) {
        self.name = name
        handle = CheckHost.runtime.makeHandle(name, interfaceId: interfaceId)
    }

    var destroyedAtMs: UInt64? { lock.lock(); defer { lock.unlock() }; return destroyed }
    func markDestroyed() {
        lock.lock(); destroyed = CheckHost.nowMs(); lock.unlock()
        handle.markDestroyed()   // as the host does: kills children the instance left running
    }

    var routes: [CheckRoute] { lock.lock(); defer { lock.unlock() }; return routeList }
    func addRoute(_ r: CheckRoute) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard !routeList.contains(where: { $0.method == r.method && $0.path == r.path }) else { return false }
        routeList.append(r)
        return true
    }
    func removeRoute(method: String, path: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        let n = routeList.count
        routeList.removeAll { $0.method == method && $0.path == path }
        return routeList.count != n
    }
}

/// One operation the checker handed to the plugin and everything the plugin did with it.
/// Unchecked Sendable: its `var`s are written and read only under `CheckState`'s lock (`returned`,
/// `cancelled`, `completed`, `report`); the rest is immutable.
final class CheckedOp: @unchecked Sendable {
    struct Completion { var status: Int32; var atMs: UInt64; var outcomeSize: UInt32?; var viaRespond: Bool }
    let id: Int
    let label: String
    let instance: CheckInstance
    let isRoute: Bool
    var returned: Int32?
    var returnedAtMs: UInt64?
    var cancelledAtMs: UInt64?
    var completions: [Completion] = []
    init(id: Int, label: String, instance: CheckInstance, isRoute: Bool) {
        self.id = id; self.label = label; self.instance = instance; self.isRoute = isRoute
    }
}

/// The checker's process-wide record: instances, ops, findings, running callbacks.
/// Thread safety: any thread (one lock).
/// Unchecked Sendable: every `var` is read and written only under `lock`.
final class CheckState: @unchecked Sendable {
    private let lock = NSLock()
    private var ops: [Int: CheckedOp] = [:]
    private var nextOp = 1
    private var instances: [UnsafeRawPointer: CheckInstance] = [:]
    private(set) var findingList: [CheckFinding] = []
    private var running: [Int: (what: String, since: UInt64)] = [:]
    private var nextToken = 1

    func register(_ i: CheckInstance) { lock.lock(); instances[UnsafeRawPointer(i.handle.pointer)] = i; lock.unlock() }
    func instance(_ h: OpaquePointer) -> CheckInstance? { lock.lock(); defer { lock.unlock() }; return instances[UnsafeRawPointer(h)] }

    func fail(_ kind: CheckFinding.Kind, _ message: String) {
        lock.lock(); findingList.append(CheckFinding(kind: kind, message: message)); lock.unlock()
    }
    var findings: [CheckFinding] { lock.lock(); defer { lock.unlock() }; return findingList }

    func newOp(_ label: String, _ instance: CheckInstance, isRoute: Bool = false) -> (CheckedOp, OpaquePointer) {
        lock.lock(); defer { lock.unlock() }
        let op = CheckedOp(id: nextOp, label: label, instance: instance, isRoute: isRoute)
        ops[nextOp] = op
        nextOp += 1
        return (op, CheckHost.opPointer(op.id))
    }

    func returned(_ op: CheckedOp, _ status: Int32) { lock.lock(); op.returned = status; op.returnedAtMs = CheckHost.nowMs(); lock.unlock() }
    func cancelled(_ op: CheckedOp) { lock.lock(); op.cancelledAtMs = CheckHost.nowMs(); lock.unlock() }
    func completionCount(_ op: CheckedOp) -> Int { lock.lock(); defer { lock.unlock() }; return op.completions.count }
    func snapshot(_ op: CheckedOp) -> (returned: Int32?, cancelledAt: UInt64?, completions: [CheckedOp.Completion]) {
        lock.lock(); defer { lock.unlock() }
        return (op.returned, op.cancelledAtMs, op.completions)
    }

    func recordCompletion(_ p: OpaquePointer, status: Int32, outcomeSize: UInt32?, isRespond: Bool) {
        let raw = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(p)))
        lock.lock()
        let op = raw >= 0x0D5C_0000_0000 && raw & 0xF == 0 ? ops[CheckHost.opId(p)] : nil
        op?.completions.append(.init(status: status, atMs: CheckHost.nowMs(), outcomeSize: outcomeSize, viaRespond: isRespond))
        lock.unlock()
        if op == nil {
            fail(.unknownOp, "\(isRespond ? "respond" : "complete")() was called with an op the host never handed out (\(String(raw, radix: 16)))")
        }
    }

    func callbackStarted(_ what: String) -> Int {
        lock.lock(); defer { lock.unlock() }
        let t = nextToken
        nextToken += 1
        running[t] = (what, CheckHost.nowMs())
        return t
    }

    func callbackEnded(_ token: Int) -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        guard let r = running.removeValue(forKey: token) else { return 0 }
        return CheckHost.nowMs() - r.since
    }

    /// Callbacks still running for longer than `boundMs` (they may never return).
    func stuckCallbacks(boundMs: UInt64) -> [(String, UInt64)] {
        lock.lock(); defer { lock.unlock() }
        let now = CheckHost.nowMs()
        return running.values.filter { now - $0.since > boundMs }.map { ($0.what, now - $0.since) }
    }
}
