import Foundation
import Synchronization

/// One agent's health: passive signals from real calls (success as an exponentially
/// weighted average, EWMA latency, consecutive failures), active probe results, and a
/// circuit breaker. Scores 0–100.
///
/// Threading: thread-safe; every method is short and never blocks on I/O. Changes happen
/// under one mutex, which publishes a snapshot (breaker, rotation, scores) in atomics after
/// each change; the readers every turn makes (`breaker`, `score`, `inRotation`,
/// `allowCall` while closed) read the snapshot without the mutex. Every router thread
/// calls these for the same agent on every turn: on two cores, a mutex there was ~20 % of
/// the gateway's CPU (threads spinning in `Mutex._lockSlow` while its holder was off CPU).
public final class AgentHealth: Sendable {
    public enum Breaker: String, Sendable {
        case closed, open, halfOpen = "half_open"
        var code: UInt8 { switch self { case .closed: 0; case .open: 1; case .halfOpen: 2 } }
        init(code: UInt8) { self = code == 0 ? .closed : code == 1 ? .open : .halfOpen }
    }

    struct State {
        var success = 1.0           // EWMA of call outcomes, 1 = all succeeded
        var latencyMs = 0.0         // EWMA of successful call latency
        var consecutiveFailures = 0
        var breaker = Breaker.closed
        var openedAt = 0.0          // monotonic seconds
        var trialInFlight = false
        var probeFailures = 0
        var outOfRotation = false
    }

    public let name: String
    /// Weight of the newest sample in the averages.
    let alpha = 0.3
    /// Consecutive failures that open the breaker.
    let breakerThreshold = 5
    /// Failed probes in a row that take the agent out of rotation.
    let probeThreshold = 3
    let cooldown: Double
    /// Latency at or above which the latency score is 0.
    let slowMs: Double
    private let state = Mutex(State())
    /// The last five minutes of calls (counts, errors, latency percentiles) for the admin API.
    public let window = AgentCallWindow()
    private let clock: @Sendable () -> Double
    // The snapshot, written only under `state` (by `publish`), read without it.
    private let pubBreaker = Atomic<UInt8>(0)          // Breaker.code
    private let pubOpenedAt = Atomic<UInt64>(0)        // Double bit pattern
    private let pubOutOfRotation = Atomic<Bool>(false)
    private let pubSuccess = Atomic<UInt64>(1.0.bitPattern)
    private let pubLatencyMs = Atomic<UInt64>(0)
    /// Breaker closed, no failure in the averages (success 1.0, none in a row): a success
    /// then changes only the latency average.
    private let pubClean = Atomic<Bool>(true)

    public init(name: String, cooldown: Double, slowMs: Double, clock: @escaping @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }) {
        self.name = name; self.cooldown = cooldown; self.slowMs = max(slowMs, 1); self.clock = clock
    }

    /// 0–100: 0 while the breaker is open or the agent is out of rotation.
    public var score: Int {
        if pubOutOfRotation.load(ordering: .acquiring) || pubBreaker.load(ordering: .acquiring) == Breaker.open.code { return 0 }
        return Int((Double(bitPattern: pubSuccess.load(ordering: .relaxed)) * 100).rounded())
    }

    /// 100 for fast answers, falling linearly to 0 at `slowMs`.
    public var latencyScore: Double {
        let latency = Double(bitPattern: pubLatencyMs.load(ordering: .relaxed))
        return max(0, min(100, (100 * (1 - latency / slowMs)).rounded()))
    }

    public var breaker: Breaker {
        let b = Breaker(code: pubBreaker.load(ordering: .acquiring))
        if b == .open && clock() - Double(bitPattern: pubOpenedAt.load(ordering: .relaxed)) >= cooldown { return .halfOpen }
        return b
    }

    public var inRotation: Bool { !pubOutOfRotation.load(ordering: .acquiring) }

    /// Asks to make a call now. Closed: yes. Open: no until the cooldown passed, then the
    /// breaker is half-open and exactly one trial call is let through until it reports.
    public func allowCall() -> Bool {
        if pubBreaker.load(ordering: .acquiring) == Breaker.closed.code { return true }
        return mutate { s in
            switch s.breaker {
            case .closed: return true
            case .open:
                guard clock() - s.openedAt >= cooldown else { return false }
                s.breaker = .halfOpen
                s.trialInFlight = true
                return true
            case .halfOpen:
                if s.trialInFlight { return false }
                s.trialInFlight = true
                return true
            }
        }
    }

    /// Reports a real call's outcome. A success of a clean agent (the common case) only
    /// moves the latency average: if another thread holds the mutex that sample is dropped
    /// rather than waited for (an average loses nothing by missing a sample).
    public func record(success: Bool, latencyMs: Double) {
        window.record(success: success, latencyMs: latencyMs)
        if success && pubClean.load(ordering: .acquiring) {
            let done: Bool? = state.withLockIfAvailable { s in
                guard s.breaker == .closed && s.success == 1 && s.consecutiveFailures == 0 else { return false }
                s.latencyMs = s.latencyMs == 0 ? latencyMs : s.latencyMs * (1 - alpha) + latencyMs * alpha
                pubLatencyMs.store(s.latencyMs.bitPattern, ordering: .relaxed)
                return true
            }
            if done != false { return }   // recorded, or dropped under contention
        }
        mutate { s in
            s.success = s.success * (1 - alpha) + (success ? alpha : 0)
            if success {
                s.latencyMs = s.latencyMs == 0 ? latencyMs : s.latencyMs * (1 - alpha) + latencyMs * alpha
                s.consecutiveFailures = 0
                if s.breaker != .closed { close(&s) }
            } else {
                s.consecutiveFailures += 1
                if s.breaker == .halfOpen || s.consecutiveFailures >= breakerThreshold {
                    s.breaker = .open
                    s.openedAt = clock()
                    s.trialInFlight = false
                }
            }
        }
    }

    /// Reports an active probe. Three failures in a row take the agent out of rotation;
    /// a success puts it back (and, past the cooldown, closes an open breaker).
    public func recordProbe(ok: Bool) {
        mutate { s in
            if ok {
                s.probeFailures = 0
                s.outOfRotation = false
                s.success = s.success * (1 - alpha) + alpha
                if s.breaker != .closed && clock() - s.openedAt >= cooldown { close(&s) }
            } else {
                s.probeFailures += 1
                s.success = s.success * (1 - alpha)
                if s.probeFailures >= probeThreshold { s.outOfRotation = true }
            }
        }
    }

    /// Runs `body` under the mutex, then publishes the snapshot.
    private func mutate<R>(_ body: (inout State) -> R) -> R {
        state.withLock { s in
            let r = body(&s)
            pubOpenedAt.store(s.openedAt.bitPattern, ordering: .relaxed)
            pubSuccess.store(s.success.bitPattern, ordering: .relaxed)
            pubLatencyMs.store(s.latencyMs.bitPattern, ordering: .relaxed)
            pubOutOfRotation.store(s.outOfRotation, ordering: .releasing)
            pubClean.store(s.breaker == .closed && s.success == 1 && s.consecutiveFailures == 0, ordering: .releasing)
            pubBreaker.store(s.breaker.code, ordering: .releasing)
            return r
        }
    }

    private func close(_ s: inout State) {
        s.breaker = .closed
        s.trialInFlight = false
        s.consecutiveFailures = 0
        s.success = max(s.success, 0.8)   // back in rotation, below a long-healthy agent
    }
}
