import Foundation
import Synchronization

/// Runs jobs one at a time per conversation key, in submission order, and at most
/// `limit` jobs at once overall (the router's global limit).
///
/// A job receives a `done` callback and must call it exactly once, from any thread, when
/// its turn is over; the next job of that key (or of another key waiting for a slot)
/// then starts on `pool`. Threading: thread-safe; jobs start on `pool`.
final class ConversationQueues: Sendable {
    typealias Job = @Sendable (_ done: @escaping @Sendable () -> Void) -> Void

    private struct State {
        var perKey: [String: [Job]] = [:]   // key present = a job of it is running or waiting for a slot
        var ready: [(String, Job)] = []     // heads waiting for a global slot, FIFO
        var running = 0
        /// Called once nothing runs or waits (`whenIdle`).
        var idleWaiters: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())
    let limit: Int
    let pool: BlockingThreadPool

    init(limit: Int, pool: BlockingThreadPool) { self.limit = limit; self.pool = pool }

    func submit(key: String, _ job: @escaping Job) {
        let start: Bool = state.withLock { s in
            if s.perKey[key] != nil { s.perKey[key]!.append(job); return false }
            s.perKey[key] = []
            if s.running < limit { s.running += 1; return true }
            s.ready.append((key, job))
            return false
        }
        if start { run(key, job) }
    }


    /// Calls `action` once no job runs or waits (at once if none does), on the thread that
    /// finished the last job: the gateway's shutdown waits for the turns to drain with it.
    func whenIdle(_ action: @escaping @Sendable () -> Void) {
        let now: Bool = state.withLock { s in
            if s.running == 0 && s.ready.isEmpty { return true }
            s.idleWaiters.append(action)
            return false
        }
        if now { action() }
    }

    /// Jobs running plus waiting, for metrics and tests.
    var depth: Int { state.withLock { s in s.running + s.ready.count + s.perKey.values.reduce(0) { $0 + $1.count } } }

    private func run(_ key: String, _ job: @escaping Job) {
        pool.async { job { [self] in finished(key) } }
    }

    private func finished(_ key: String) {
        var idle: [@Sendable () -> Void] = []
        let next: (String, Job)? = state.withLock { s in
            s.running -= 1
            if var q = s.perKey[key], !q.isEmpty {
                let j = q.removeFirst()
                s.perKey[key] = q
                s.ready.append((key, j))
            } else {
                s.perKey[key] = nil
            }
            guard !s.ready.isEmpty, s.running < limit else {
                if s.running == 0 && s.ready.isEmpty && !s.idleWaiters.isEmpty {
                    idle = s.idleWaiters
                    s.idleWaiters = []
                }
                return nil
            }
            s.running += 1
            return s.ready.removeFirst()
        }
        for action in idle { action() }
        if let (k, j) = next { run(k, j) }
    }
}
