import Foundation
import Synchronization

/// Active sessions per agent for capacity checks, read from the store at most once per
/// `ttl` seconds (counting a million sessions per message would dominate the message
/// path) plus the sessions this process assigned since. Other processes' new sessions
/// are seen at the next refresh, so `max_sessions` is a soft limit across processes by
/// up to one `ttl` of their assignments. Threading: thread-safe.
final class CapacityCache: Sendable {
    private struct State { var counts: [String: Int] = [:]; var fetchedAt = -Double.infinity }
    private let state = Mutex(State())
    private let refreshing = Mutex(())
    let ttl: Double

    init(ttl: Double) { self.ttl = ttl }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    func counts(_ load: () throws -> [String: Int]) throws -> [String: Int] {
        if let c = state.withLock({ s in Self.now() - s.fetchedAt < ttl ? s.counts : nil }) { return c }
        return try refreshing.withLock { _ in
            if let c = state.withLock({ s in Self.now() - s.fetchedAt < ttl ? s.counts : nil }) { return c }
            let fresh = try load()
            state.withLock { s in s.counts = fresh; s.fetchedAt = Self.now() }
            return fresh
        }
    }

    /// The counts as last read (plus assignments since), without reading the store; nil
    /// before the first read. For metrics.
    var snapshot: [String: Int]? { state.withLock { $0.fetchedAt.isFinite ? $0.counts : nil } }

    /// A session was just assigned to `agent` by this process.
    func add(_ agent: String) { state.withLock { $0.counts[agent, default: 0] += 1 } }
}
