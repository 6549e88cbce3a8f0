import Foundation
import Synchronization

/// One agent's calls over the last five minutes, for the admin API: call and error counts
/// per second (exact), and the latency of the last `capacity` calls (for p50/p95/p99).
///
/// Threading: `record` from any thread, lock-free (a few relaxed atomics: it runs on every
/// agent call); `snapshot` from any thread, reading without stopping writers (a sample
/// overwritten while read is simply skipped or counted in the next second).
public final class AgentCallWindow: Sendable {
    public static let windowSeconds = 300
    /// Latency samples kept (the newest ones).
    public static let capacity = 4096

    /// Per second of the window: (epoch second << 32 | calls) and (epoch second << 32 | errors).
    private let calls: [AtomicCell]
    private let errors: [AtomicCell]
    /// Latency samples: (epoch second << 32 | latency in 10 µs units, capped).
    private let samples: [AtomicCell]
    private let next = Atomic<Int>(0)
    private let clock: @Sendable () -> Double

    public init(clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.clock = clock
        calls = (0..<Self.windowSeconds).map { _ in AtomicCell() }
        errors = (0..<Self.windowSeconds).map { _ in AtomicCell() }
        samples = (0..<Self.capacity).map { _ in AtomicCell() }
    }

    /// One finished call.
    public func record(success: Bool, latencyMs: Double) {
        let sec = UInt64(clock())
        Self.bump(calls[Int(sec % UInt64(Self.windowSeconds))], sec)
        if !success { Self.bump(errors[Int(sec % UInt64(Self.windowSeconds))], sec) }
        let units = UInt64(max(0, min(latencyMs * 100, Double(UInt32.max - 1))))
        let i = next.add(1, ordering: .relaxed).newValue % Self.capacity
        samples[i].value.store(sec << 32 | units, ordering: .relaxed)
    }

    /// Counts `sec` in `cell`: restarts the count when the cell still holds an older second.
    private static func bump(_ cell: AtomicCell, _ sec: UInt64) {
        var old = cell.value.load(ordering: .relaxed)
        while true {
            let new = old >> 32 == sec ? old + 1 : sec << 32 | 1
            let (done, current) = cell.value.compareExchange(expected: old, desired: new, ordering: .relaxed)
            if done { return }
            old = current
        }
    }

    public struct Snapshot: Sendable, Equatable {
        public var calls: Int
        public var errors: Int
        /// nil without a call in the window.
        public var p50Ms: Double?
        public var p95Ms: Double?
        public var p99Ms: Double?
    }

    /// The last five minutes.
    public func snapshot() -> Snapshot {
        let now = UInt64(clock())
        let from = now >= UInt64(Self.windowSeconds) ? now - UInt64(Self.windowSeconds) + 1 : 0
        func sum(_ cells: [AtomicCell]) -> Int {
            cells.reduce(0) { n, c in
                let v = c.value.load(ordering: .relaxed)
                return v >> 32 >= from && v >> 32 <= now ? n + Int(v & 0xffff_ffff) : n
            }
        }
        var lat: [Double] = []
        lat.reserveCapacity(Self.capacity)
        for c in samples {
            let v = c.value.load(ordering: .relaxed)
            if v != 0, v >> 32 >= from, v >> 32 <= now { lat.append(Double(v & 0xffff_ffff) / 100) }
        }
        lat.sort()
        func pct(_ p: Double) -> Double? {
            guard !lat.isEmpty else { return nil }
            let rank = Int((p * Double(lat.count)).rounded(.up)) - 1
            return lat[min(max(rank, 0), lat.count - 1)]
        }
        return Snapshot(calls: sum(calls), errors: sum(errors), p50Ms: pct(0.5), p95Ms: pct(0.95), p99Ms: pct(0.99))
    }
}
