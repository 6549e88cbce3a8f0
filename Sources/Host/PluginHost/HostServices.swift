import PluginAPI
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One plugin instance as the host knows it; its pointer is the `ds_host_handle *` the
/// plugin passes back to host services. Retained for the life of the process.
/// Unchecked Sendable: `index` is set once in init, before the handle is shared; mutable state is
/// in atomics and a Mutex; the rest is immutable.
final class InstanceHandle: @unchecked Sendable {
    let instanceId: String
    /// The interface this instance serves ("" for handles made outside a plugin set).
    let interfaceId: String
    let runtime: HostRuntime
    let logger: Logger
    /// The ds_instance_info of ds_host.instance_info (1.2): built on first use, kept for the
    /// life of the process (handles are never freed).
    private let info = Mutex<UnsafeMutablePointer<ds_instance_info>?>(nil)
    /// Contract violations logged through this handle (the plugin's first one only).
    let violationsLoggedCount = Atomic<Int>(0)
    /// Set once the instance's `destroy` has returned: later completions are violations.
    private let destroyed = Atomic<Bool>(false)
    /// This handle's number in op and timer ids (see HandleTable); 0 if the process ran out.
    private(set) var index: UInt16 = 0
    /// Operations of this instance (calls, sends, route requests) the plugin has not
    /// finished: a reload destroys a replaced instance only once this is 0 (`whenIdle`).
    /// Incremented when an op is made; decremented only through `operationFinished`.
    let pending = Atomic<Int>(0)
    /// Set (for good) by the first `whenIdle`: from then on the op that brings `pending` to 0
    /// calls the waiters. Read with `pending` in sequentially consistent order, so a waiter
    /// registering while the last op finishes is seen by one side or the other.
    private let idleWatched = Atomic<Bool>(false)
    private let idleWaiters = Mutex<[@Sendable () -> Void]>([])
    /// True while the instance is being created by a reload that has not committed: the
    /// routes it registers wait in the runtime's staging area (see HostRuntime+Staging).
    let staged = Atomic<Bool>(false)

    init(instanceId: String, interfaceId: String = "", runtime: HostRuntime) {
        self.instanceId = instanceId
        self.interfaceId = interfaceId
        self.runtime = runtime
        var l = Logger(label: "plugin.\(instanceId)")
        l.logLevel = runtime.logLevel
        l[metadataKey: "plugin"] = .string(instanceId)
        logger = l
        index = InstanceHandle.register(self)
    }

    var isDestroyed: Bool { destroyed.load(ordering: .acquiring) }

    /// One operation of this instance finished (its completion was claimed).
    func operationFinished() {
        if pending.subtract(1, ordering: .sequentiallyConsistent).newValue == 0 && idleWatched.load(ordering: .sequentiallyConsistent) {
            runIdleWaiters()
        }
    }

    /// Calls `waiter` once, as soon as no operation is pending (at once if none is): on this
    /// thread, or on the thread that finishes the last operation. It must be short.
    func whenIdle(_ waiter: @escaping @Sendable () -> Void) {
        idleWaiters.withLock { $0.append(waiter) }
        idleWatched.store(true, ordering: .sequentiallyConsistent)
        if pending.load(ordering: .sequentiallyConsistent) == 0 { runIdleWaiters() }
    }

    /// `whenIdle` waiters not called yet (tests).
    var idleWaiterCount: Int { idleWaiters.withLock { $0.count } }

    private func runIdleWaiters() {
        let waiters = idleWaiters.withLock { w -> [@Sendable () -> Void] in defer { w = [] }; return w }
        for w in waiters { w() }
    }

