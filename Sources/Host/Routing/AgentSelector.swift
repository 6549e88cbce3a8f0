import Foundation
import Synchronization

/// An agent the router can pick: its handle, limits and health.
public final class RoutedAgent: @unchecked Sendable {
    public let handle: AgentHandle
    public let entry: AgentEntry
    public let health: AgentHealth
    /// Position in `agents:` (ties are broken by it).
    public let index: Int
    public var name: String { entry.name }
    /// Calls of this agent that may be in flight at once (`agents[].max_in_flight`, or the
    /// router's default share of `routing.max_concurrent`): a turn holds one of the global
    /// turn slots for the whole call, so without this bound a hanging agent's calls would
    /// hold them all and stall every other agent's users.
    public let maxInFlight: Int
    /// Calls of this agent in flight now. Threading: any thread (atomic).
    private let inFlight = Atomic<Int>(0)
    /// True while this agent's calls complete synchronously (inside the transport's
    /// `call`, like the in-process C echo agent): the router then calls it before writing
    /// the turn and writes the turn's start and end as one durable unit. Cleared by the
    /// first call that does not complete synchronously, so a slow agent gets the inbound
    /// message stored before it is called. Threading: any thread (relaxed atomic hint).
    let answersInline = Atomic<Bool>(false)
    init(handle: AgentHandle, entry: AgentEntry, health: AgentHealth, index: Int, maxInFlight: Int, metrics: AgentMetrics) {
        self.handle = handle; self.entry = entry; self.health = health; self.index = index; self.maxInFlight = maxInFlight
        self.metrics = metrics
    }

    /// This agent's metrics (`agent="name"`).
    let metrics: AgentMetrics
    /// Calls in flight now (metrics, tests).
    public var callsInFlight: Int { inFlight.load(ordering: .relaxed) }
    /// True when no further call may start now.
    var isSaturated: Bool { inFlight.load(ordering: .relaxed) >= maxInFlight }

    /// Takes one of this agent's call slots; false if all `maxInFlight` are taken.
    /// Every `true` must be paired with exactly one `endCall()`.
    func reserveCall() -> Bool {
        var n = inFlight.load(ordering: .relaxed)
        while n < maxInFlight {
            let (done, now) = inFlight.compareExchange(expected: n, desired: n + 1, ordering: .acquiringAndReleasing)
            if done { return true }
            n = now
        }
        return false
    }

    func endCall() { inFlight.subtract(1, ordering: .acquiringAndReleasing) }
}

/// Picks an agent for a new session (or for a failover) by composite score:
/// 0.5 × health + 0.3 × (100 − capacity used %) + 0.2 × latency score, among agents with
/// health ≥ min_health, a breaker that lets calls through, capacity left (`max_sessions`;
/// an agent without it counts as 0 % used) and a free call slot (`max_in_flight`).
/// Ties go to the agent listed first. Pure: no state of its own.
struct AgentSelector {
    let minHealth: Int

    struct Candidate {
        let agent: RoutedAgent
        let score: Double
    }

    func rank(_ agents: [RoutedAgent], active: [String: Int], excluding: Set<String> = []) -> [Candidate] {
        var out: [Candidate] = []
        for a in agents where !excluding.contains(a.name) {
            let h = a.health.score
            let breaker = a.health.breaker
            // A half-open breaker lets one trial call through whatever the (decayed) health says.
            guard breaker != .open, a.health.inRotation, h >= minHealth || breaker == .halfOpen, !a.isSaturated else { continue }
            let used = active[a.name] ?? 0
            var usedPct = 0.0
            if let max = a.entry.maxSessions {
                guard used < max else { continue }
                usedPct = 100 * Double(used) / Double(max)
            }
            let score = 0.5 * Double(h) + 0.3 * (100 - usedPct) + 0.2 * a.health.latencyScore
            out.append(Candidate(agent: a, score: score))
        }
        return out.sorted { $0.score != $1.score ? $0.score > $1.score : $0.agent.index < $1.agent.index }
    }

    func best(_ agents: [RoutedAgent], active: [String: Int], excluding: Set<String> = []) -> RoutedAgent? {
        rank(agents, active: active, excluding: excluding).first?.agent
    }
}
