import Foundation
import Synchronization

/// An agent's operator state (`PATCH /api/v1/agents/{name}`, kept in the store's `agents.state`).
public enum AgentState: String, Sendable, CaseIterable {
    /// In rotation: takes new sessions and keeps its own.
    case active
    /// Takes no new session; its existing sessions continue with it.
    case draining
    /// Out of rotation: no new session, and its sessions fail over on their next message.
    case disabled

    var code: UInt8 { switch self { case .active: 0; case .draining: 1; case .disabled: 2 } }
    init(code: UInt8) { self = code == 0 ? .active : code == 1 ? .draining : .disabled }
}

/// Where an agent comes from: `agents:` in plugins.yaml, or registered at runtime (admin API,
/// self-registration), kept in the store.
public enum AgentSource: String, Sendable {
    case config, runtime
}

/// An agent the router can pick: its handle, limits and health.
///
/// Lifetime: owned by the router's `AgentRoster`; a turn that found it there may keep
/// using it after it was removed or replaced. Its transport handle is closed only once it
/// is retired (`retire`, by the roster) and no call or probe holds it (`pin` / `unpin`):
/// never under a call in flight.
public final class RoutedAgent: Sendable {
    public let handle: AgentHandle
    public let entry: AgentEntry
    public let health: AgentHealth
    /// Position in `agents:`, runtime agents after them in the order added (ties are broken by it).
    public let index: Int
    public let source: AgentSource
    public var name: String { entry.name }
    /// The operator state. Threading: any thread (atomic).
    private let stateCode = Atomic<UInt8>(0)
    public var state: AgentState {
        get { AgentState(code: stateCode.load(ordering: .acquiring)) }
        set { stateCode.store(newValue.code, ordering: .releasing) }
    }
    /// True while an agent that declared a heartbeat interval has missed 3 beats: out of
    /// rotation (as `disabled`) until it beats again. Threading: any thread (atomic).
    let heartbeatLapsed = Atomic<Bool>(false)
    /// May take new sessions: active, heartbeat not lapsed, not retired.
    var takesNewSessions: Bool {
        state == .active && !heartbeatLapsed.load(ordering: .acquiring) && !retired.load(ordering: .acquiring)
    }
    /// Calls and probes holding the transport handle (see `pin`).
    private let users = Atomic<Int>(0)
    private let retired = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    /// Closes the transport handle once (set by the roster's owner; nil: never closed).
    private let closer: (@Sendable (AgentHandle) -> Void)?
    /// Removed or replaced: no new call or probe may start.
    public var isRetired: Bool { retired.load(ordering: .acquiring) }
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
    init(handle: AgentHandle, entry: AgentEntry, health: AgentHealth, index: Int, maxInFlight: Int, metrics: AgentMetrics,
         source: AgentSource = .config, closer: (@Sendable (AgentHandle) -> Void)? = nil) {
        self.handle = handle; self.entry = entry; self.health = health; self.index = index; self.maxInFlight = maxInFlight
        self.metrics = metrics; self.source = source; self.closer = closer
    }

    /// This agent's metrics (`agent="name"`).
    let metrics: AgentMetrics
    /// Calls in flight now (metrics, tests).
    public var callsInFlight: Int { inFlight.load(ordering: .relaxed) }
    /// True when no further call may start now.
    var isSaturated: Bool { inFlight.load(ordering: .relaxed) >= maxInFlight }

    /// Takes one of this agent's call slots; false if all `maxInFlight` are taken.
    /// Every `true` must be paired with exactly one `endCall()`.
    /// False too once the agent is retired (removed or replaced): the caller fails over.
    func reserveCall() -> Bool {
        var n = inFlight.load(ordering: .relaxed)
        while n < maxInFlight {
            let (done, now) = inFlight.compareExchange(expected: n, desired: n + 1, ordering: .acquiringAndReleasing)
            if done {
                if pin() { return true }
                inFlight.subtract(1, ordering: .acquiringAndReleasing)
                return false
            }
            n = now
        }
        return false
    }

    func endCall() {
        inFlight.subtract(1, ordering: .acquiringAndReleasing)
        unpin()
    }

    /// Holds the transport handle open for one call or probe; false once retired (then
    /// the handle must not be used). Every `true` is paired with exactly one `unpin()`.
    /// Threading: any thread. With `retire` this is a Dekker pair (sequentially consistent):
    /// either `pin` sees the retirement, or `retire` sees the pin and leaves the close to
    /// the last `unpin`.
    func pin() -> Bool {
        users.add(1, ordering: .sequentiallyConsistent)
        if retired.load(ordering: .sequentiallyConsistent) { unpin(); return false }
        return true
    }

    func unpin() {
        let left = users.subtract(1, ordering: .sequentiallyConsistent).newValue
        if left == 0 && retired.load(ordering: .sequentiallyConsistent) { closeOnce() }
    }

    /// No new call or probe from now on; the handle is closed as soon as none holds it
    /// (now, or at the last `unpin`). Called by the roster when the agent is removed or
    /// replaced. Idempotent.
    func retire() {
        retired.store(true, ordering: .sequentiallyConsistent)
        if users.load(ordering: .sequentiallyConsistent) == 0 { closeOnce() }
    }

    /// The transport's `close`, at most once, never on the caller's thread: the last
    /// `unpin` may run inside the plugin's completion (even inside its `call`).
    private func closeOnce() {
        guard let closer, !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let h = handle
        Thread.detachNewThread { closer(h) }
    }
}

/// Picks an agent for a new session (or for a failover) by composite score:
/// 0.5 × health + 0.3 × (100 − capacity used %) + 0.2 × latency score, among agents with
/// state `active` (not draining, disabled, lapsed or removed: `takesNewSessions`),
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
            guard a.takesNewSessions, breaker != .open, a.health.inRotation, h >= minHealth || breaker == .halfOpen, !a.isSaturated else { continue }
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