    /// The instance's facts as a C struct whose strings live as long as the handle.
    var instanceInfo: UnsafePointer<ds_instance_info> {
        info.withLock { p in
            if let p { return UnsafePointer(p) }
            func cstr(_ s: String) -> ds_str {
                let bytes = Array(s.utf8)
                let m = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
                bytes.withUnsafeBufferPointer { b in if let base = b.baseAddress { UnsafeMutableRawPointer(m).copyMemory(from: base, byteCount: b.count) } }
                return ds_str(ptr: UnsafePointer(m), len: bytes.count)
            }
            let made = UnsafeMutablePointer<ds_instance_info>.allocate(capacity: 1)
            made.initialize(to: ds_instance_info(struct_size: UInt32(MemoryLayout<ds_instance_info>.size), instance_id: cstr(instanceId),
                                                 interface_id: cstr(interfaceId), public_url: cstr(runtime.publicURL)))
            p = made
            return UnsafePointer(made)
        }
    }
    /// After destroy() returned: later completions are violations, and (1.2) children the
    /// instance left running are killed.
    func markDestroyed() {
        destroyed.store(true, ordering: .releasing)
        PluginProcess.killAll(owner: self)
    }

    var pointer: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }
    static func from(_ p: OpaquePointer?) -> InstanceHandle? {
        p.map { Unmanaged<InstanceHandle>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
    }
}

/// A route a plugin registered.
/// Unchecked Sendable: a value; `handler` and `user` are the plugin's, callable from any thread by
/// the ABI; `handle` is itself thread-safe.
struct PluginRoute: @unchecked Sendable {
    let method: String
    let path: String
    /// The parsed path; exact paths live in the runtime's exact table, patterns in a list.
    let pattern: RoutePattern
    /// The path parameters of one matched request (empty in the table).
    var params: [(String, String)] = []
    let handler: ds_route_handler
    let user: UnsafeMutableRawPointer?
    let owner: String
    /// The registering instance: its route ops count violations against it.
    let handle: InstanceHandle?
}

/// The services behind the `ds_host` table: logging, metrics, HTTP client, timers,
/// routes, the router. One per process. Thread-safe.
/// Unchecked Sendable: `handles` only under `handlesLock`; the other state is behind Mutexes or
/// atomics; the rest is immutable.
public final class HostRuntime: @unchecked Sendable {
    public let metrics: MetricsRegistry
    public let httpClient: HTTPClient
    let timerLoop: EventLoop
    let timerGroup: MultiThreadedEventLoopGroup
    let logLevel: Logger.Level
    let routeTable = Mutex<RouteTable>(RouteTable())
    /// Routes of staged instances and the handles a reload replaces (HostRuntime+Staging).
    let staging = Mutex<RouteStaging?>(nil)
    private let publicURLBox = Mutex("")
    private let routerBox = Mutex<(any InboundRouter)?>(nil)
    private let accountsBox = Mutex<(any AccountDirectory)?>(nil)
    private var handles: [InstanceHandle] = []
    private let handlesLock = NSLock()
    /// Plugin ids whose first contract violation was logged (one warning per plugin).
    private let violators = Mutex<Set<String>>([])

    /// True the first time a plugin id breaks the contract in this runtime.
    func firstViolation(of pluginId: String) -> Bool { violators.withLock { $0.insert(pluginId).inserted } }
    /// How many plugins were logged for contract violations (tests).
    var contractViolatorsLogged: Int { violators.withLock { $0.count } }

    public init(metrics: MetricsRegistry = MetricsRegistry(), logLevel: Logger.Level = .info) {
        self.metrics = metrics
        self.logLevel = logLevel
        httpClient = HTTPClient(metrics: metrics)
        timerGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        timerLoop = timerGroup.next()
    }

    public func shutdown() {
        httpClient.shutdown()
        try? timerGroup.syncShutdownGracefully()
    }

    /// The router channels submit to. Set before the server starts.
    public var router: (any InboundRouter)? {
        get { routerBox.withLock { $0 } }
        set { routerBox.withLock { $0 = newValue } }
    }

    /// The accounts billing plugins may change through `ds_host.account_update` (ABI 1.1);
    /// nil = the host keeps no accounts and the service answers DS_ERR_UNSUPPORTED.
    /// Set before plugins are created.
    public var accounts: (any AccountDirectory)? {
        get { accountsBox.withLock { $0 } }
        set { accountsBox.withLock { $0 = newValue } }
    }

