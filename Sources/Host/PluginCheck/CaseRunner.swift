import Foundation
import PluginAPI
import Synchronization

/// Runs the instance cases of one interface in the child process: `create` (example and
/// invalid configs) and `ops` (operations from several threads at once, optionally
/// cancelling half of them), then judges every op the plugin was given.
///
/// Create/destroy/open/close run on the calling thread, never concurrently with anything
/// else on the instance (the header's rule); operations run from `options.threads` threads.
/// Unchecked Sendable: immutable after init; `fns` holds the plugin's C function pointers, which
/// the ABI lets any thread call.
final class CaseRunner: @unchecked Sendable {
    let lib: PluginLibrary
    let fns: CheckInterface
    let options: PluginCheckOptions
    let graceMs: UInt64 = 300

    init(lib: PluginLibrary, fns: CheckInterface, options: PluginCheckOptions) {
        self.lib = lib; self.fns = fns; self.options = options
    }

    private func sleepMs(_ ms: UInt64) { usleep(UInt32(ms * 1000)) }

    private func example() -> ExampleConfig.Example? {
        switch ExampleConfig.example(schemaText: lib.configSchema, given: options.configJSON, what: "config") {
        case .success(let e): return ExampleConfig.Example(json: lib.withDefaults(e.json), source: e.source)
        case .failure(let m):
            CaseLine.emit("skip", "no example config: \(m.message)")
            return nil
        }
    }

    /// A status a synchronous function (create, open, validate_config) may return.
    private func syncStatusOK(_ s: ds_status, _ what: String) -> Bool {
        if s == DS_OK || StatusName.isError(s) { return true }
        CheckHost.state.fail(.statusOutsideTable, "\(what) returned \(StatusName.of(s)); it may return DS_OK or a negative ds_status")
        return false
    }

    /// Creates an instance; nil (after reporting) if the plugin refused.
    private func create(_ name: String, _ config: String, expectOK: Bool) -> (CheckInstance, UnsafeMutableRawPointer?)? {
        let inst = CheckInstance(name: name, interfaceId: fns.id)
        CheckHost.state.register(inst)
        let ((status, ptr), message) = withCheckError { fns.create(inst.handle.pointer, config, $0) }
        guard syncStatusOK(status, "create()") else { return nil }
        if status == DS_OK { return (inst, ptr) }
        if message.isEmpty {
            CheckHost.state.fail(.refusedWithoutReason, "create() refused \(expectOK ? "the example config" : "a config") with \(StatusName.of(status)) and an empty ds_error: name the field and the reason")
        }
        if expectOK {
            CheckHost.state.fail(.exampleConfigRefused, "create() refused the example config: \(message) [\(StatusName.of(status))]")
        }
        return nil
    }

    private func destroy(_ inst: CheckInstance, _ ptr: UnsafeMutableRawPointer?) {
        CaseLine.step("destroy '\(inst.name)'")
        fns.destroy(ptr)
        inst.markDestroyed()
    }

    private func validate(_ config: String, expectOK: Bool) {
        guard let v = fns.validate else { return }
        let (status, message) = withCheckError { v(config, $0) }
        guard syncStatusOK(status, "validate_config()") else { return }
        if status != DS_OK && message.isEmpty {
            CheckHost.state.fail(.refusedWithoutReason, "validate_config() refused a config with \(StatusName.of(status)) and an empty ds_error")
        }
        if expectOK && status != DS_OK {
            CheckHost.state.fail(.exampleConfigRefused, "validate_config() refused the example config: \(message) [\(StatusName.of(status))]")
        }
    }

    // MARK: create

