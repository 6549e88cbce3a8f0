import Foundation
import Synchronization

/// The router's agents, changeable while the gateway runs: agents from `agents:` first (in
/// their order), then runtime agents in the order they were added. Add, replace (same name,
/// new transport or config), remove, and set an agent's operator state.
///
/// Ownership: owned by the `ConversationRouter`; the admin API, the agent sync with the
/// store and the router's jobs change it through the router. A removed or replaced agent
/// is retired (`RoutedAgent.retire`): no new call or probe starts on it, and its transport
/// handle is closed once the calls and probes in flight are done. Its sessions stay in the
/// store under its name; on their next message the session step finds no agent of that
/// name and fails them over, with history, within their route pool.
///
/// Threading: thread-safe. The list is an immutable snapshot swapped under a mutex: a
/// reader (every turn: `named`, `candidates`) holds the mutex only to copy one reference;
/// a writer builds the next snapshot outside it. A reader may keep and use a snapshot, or
/// a `RoutedAgent` from it, after a change (see `RoutedAgent` for why that is safe).
public final class AgentRoster: Sendable {
    /// One immutable version of the list.
    final class Snapshot: Sendable {
        let list: [RoutedAgent]
        let byName: [String: RoutedAgent]
        init(_ list: [RoutedAgent]) {
            self.list = list
            byName = Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        }
    }

    public enum Change: Sendable, Equatable {
        /// There was no agent of that name.
        case added
        /// The named agent was there and is now retired.
        case replaced
    }

    private let current: Mutex<Snapshot>
    /// Serialises writers (a read-modify-swap of the snapshot).
    private let writers = Mutex(())
    /// Bumped by every change (lets watchers notice one without comparing lists).
    private let generation = Atomic<Int>(0)

    init(_ agents: [RoutedAgent]) { current = Mutex(Snapshot(agents)) }

    var snapshot: Snapshot { current.withLock { $0 } }

    /// Every agent now, `agents:` first.
    public var all: [RoutedAgent] { snapshot.list }

    /// The agent called `name` now, if any.
    public func named(_ name: String) -> RoutedAgent? { snapshot.byName[name] }

    /// The agents a pool names (nil: every agent), in roster order; names not (or no
    /// longer) in the roster are left out.
    func candidates(_ pool: [String]?) -> [RoutedAgent] {
        let s = snapshot
        guard let pool else { return s.list }
        return pool.compactMap { s.byName[$0] }
    }

    /// Changes so far (0 at start).
    public var version: Int { generation.load(ordering: .acquiring) }

    /// The index the next runtime agent gets (after every agent so far).
    var nextIndex: Int { (snapshot.list.map(\.index).max() ?? -1) + 1 }

    /// Adds `agent`, or replaces the agent of the same name (which keeps its place in the
    /// list and is retired). The new agent's operator state is its own (set it before).
    @discardableResult
    public func put(_ agent: RoutedAgent) -> Change {
        let old: RoutedAgent? = writers.withLock { _ in
            let s = snapshot
            var list = s.list
            let old = s.byName[agent.name]
            if let i = list.firstIndex(where: { $0.name == agent.name }) { list[i] = agent } else { list.append(agent) }
            swap(Snapshot(list))
            return old
        }
        if let old, old !== agent { old.retire() }
        return old == nil ? .added : .replaced
    }

    /// Removes the agent called `name` and retires it; nil if there was none.
    @discardableResult
    public func remove(_ name: String) -> RoutedAgent? {
        let old: RoutedAgent? = writers.withLock { _ in
            let s = snapshot
            guard let old = s.byName[name] else { return nil }
            swap(Snapshot(s.list.filter { $0 !== old }))
            return old
        }
        old?.retire()
        return old
    }

    /// Sets the operator state of the agent called `name`; false if there is none.
    @discardableResult
    public func setState(_ name: String, _ state: AgentState) -> Bool {
        guard let a = named(name) else { return false }
        if a.state != state {
            a.state = state
            generation.add(1, ordering: .acquiringAndReleasing)
        }
        return true
    }

    private func swap(_ next: Snapshot) {
        current.withLock { $0 = next }
        generation.add(1, ordering: .acquiringAndReleasing)
    }
}