    func makeHandle(_ instanceId: String, interfaceId: String = "") -> InstanceHandle {
        let h = InstanceHandle(instanceId: instanceId, interfaceId: interfaceId, runtime: self)
        handlesLock.lock(); handles.append(h); handlesLock.unlock()
        if isStaging { h.staged.store(true, ordering: .releasing) }
        return h
    }

    /// server.public_url (no trailing '/'), for ds_instance_info. Set before plugins are created.
    public var publicURL: String {
        get { publicURLBox.withLock { $0 } }
        set { publicURLBox.withLock { $0 = newValue } }
    }

    func addRoute(_ r: PluginRoute) -> String? {
        if let h = r.handle, h.staged.load(ordering: .acquiring) { return addStagedRoute(r) }
        return routeTable.withLock { $0.add(r) }
    }

    func removeRoute(method: String, path: String, owner: InstanceHandle) -> Bool {
        if owner.staged.load(ordering: .acquiring) { return removeStagedRoute(method: method, path: path, owner: owner) }
        return routeTable.withLock { $0.remove(method: method, path: path, owner: owner) }
    }

    /// The route for a request (with its path parameters), and whether any route has the path.
    func route(method: String, path: String) -> (PluginRoute?, pathKnown: Bool) {
        routeTable.withLock { $0.find(method: method, path: path) }
    }

    /// The methods registered for `path` (for a 405's Allow header).
    func allowedMethods(path: String) -> [String] {
        routeTable.withLock { $0.allowedMethods(path: path) }
    }

    /// Paths of the registered routes, for logs.
    var routePaths: [String] { routeTable.withLock { $0.keys } }

    /// The `ds_host` table handed to every plugin.
    public var table: UnsafePointer<ds_host> { HostTable.table }
}

/// The static `ds_host` table. Its functions find their runtime through the handle.
enum HostTable {
    /// `nonisolated(unsafe)` (both): made once by the lazy (thread-safe) initializer and never
    /// written after; plugins only read them.
    nonisolated(unsafe) static let version = strdup(DarkSpereVersion.current)!