    func createCase() {
        guard let ex = example() else { return }
        CaseLine.emit("info", "example config (\(ex.source)): \(Redactor.redact((try? JSONValue.parse(ex.json)) ?? .null).text)")
        CaseLine.step("validate_config(example)")
        validate(ex.json, expectOK: true)
        CaseLine.step("create(example)")
        if let (inst, ptr) = create("check-example", ex.json, expectOK: true) {
            sleepMs(100)   // let timers and background work the instance started run a little
            destroy(inst, ptr)
            sleepMs(graceMs)
        }
        var refused = 0, accepted = 0
        for (i, bad) in ExampleConfig.invalid(schemaText: lib.configSchema, example: ex.json).enumerated() {
            CaseLine.step("create(invalid config #\(i + 1): \(bad.prefix(200)))")
            validate(bad, expectOK: false)
            if let (inst, ptr) = create("check-invalid-\(i + 1)", bad, expectOK: false) {
                accepted += 1
                destroy(inst, ptr)
            } else {
                refused += 1
            }
        }
        sleepMs(graceMs)
        CaseLine.emit("pass", "example config created and destroyed; \(refused) invalid config(s) refused, \(accepted) accepted (the host's schema check refuses them first)")
    }

    // MARK: ops

    func opsCase(cancelling: Bool) {
        if cancelling && fns.cancel == nil {
            CaseLine.emit("skip", "the table has no cancel (allowed): on a timeout the host only gives up on the op")
            return
        }
        guard let ex = example() else { return }
        CaseLine.step("create(example)")
        guard let (inst, ptr) = create("check-ops", ex.json, expectOK: true) else {
            CaseLine.emit("skip", "create() refused the example config")
            return
        }
        var agent: UnsafeMutableRawPointer? = nil
        if let open = fns.open {
            let agentExample: ExampleConfig.Example
            switch ExampleConfig.example(schemaText: lib.agentConfigSchema, given: options.agentConfigJSON, what: "agent_config") {
            case .success(let e): agentExample = ExampleConfig.Example(json: lib.agentWithDefaults(e.json), source: e.source)
            case .failure(let m):
                CaseLine.emit("skip", "no example agent config: \(m.message)")
                destroy(inst, ptr)
                return
            }
            if let v = fns.validateAgent {
                CaseLine.step("validate_agent_config(example)")
                let (s, m) = withCheckError { v("check-agent", agentExample.json, $0) }
                if syncStatusOK(s, "validate_agent_config()") && s != DS_OK {
                    CheckHost.state.fail(.exampleConfigRefused, "validate_agent_config() refused the example agent config: \(m) [\(StatusName.of(s))]")
                }
            }
            CaseLine.step("open(example agent config)")
            let ((s, a), m) = withCheckError { open(ptr, "check-agent", agentExample.json, $0) }
            guard syncStatusOK(s, "open()"), s == DS_OK else {
                if StatusName.isError(s) {
                    CheckHost.state.fail(.exampleConfigRefused, "open() refused the example agent config (\(agentExample.source)): \(m.isEmpty ? "no reason given" : m) [\(StatusName.of(s))]")
                }
                destroy(inst, ptr)
                return
            }
            agent = a
        }

        let threads = fns.sequentialOnly ? 1 : max(1, options.threads)
        let perThread = max(1, options.opsPerThread)
        let ops = OpList()
        let i = UnsafeSendable(ptr), a = UnsafeSendable(agent)
        CaseLine.step("\(threads * perThread) operations (\(fns.opNames.uniqued.joined(separator: ", "))) from \(threads) thread(s)\(cancelling ? ", cancelling half of them" : "")")
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for k in 0..<perThread {
                let index = t * perThread + k
                let name = fns.opNames[index % fns.opNames.count]
                let (op, p) = CheckHost.state.newOp("\(name) #\(index)", inst)
                ops.append(op)
                let status = fns.issue(i.value, a.value, index, p)
                CheckHost.state.returned(op, status)
                if cancelling, let cancel = fns.cancel {
                    // Even ops: cancel mid-flight (if still pending). Odd ops that already
                    // completed: cancel anyway, the race the header says a plugin must ignore.
                    let done = CheckHost.state.completionCount(op) > 0
                    if index % 2 == 0 && !done && status >= 0 { usleep(20_000) }
                    if (index % 2 == 0 && status >= 0) || (index % 2 == 1 && done) {
                        CheckHost.state.cancelled(op)
                        CheckHost.timed("cancel()") { cancel(i.value, p) }
                    }
                }
                if fns.sequentialOnly { waitFor([op]) }
            }
        }
        if let routes = Optional(inst.routes), !routes.isEmpty {
            CaseLine.step("\(routes.count) route(s) × \(threads) requests: \(routes.map { "\($0.method) \($0.path)" }.joined(separator: ", "))")
            DispatchQueue.concurrentPerform(iterations: threads * routes.count) { n in
                let r = routes[n % routes.count]
                let (op, p) = CheckHost.state.newOp("route \(r.method) \(r.path) #\(n)", inst, isRoute: true)
                ops.append(op)
                let status = Self.callRoute(r, p)
                CheckHost.state.returned(op, status)
            }
        }
        waitFor(ops.all)
        sleepMs(graceMs)
        if let close = fns.close {
            CaseLine.step("close(agent)")
            close(ptr, agent)
        }
        destroy(inst, ptr)
        sleepMs(graceMs)
        let problems = judge(ops.all)
        let routeCount = ops.all.filter(\.isRoute).count
        if problems == 0 {
            CaseLine.emit("pass", "\(ops.all.count - routeCount) operations\(routeCount > 0 ? " and \(routeCount) route requests" : "") each completed exactly once\(cancelling ? ", cancels honoured" : "")")
        }
    }

    /// Calls a route handler with a small request (path parameters filled with "check").
    static func callRoute(_ r: CheckRoute, _ op: OpaquePointer) -> ds_status {
        let a = CArena()
        var req = ds_route_request()
        req.struct_size = UInt32(MemoryLayout<ds_route_request>.size)
        req.method = a.str(r.method == "*" ? "POST" : r.method)
        let path = r.path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("{") && $0.hasSuffix("}") ? "check" : String($0) }.joined(separator: "/")
        req.path = a.str(path)
        let headers = [ds_kv(key: a.str("content-type"), value: a.str("application/x-www-form-urlencoded")),
                       ds_kv(key: a.str("user-agent"), value: a.str("darkspere-plugin-check"))]
        req.headers = a.array(headers)
        req.header_count = headers.count
        req.body = a.str("plugin_check=1")
        req.public_url = a.str("http://127.0.0.1:8080" + path)
        req.remote_address = a.str("127.0.0.1:40000")
        req.route = a.str(r.path)
        var status: ds_status = DS_OK
        withExtendedLifetime(a) { CheckHost.timed("route handler for \(r.method) \(r.path)") { status = r.handler(r.user, &req, op) } }
        return status
    }

    /// Waits until every accepted op has a completion, or the op bound passed.
    private func waitFor(_ ops: [CheckedOp]) {
        let deadline = CheckHost.nowMs() + options.opTimeoutMs
        while CheckHost.nowMs() < deadline {
            let pending = ops.contains { op in
                let s = CheckHost.state.snapshot(op)
                guard let r = s.returned else { return true }
                return r >= 0 && s.completions.isEmpty
            }
            if !pending { return }
            usleep(10_000)
        }
    }

    /// Reports every contract break of `ops`, one finding per kind (with a count and the
    /// first example). Returns how many kinds were found.
    private func judge(_ ops: [CheckedOp]) -> Int {
        // One finding per kind and function ("send", "route POST /x"), with a count and the first example.
        struct Key: Hashable { var kind: CheckFinding.Kind; var function: String }
        var byKind: [Key: (count: Int, first: String)] = [:]
        var order: [Key] = []
        var current = ""
        func add(_ k: CheckFinding.Kind, _ m: String) {
            let key = Key(kind: k, function: current)
            if let e = byKind[key] { byKind[key] = (e.count + 1, e.first) } else { byKind[key] = (1, m); order.append(key) }
        }
        let outcomeMin = UInt32(MemoryLayout<ds_outcome>.size)
        let responseMin = UInt32(MemoryLayout<ds_http_response>.size)
        for op in ops {
            current = String(op.label.split(separator: "#").first ?? "").trimmingCharacters(in: .whitespaces)
            let s = CheckHost.state.snapshot(op)
            let fn = op.isRoute ? "route handler" : String(op.label.split(separator: " ").first ?? "op")
            guard let r = s.returned else { add(.neverCompleted, "\(op.label): the function never returned"); continue }
            let accepted = op.isRoute ? r == DS_OK : (r == DS_OK || r == DS_PENDING)
            if !accepted && !StatusName.isError(r) {
                add(.statusOutsideTable, "\(op.label): \(fn)() returned \(StatusName.of(r)); it may return \(op.isRoute ? "DS_OK" : "DS_OK, DS_PENDING") or a negative ds_status")
                continue
            }
            if !accepted {
                if let c = s.completions.first {
                    add(.completedAndRefused, "\(op.label): \(c.viaRespond ? "responded" : "completed") with \(op.isRoute ? "HTTP \(c.status)" : StatusName.of(c.status)) and then returned \(StatusName.of(r)) (a negative return means the op is never completed)")
                }
                continue
            }
            if s.completions.isEmpty {
                let after = s.cancelledAt != nil ? ", not even after cancel()" : ""
                add(.neverCompleted, "\(op.label): \(fn)() returned \(StatusName.of(r)) but the op was never \(op.isRoute ? "answered with respond()" : "completed")\(after) within \(options.opTimeoutMs) ms")
                continue
            }
            if s.completions.count > 1 {
                let list = s.completions.map { op.isRoute ? "HTTP \($0.status)" : StatusName.of($0.status) }.joined(separator: ", then ")
                add(.completedTwice, "\(op.label): \(op.isRoute ? "answered" : "completed") \(s.completions.count) times (\(list))\(s.cancelledAt != nil ? "; cancel() had been called" : "")")
            }
            for c in s.completions {
                if c.viaRespond != op.isRoute {
                    add(.wrongFunction, "\(op.label): finished with \(c.viaRespond ? "respond()" : "complete()"); \(op.isRoute ? "a route op is answered with respond()" : "an operation is finished with complete()")")
                }
                if op.isRoute {
                    if c.viaRespond && !(100...599).contains(c.status) { add(.statusOutsideTable, "\(op.label): respond() with HTTP status \(c.status)") }
                    if let size = c.outcomeSize, size < responseMin { add(.structSizeTooSmall, "\(op.label): ds_http_response.struct_size is \(size), smaller than the 1.0 layout (\(responseMin) bytes)") }
                } else {
                    if !(c.status == DS_OK || c.status == DS_RETRY || StatusName.isError(c.status)) {
                        add(.statusOutsideTable, "\(op.label): completed with \(StatusName.of(c.status)); an op completes with DS_OK, DS_RETRY or a negative ds_status")
                    }
                    if let size = c.outcomeSize, size < outcomeMin { add(.structSizeTooSmall, "\(op.label): ds_outcome.struct_size is \(size), smaller than the 1.0 layout (\(outcomeMin) bytes): set .struct_size = sizeof(ds_outcome)") }
                }
                if let d = op.instance.destroyedAtMs, c.atMs > d {
                    add(.completedAfterDestroy, "\(op.label): completed \(c.atMs - d) ms after the instance's destroy() returned")
                }
            }
            if let cancelled = s.cancelledAt, let first = s.completions.first, first.atMs > cancelled, first.atMs - cancelled > options.cancelBoundMs {
                add(.completedAfterCancel, "\(op.label): completed \(first.atMs - cancelled) ms after cancel() (bound \(options.cancelBoundMs) ms): the host had given up and dropped this outcome; stop the work and complete promptly when cancelled")
            }
        }
        for key in order {
            let v = byKind[key]!
            CheckHost.state.fail(key.kind, v.count == 1 ? v.first : "\(v.count) \(key.function) ops, e.g. \(v.first)")
        }
        return byKind.count
    }
}

/// The ops of a case, appended from several threads.
final class OpList: Sendable {
    private let list = Mutex<[CheckedOp]>([])
    func append(_ op: CheckedOp) { list.withLock { $0.append(op) } }
    var all: [CheckedOp] { list.withLock { $0 } }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    var uniqued: [Element] { var seen: Set<Element> = []; return filter { seen.insert($0).inserted } }
}
