import Foundation
import Synchronization

/// A test probe of the thread hand-offs of one message (issue #12: at most 4 thread
/// changes for a message answered inline by a synchronous in-process agent, at most 6 for
/// an asynchronous one).
///
/// A test arms it for one message: its correlation id (`channel:channel_message_id`), the
/// gateway port and HTTP path it arrives on, and optionally the URL of the agent's outgoing
/// requests. Each step of the message path (HTTP read, router submit, turn, store units,
/// agent call, the plugin's HTTP request and response, the agent's completion, the answer to
/// the channel, the channel's response, the HTTP write) calls `record` with its key; a step
/// whose key matches is recorded with the thread it ran on. `disarm` returns the steps in
/// the order they were recorded; `changes` counts how often consecutive steps ran on
/// different threads.
///
/// Debug builds only: in a release build `record` is empty and its key (an autoclosure) is
/// never built, so the message path pays nothing; in a debug build, while no test has armed
/// it, a step costs one atomic load (the key is not built, the thread's name not read).
/// Threading: thread-safe (an atomic flag and a Mutex).
enum HopProbe {
    /// One recorded step: its name and the thread (pthread id and name) it ran on.
    struct Hop: Sendable, CustomStringConvertible {
        let step: String
        let thread: UInt
        let threadName: String
        var description: String { "\(step)@\(threadName)#\(String(thread >> 8 & 0xffff, radix: 16))" }
    }

    /// How often consecutive steps of `hops` ran on different threads.
    static func changes(_ hops: [Hop]) -> Int {
        zip(hops, hops.dropFirst()).filter { $0.thread != $1.thread }.count
    }

    #if DEBUG
    private struct Armed {
        var correlation: String
        var port: Int
        var path: String
        var agentURL: String?
        var hops: [Hop] = []
    }
    private static let state = Mutex<Armed?>(nil)
    /// Whether `state` holds an arming: the steps' fast path while it does not.
    private static let isArmed = Atomic<Bool>(false)

    /// The kernel's name of this thread (what pthread_setname_np set), "" if unreadable.
    private static func threadName() -> String {
        let fd = open("/proc/thread-self/comm", O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { return "" }
        return String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Records `step` on this thread if the arming `matches` it (the thread's name is read
    /// only then).
    private static func append(_ step: StaticString, _ matches: (Armed) -> Bool) {
        guard state.withLock({ s in s.map(matches) ?? false }) else { return }
        let hop = Hop(step: "\(step)", thread: UInt(pthread_self()), threadName: threadName())
        state.withLock { $0?.hops.append(hop) }
    }
    #endif

    /// Starts recording the steps of the message `correlation` arriving on `port` at `path`
    /// (and of the agent requests to `agentURL`). Forgets what an earlier arming recorded.
    static func arm(correlation: String, port: Int, path: String, agentURL: String? = nil) {
        #if DEBUG
        state.withLock { $0 = Armed(correlation: correlation, port: port, path: path, agentURL: agentURL) }
        isArmed.store(true, ordering: .releasing)
        #endif
    }

    /// Stops recording; returns the recorded steps in order (none in a release build).
    static func disarm() -> [Hop] {
        #if DEBUG
        isArmed.store(false, ordering: .releasing)
        return state.withLock { s in
            defer { s = nil }
            return s?.hops ?? []
        }
        #else
        return []
        #endif
    }

    /// The steps recorded so far (the probe stays armed).
    static var recorded: [Hop] {
        #if DEBUG
        return state.withLock { $0?.hops ?? [] }
        #else
        return []
        #endif
    }

    /// A step of the message whose correlation id is `correlation`.
    @inline(__always)
    static func record(_ step: StaticString, correlation: @autoclosure () -> String) {
        #if DEBUG
        guard isArmed.load(ordering: .relaxed) else { return }
        let key = correlation()
        append(step) { $0.correlation == key }
        #endif
    }

    /// A step of the HTTP request for `path` on the listener of `port`.
    @inline(__always)
    static func record(_ step: StaticString, port: @autoclosure () -> Int?, path: @autoclosure () -> Substring) {
        #if DEBUG
        guard isArmed.load(ordering: .relaxed) else { return }
        let p = port(), key = path()
        append(step) { $0.port == p && $0.path == key }
        #endif
    }

    /// A step of a plugin's outgoing HTTP request to `url`.
    @inline(__always)
    static func record(_ step: StaticString, url: @autoclosure () -> String) {
        #if DEBUG
        guard isArmed.load(ordering: .relaxed) else { return }
        let key = url()
        append(step) { $0.agentURL == key }
        #endif
    }
}