    nonisolated(unsafe) static let table: UnsafePointer<ds_host> = {
        let t = UnsafeMutablePointer<ds_host>.allocate(capacity: 1)
        t.initialize(to: ds_host(
            struct_size: UInt32(MemoryLayout<ds_host>.size),
            abi_major: UInt16(DS_ABI_MAJOR), abi_minor: UInt16(DS_ABI_MINOR),
            host_version: UnsafePointer(version),
            log: { h, level, msg in
                guard let h = InstanceHandle.from(h) else { return }
                let text = msg.string
                switch level {
                case ...DS_LOG_TRACE: h.logger.trace("\(text)")
                case DS_LOG_DEBUG: h.logger.debug("\(text)")
                case DS_LOG_INFO: h.logger.info("\(text)")
                case DS_LOG_WARN: h.logger.warning("\(text)")
                default: h.logger.error("\(text)")
                }
            },
            metric: { h, kind, name, help, labels, n in
                guard let h = InstanceHandle.from(h), let k = Metric.Kind(rawValue: kind) else { return nil }
                let l = kvPairs(labels, n) + [("plugin", h.instanceId)]
                guard let m = h.runtime.metrics.metric(k, name.string, help: help.string, labels: l) else { return nil }
                return OpaquePointer(Unmanaged.passUnretained(m).toOpaque())
            },
            metric_record: { m, v in
                guard let m else { return }
                Unmanaged<Metric>.fromOpaque(UnsafeRawPointer(m)).takeUnretainedValue().record(v)
            },
            http_request: { h, req, cb, user in
                guard let h = InstanceHandle.from(h), let r = req?.pointee, let cb else { return DS_ERR_INVALID }
                return PluginHTTPCall.start(h, r, cb, user, nil)
            },
            timer_start: { h, delay, interval, cb, user in
                guard let h = InstanceHandle.from(h), let cb else { return nil }
                let t = PluginTimer(loop: h.runtime.timerLoop, callback: cb, user: user)
                // The `ds_timer *` is the timer's id in PluginTimer.table, which holds the one
                // reference: registered before the timer can fire (a one-shot timer may fire,
                // and unregister itself, before timer_start returns).
                let id = PluginTimer.table.insert(t, owner: h.index)
                t.start(delayMs: delay, intervalMs: interval, id: id)
                return HandleTable<PluginTimer>.pointer(id)
            },
            timer_cancel: { t in
                guard let t else { return }
                // A stale id (a one-shot timer that fired, a second cancel) is not registered: no-op.
                let id = HandleTable<PluginTimer>.id(t)
                PluginTimer.table.get(id)?.cancel()
                _ = PluginTimer.table.take(id)
            },
            route_register: { h, method, path, handler, user, err in
                guard let h = InstanceHandle.from(h), let handler else { return DS_ERR_INVALID }
                // 1.2: any time while the instance lives (1.1 said "only inside create()").
                guard !h.isDestroyed else {
                    h.violated(.serviceAfterDestroy)
                    "the instance was destroyed".withCString { ds_error_set(err, $0) }
                    return DS_ERR_UNSUPPORTED
                }
                let p = path.string
                let pattern: RoutePattern
                do { pattern = try RoutePattern(p) } catch {
                    "\(error)".withCString { ds_error_set(err, $0) }
                    return DS_ERR_CONFIG
                }
                let m = method.len == 0 ? "*" : method.string.uppercased()
                if let problem = h.runtime.addRoute(PluginRoute(method: m, path: p, pattern: pattern, handler: handler, user: user, owner: h.instanceId, handle: h)) {
                    problem.withCString { ds_error_set(err, $0) }
                    return DS_ERR_CONFIG
                }
                return DS_OK
            },
            respond: { op, resp in
                guard let op else { return }
                let r = resp?.pointee
                let response = RouteResponse(status: Int(r?.status ?? 500), headers: kvPairs(r?.headers, r?.header_count ?? 0),
                                             body: r?.body.bytes ?? [])
                PluginOperation.respond(op, response)
            },
            submit_inbound: { h, msg, cb, user in
                guard let h = InstanceHandle.from(h), let m = msg?.pointee, let cb else { return DS_ERR_INVALID }
                guard !h.isDestroyed else { h.violated(.serviceAfterDestroy); return DS_ERR_UNAVAILABLE }
                guard let router = h.runtime.router else { return DS_ERR_UNAVAILABLE }
                // 1.2 address kinds: refuse a from/to that is neither E.164 nor scheme:id.
                if let problem = Address.problem(field: "from", m.from.string) ?? Address.problem(field: "to", m.to.string) {
                    var o = ds_outcome()
                    o.struct_size = UInt32(MemoryLayout<ds_outcome>.size)
                    withDSStr(problem) { o.error = $0; cb(user, DS_ERR_INVALID, &o) }
                    return DS_OK
                }
                var media: [(url: String, contentType: String)] = []
                if let mp = m.media { for i in 0..<m.media_count { media.append((mp[i].url.string, mp[i].content_type.string)) } }
                let inbound = Inbound(channel: h.instanceId, channelMessageId: m.channel_message_id.string, from: m.from.string,
                                      to: m.to.string, text: m.text.string, media: media, metadata: m.metadata.string)
                let u = UnsafeSendable(user)
                router.submit(inbound) { outcome in
                    HopProbe.record("channel.answer", correlation: "\(inbound.channel):\(inbound.channelMessageId)")
                    var o = ds_outcome()
                    o.struct_size = UInt32(MemoryLayout<ds_outcome>.size)
                    switch outcome {
                    case .reply(let text): withDSStr(text) { o.text = $0; cb(u.value, DS_OK, &o) }
                    case .replyWithMedia(let text, let media):
                        withDSStr(text) { t in withDSStr(MediaJSON.outcomeData(media)) { d in o.text = t; o.data = d; cb(u.value, DS_OK, &o) } }
                    case .deferred: cb(u.value, DS_DEFERRED, &o)
                    case .rejected(let status, let why): withDSStr(why) { o.error = $0; cb(u.value, status, &o) }
                    }
                }
                return DS_OK
            },
            complete: { op, status, outcome in
                guard let op else { return }
                PluginOperation.complete(op, OpOutcome(status: status, outcome))
            },
            get_env: { _, name, buf, cap, outLen in
                guard let value = ProcessInfo.processInfo.environment[name.string] else { return DS_ERR_NOT_FOUND }
                let bytes = Array(value.utf8)
                outLen?.pointee = bytes.count
                guard cap >= bytes.count else { return DS_ERR_TOO_LARGE }
                if let buf, !bytes.isEmpty { bytes.withUnsafeBytes { UnsafeMutableRawPointer(buf).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) } }
                if cap > bytes.count { buf?[bytes.count] = 0 }
                return DS_OK
            },
            report_status: { h, id, status, code in
                guard let h = InstanceHandle.from(h), let router = h.runtime.router else { return DS_ERR_UNAVAILABLE }
                return router.reportStatus(channel: h.instanceId, providerMessageId: id.string, status: status.string, errorCode: code) ? DS_OK : DS_ERR_NOT_FOUND
            },
            account_update: { h, customer, tier, status in
                guard let h = InstanceHandle.from(h) else { return DS_ERR_INVALID }
                guard let directory = h.runtime.accounts else { return DS_ERR_UNSUPPORTED }
                let customerId = customer.string, tierName = tier.string, statusText = status.string
                var newStatus: AccountStatus?
                if !statusText.isEmpty {
                    guard let st = AccountStatus(rawValue: statusText) else {
                        h.logger.warning("account_update: unknown status '\(statusText)'")
                        return DS_ERR_INVALID
                    }
                    newStatus = st
                }
                switch directory.update(customerId: customerId, tier: tierName.isEmpty ? nil : tierName, status: newStatus) {
                case .updated:
                    h.logger.info("account of customer \(customerId): tier \(tierName.isEmpty ? "unchanged" : tierName), status \(statusText.isEmpty ? "unchanged" : statusText)")
                    return DS_OK
                case .notFound: return DS_ERR_NOT_FOUND
                case .invalid(let why):
                    h.logger.warning("account_update: \(why)")
                    return DS_ERR_INVALID
                case .failed(let why):
                    h.logger.error("account_update: \(why)")
                    return DS_ERR_UNAVAILABLE
                }
            },
            instance_info: { h in
                guard let h = InstanceHandle.from(h) else { return nil }
                return h.instanceInfo
            },
            route_unregister: { h, method, path in
                guard let h = InstanceHandle.from(h) else { return DS_ERR_INVALID }
                let m = method.len == 0 ? "*" : method.string.uppercased()
                return h.runtime.removeRoute(method: m, path: path.string, owner: h) ? DS_OK : DS_ERR_NOT_FOUND
            },
            http_start: { h, req, cb, user, out in
                out?.pointee = nil
                guard let h = InstanceHandle.from(h), let r = req?.pointee, let cb else { return DS_ERR_INVALID }
                return PluginHTTPCall.start(h, r, cb, user, out)
            },
            http_cancel: { call in
                guard let call else { return }
                PluginHTTPCall.cancel(call)
            },
            process_spawn: { h, spec, cb, user, out, err in
                out?.pointee = nil
                guard let h = InstanceHandle.from(h), let spec, let cb else {
                    "process_spawn: handle, spec and callback are required".withCString { ds_error_set(err, $0) }
                    return DS_ERR_INVALID
                }
                guard !h.isDestroyed else { h.violated(.serviceAfterDestroy); return DS_ERR_UNAVAILABLE }
                do { try PluginProcess.spawn(owner: h, spec: spec, callback: cb, user: user, out: out) } catch let e as PluginProcess.SpawnError {
                    e.message.withCString { ds_error_set(err, $0) }
                    return e.status
                } catch { return DS_ERR_FAILED }
                return DS_OK
            },
            process_write: { p, data in
                guard let p, let process = PluginProcess.table.get(HandleTable<PluginProcess>.id(p)) else { return DS_ERR_NOT_FOUND }
                guard data.len > 0, let ptr = data.ptr else { return DS_OK }
                return process.write(UnsafeRawBufferPointer(start: ptr, count: data.len))
            },
            process_close_stdin: { p in
                guard let p else { return }
                PluginProcess.table.get(HandleTable<PluginProcess>.id(p))?.closeStdin()
            },
            process_kill: { p, sig in
                guard let p, let process = PluginProcess.table.get(HandleTable<PluginProcess>.id(p)) else { return DS_ERR_NOT_FOUND }
                return process.sendSignal(sig)
            }))
        return UnsafePointer(t)
    }()
}

