import Foundation
import Synchronization

/// One meter event to send to Stripe: fixed once made, so every retry carries the
/// same `identifier` and Stripe counts it once.
struct MeterReport: Sendable, Equatable {
    let identifier: String
    let eventName: String
    let customerId: String
    let kind: String
    let value: Int64
    /// Unix seconds: the start of the aggregation interval.
    let timestamp: Int64
}

/// Sums usage per (customer, kind, interval bucket) in memory and hands out the sums
/// as `MeterReport`s with deterministic identifiers.
///
/// Idempotency: a usage whose `idempotencyKey` was already accepted is ignored (the
/// last `keyCapacity` keys are remembered, oldest forgotten first). This guards
/// within one process; across a crash the host's durable usage ledger decides what
/// is recorded again.
///
/// Threading: every method may be called from any thread, concurrently (one mutex).
final class MeterAggregator: Sendable {
    struct BucketKey: Hashable, Sendable {
        let customerId: String
        let kind: String
        let bucket: Int64
    }

    enum Accepted: Equatable { case added, duplicate, unbilled(String) }

    private struct State {
        var pending: [BucketKey: Int64] = [:]
        /// How many reports were already made from each bucket (the identifier's flush sequence).
        var flushes: [BucketKey: Int] = [:]
        var seen: Set<String> = []
        var seenOrder: [String] = []
        var seenHead = 0
    }

    let intervalMs: Int64
    let meterEvents: [String: String]
    let keyCapacity: Int
    private let state = Mutex(State())

    init(intervalMs: UInt64, meterEvents: [String: String], keyCapacity: Int = 1_000_000) {
        self.intervalMs = Int64(intervalMs)
        self.meterEvents = meterEvents
        self.keyCapacity = keyCapacity
    }

    /// Adds a usage to its bucket unless its idempotency key was seen. `nowMs` is used
    /// when the usage carries no time.
    func add(customerId: String, kind: String, quantity: Int64, idempotencyKey: String, timeMs: Int64, nowMs: Int64) -> Accepted {
        guard !customerId.isEmpty else { return .unbilled("the account has no billing customer id") }
        guard meterEvents[kind] != nil else { return .unbilled("no meter_events entry for usage kind '\(kind)'") }
        let t = timeMs > 0 ? timeMs : nowMs
        let key = BucketKey(customerId: customerId, kind: kind, bucket: t / intervalMs)
        return state.withLock { s in
            if !idempotencyKey.isEmpty {
                guard s.seen.insert(idempotencyKey).inserted else { return .duplicate }
                s.seenOrder.append(idempotencyKey)
                if s.seen.count > keyCapacity {
                    s.seen.remove(s.seenOrder[s.seenHead])
                    s.seenHead += 1
                    if s.seenHead > keyCapacity { s.seenOrder.removeFirst(s.seenHead); s.seenHead = 0 }
                }
            }
            s.pending[key, default: 0] += quantity
            return .added
        }
    }

    /// Takes every pending sum whose bucket ended before `nowMs` (or every sum when
    /// `all`), turning each into a report with its identifier:
    /// `<customer>:<kind>:<bucket start seconds>`, plus `:<n>` for the n-th later flush of the same bucket.
    func drain(nowMs: Int64, all: Bool = false) -> [MeterReport] {
        let current = nowMs / intervalMs
        return state.withLock { s in
            var out: [MeterReport] = []
            for (key, value) in s.pending where all || key.bucket < current {
                s.pending[key] = nil
                guard value > 0, let event = meterEvents[key.kind] else { continue }
                let seq = s.flushes[key, default: 0]
                s.flushes[key] = seq + 1
                let start = key.bucket * intervalMs / 1000
                let id = "\(key.customerId):\(key.kind):\(start)" + (seq > 0 ? ":\(seq)" : "")
                out.append(MeterReport(identifier: Self.fit(id), eventName: event, customerId: key.customerId,
                                       kind: key.kind, value: value, timestamp: start))
            }
            // Forget flush counters of buckets older than a day (Stripe dedupes identifiers for 24 h at least).
            let horizon = current - max(1, 86_400_000 / intervalMs)
            s.flushes = s.flushes.filter { $0.key.bucket >= horizon }
            return out.sorted { ($0.timestamp, $0.identifier) < ($1.timestamp, $1.identifier) }
        }
    }

    /// Stripe allows identifiers of at most 100 characters: longer ones are shortened
    /// deterministically (prefix + hash of the whole).
    static func fit(_ id: String) -> String {
        guard id.utf8.count > 100 else { return id }
        let digest = HMACSHA256.hex(HMACSHA256.mac(key: [], message: Array(id.utf8)))
        return String(id.prefix(35)) + ":" + digest
    }

    /// Usage accepted but not yet handed out, per kind (for metrics and shutdown logs).
    var pendingCount: Int { state.withLock { $0.pending.count } }
}
