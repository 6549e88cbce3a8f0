import NIOCore
import Synchronization

/// The wait between two rounds of a background service's loop, timed on the host's timer
/// event loop (`HostRuntime.timerLoop`, where operation timeouts and plugin timers run too):
/// `sleep` returns after the interval, at once after `wake()` (work arrived: the next round
/// starts now), and returns false for good after `close()` (graceful shutdown or
/// cancellation of the service: the loop ends). No thread sleeps and nothing polls a flag.
///
/// A `wake()` while nobody sleeps is remembered: the next `sleep` returns at once (a kick
/// during a round is never lost).
///
/// Threading: `wake` and `close` from any thread; `sleep` from one task at a time.
/// Ownership: owned by the service whose loop it times; a pending timer holds it until it
/// fires or `wake`/`close` cancels it.
final class ServiceSleeper: Sendable {
    private struct State {
        var woken = false
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
        var timer: Scheduled<Void>?
        /// Tells a late timer of an earlier sleep from the current one.
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    /// True once `close()` was called.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Waits up to `seconds`; returns early after `wake()`. False once closed: the caller's
    /// loop should end (it returns false at once if `close()` came first).
    func sleep(_ seconds: Double) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let generation: UInt64? = state.withLock { s in
                if s.closed || s.woken { s.woken = false; return nil }
                s.generation &+= 1
                s.waiter = c
                return s.generation
            }
            guard let generation else { return c.resume() }
            let ns = Int64(min(max(0, seconds), 86_400 * 365) * 1e9)
            let timer = loop.scheduleTask(in: .nanoseconds(ns)) { [self] in fire(generation) }
            let stale = state.withLock { s -> Bool in
                guard s.generation == generation, s.waiter != nil else { return true }
                s.timer = timer
                return false
            }
            if stale { timer.cancel() }
        }
        return !isClosed
    }

    /// Ends the current sleep now, or the next one at once if nobody sleeps.
    func wake() {
        let (waiter, timer) = state.withLock { s -> (CheckedContinuation<Void, Never>?, Scheduled<Void>?) in
            guard let w = s.waiter else { s.woken = true; return (nil, nil) }
            s.waiter = nil
            defer { s.timer = nil }
            return (w, s.timer)
        }
        timer?.cancel()
        waiter?.resume()
    }

    /// Ends the current sleep; every later `sleep` returns false at once.
    func close() {
        state.withLock { $0.closed = true }
        wake()
    }

    /// On the timer loop: the sleep of `generation` is over (unless woken meanwhile).
    private func fire(_ generation: UInt64) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard s.generation == generation else { return nil }
            defer { s.waiter = nil; s.timer = nil }
            return s.waiter
        }
        waiter?.resume()
    }
}