/// Carries a C `void *user` across threads; the plugin vouches for its thread safety.
/// Unchecked Sendable: only carries the plugin's `user` pointer, which the ABI requires to be
/// usable from any thread.
struct UnsafeSendable: @unchecked Sendable {
    let value: UnsafeMutableRawPointer?
    init(_ v: UnsafeMutableRawPointer?) { value = v }
}

/// Carries a closure that only calls into a plugin through its interface table (which the
/// ABI lets any thread do) across threads.
/// Unchecked Sendable: the closure captures only the plugin's read-only table and its
/// `instance` pointer, and calls a function the ABI allows from any thread.
struct PluginCall<Value>: @unchecked Sendable {
    let value: Value
    init(_ v: Value) { value = v }
}

/// A plugin timer on the host's timer loop. After `cancel` returns the callback is not
/// running and will not run again (a recursive lock lets cancel run inside the callback).
///
/// Ownership: `table` holds the only lasting reference, from timer_start until the timer is
/// cancelled or, for a one-shot timer, has fired; the `ds_timer *` is its id there, so a
/// cancel after that finds nothing and does nothing.
/// Unchecked Sendable: `cancelled`, `scheduled` and `repeated` only under `lock`; callback and
/// `user` are the plugin's (any thread by the ABI).
final class PluginTimer: @unchecked Sendable {
    static let table = HandleTable<PluginTimer>()

