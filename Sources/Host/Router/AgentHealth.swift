import Foundation
import Synchronization

/// One agent's health: passive signals from real calls (success as an exponentially
/// weighted average, EWMA latency, consecutive failures), active probe results, and a
/// circuit breaker. Scores 0–100.
///
/// Threading: thread-safe (one mutex); every method is short and never blocks on I/O.
public final class AgentHealth: @unchecked Sendable {
    public enum Breaker: String, Sendable { case closed, open, halfOpen = "half_open" }

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
    private let clock: @Sendable () -> Double

    public init(name: String, cooldown: Double, slowMs: Double, clock: @escaping @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }) {
        self.name = name; self.cooldown = cooldown; self.slowMs = max(slowMs, 1); self.clock = clock
    }

    /// 0–100: 0 while the breaker is open or the agent is out of rotation.
    public var score: Int {
        state.withLock { s in
            if s.outOfRotation || s.breaker == .open { return 0 }
            return Int((s.success * 100).rounded())
        }
    }

    /// 100 for fast answers, falling linearly to 0 at `slowMs`.
    public var latencyScore: Double {
        state.withLock { s in max(0, min(100, (100 * (1 - s.latencyMs / slowMs)).rounded())) }
    }

    public var breaker: Breaker {
        state.withLock { s in
            if s.breaker == .open && clock() - s.openedAt >= cooldown { return .halfOpen }
            return s.breaker
        }
    }

    public var inRotation: Bool { state.withLock { !$0.outOfRotation } }

    /// Asks to make a call now. Closed: yes. Open: no until the cooldown passed, then the
    /// breaker is half-open and exactly one trial call is let through until it reports.
    public func allowCall() -> Bool {
        state.withLock { s in
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

    /// Reports a real call's outcome.
    public func record(success: Bool, latencyMs: Double) {
        state.withLock { s in
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
        state.withLock { s in
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

    private func close(_ s: inout State) {
        s.breaker = .closed
        s.trialInFlight = false
        s.consecutiveFailures = 0
        s.success = max(s.success, 0.8)   // back in rotation, below a long-healthy agent
    }
}
