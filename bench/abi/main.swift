// Cost of one host->plugin call through the ABI, in ns per call.
//
//   swift build -c release && .build/release/bench-abi [iterations]
//
// 1. sync:   probe() of the C echo agent. The plugin completes the op inside the call
//            (host allocates the op, calls through the table, plugin calls host->complete,
//            the host runs the completion).
// 2. async:  call() of the C echo agent with a request (strings and history marshalled),
//            the plugin formats a reply and completes; the host copies the outcome.
// 3. pluginkit: call() of the Swift echo agent through PluginKit: the plugin returns
//            DS_PENDING, runs the reply in a Swift task and completes from another thread;
//            measured with 64 calls in flight (throughput) and one at a time (latency).
import Dispatch
import Foundation
import Host
import Synchronization

let iterations = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1_000_000 : 1_000_000
let buildDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
let yaml = """
    plugin_path: ["\(buildDir)"]
    plugins:
      - id: c-echo
        library: c-echo-agent
      - id: swift-echo
        library: swift-echo-agent
    agents:
      - name: c
        transport: c-echo
      - name: s
        transport: swift-echo
    """
let set = try PluginSet.start(try ConfigLoader(environment: [:]).load(yaml: yaml), runtime: HostRuntime(logLevel: .error))
let c = set.agents.first { $0.name == "c" }!
let s = set.agents.first { $0.name == "s" }!

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

final class Counter: Sendable { let n = Atomic<Int>(0) }

func measure(_ name: String, _ n: Int, _ body: (Int) -> Void) {
    body(min(n, 10_000))   // warm-up
    let t0 = now()
    body(n)
    let ns = Double(now() - t0) / Double(n)
    print(String(format: "%-44@ %9.1f ns/call  (%d calls)", name as NSString, ns, n))
}

print("DarkSpere ABI call cost (host ABI \(PluginLoader.hostABI), \(ProcessInfo.processInfo.activeProcessorCount) cores)")

measure("sync: C probe, completes inside the call", iterations) { n in
    let done = Counter()
    for _ in 0..<n { c.transport.probeSync(c) { _ in done.n.add(1, ordering: .relaxed) } }
    precondition(done.n.load(ordering: .relaxed) == n)
}

var req = AgentCall()
req.text = "hello there"
req.sessionId = "session-1"
req.from = "+15551234567"
req.to = "+15557654321"
req.history = (0..<4).map { (role: $0 % 2 == 0 ? "user" : "assistant", text: "message \($0)", timeMs: Int64($0)) }
req.timeoutMs = 0

measure("async: C call + completion (4 history)", iterations) { n in
    let done = Counter()
    for _ in 0..<n { c.transport.call(c, req) { o in if o.ok { done.n.add(1, ordering: .relaxed) } } }
    precondition(done.n.load(ordering: .relaxed) == n)
}

let pkN = max(iterations / 10, 10_000)
measure("pluginkit: Swift call, 64 in flight", pkN) { n in
    let sem = DispatchSemaphore(value: 64)
    let all = DispatchSemaphore(value: 0)
    let done = Counter()
    for _ in 0..<n {
        sem.wait()
        s.transport.call(s, req) { _ in
            sem.signal()
            if done.n.add(1, ordering: .relaxed).newValue == n { all.signal() }
        }
    }
    all.wait()
}

measure("pluginkit: Swift call, one at a time", pkN / 10) { n in
    let one = DispatchSemaphore(value: 0)
    for _ in 0..<n {
        s.transport.call(s, req) { _ in one.signal() }
        one.wait()
    }
}
set.shutdown()