    private let loop: EventLoop
    private let callback: ds_timer_callback
    private let user: UnsafeSendable
    private let lock = NSRecursiveLock()
    private var cancelled = false
    private var scheduled: Scheduled<Void>?
    private var repeated: RepeatedTask?

    init(loop: EventLoop, callback: @escaping ds_timer_callback, user: UnsafeMutableRawPointer?) {
        self.loop = loop; self.callback = callback; self.user = UnsafeSendable(user)
    }

    func start(delayMs: UInt64, intervalMs: UInt64, id: UInt64) {
        lock.lock(); defer { lock.unlock() }
        if intervalMs == 0 {
            scheduled = loop.scheduleTask(in: .milliseconds(Int64(delayMs))) { [self] in
                fire()
                // A one-shot timer is done: drop the table's reference.
                _ = PluginTimer.table.take(id)
            }
        } else {
            repeated = loop.scheduleRepeatedTask(initialDelay: .milliseconds(Int64(delayMs)), delay: .milliseconds(Int64(intervalMs))) { [self] _ in fire() }
        }
    }

    private func fire() {
        lock.lock(); defer { lock.unlock() }
        if !cancelled { callback(user.value) }
    }

    func cancel() {
        lock.lock()
        cancelled = true
        scheduled?.cancel()
        repeated?.cancel()
        lock.unlock()
    }
}
