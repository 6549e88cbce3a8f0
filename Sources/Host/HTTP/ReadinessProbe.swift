import NIOCore
import Foundation
import Synchronization

/// Runs a blocking readiness check (the store's ping) on a thread of its own, one at a
/// time, and answers every caller with its result — or with `false` once `timeout` has
/// passed, so /readyz says 503 promptly while the store hangs (e.g. PostgreSQL stopped).
/// Callers that arrive while a check runs wait for that check (a hung store does not pile
/// up threads).
///
/// Threading: thread-safe. `done` is called once, on an arbitrary thread.
final class ReadinessProbe: Sendable {
    private struct State {
        var running = false
        var waiters: [@Sendable (Bool) -> Void] = []
    }
    private let state = Mutex(State())

    func check(timeout: Double, on loop: any EventLoop, _ probe: @escaping @Sendable () -> Bool, _ done: @escaping @Sendable (Bool) -> Void) {
        let answered = Once()
        let timer = loop.scheduleTask(in: .milliseconds(Int64(timeout * 1000))) {
            if answered.first() { done(false) }
        }
        let answer: @Sendable (Bool) -> Void = { ok in
            timer.cancel()
            if answered.first() { done(ok) }
        }
        let start = state.withLock { s -> Bool in
            s.waiters.append(answer)
            if s.running { return false }
            s.running = true
            return true
        }
        guard start else { return }
        let t = Thread { [self] in
            let ok = probe()
            let waiters = state.withLock { s -> [@Sendable (Bool) -> Void] in
                defer { s.waiters = []; s.running = false }
                return s.waiters
            }
            for w in waiters { w(ok) }
        }
        t.name = "darkspere-readyz"
        t.start()
    }
}

/// True for the first caller only. Thread-safe.
private final class Once: Sendable {
    private let taken = Atomic<Bool>(false)
    func first() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}
