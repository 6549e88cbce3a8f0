import Foundation
import Synchronization

/// The event stream for live watchers (the admin API's Server-Sent Events): the same JSON
/// lines the log sinks get, fanned out to subscribers without ever slowing the emitter.
///
/// Each subscriber has a bounded queue; when it is full (a slow client), further events are
/// dropped and counted, and the client is told how many it missed (`event: dropped`). The
/// last `replayCapacity` events are kept so a client that reconnects with `Last-Event-ID`
/// gets what it missed, if still there. While nobody watches (no subscriber for
/// `keepWarm` seconds) `isWatched` is false and the bus does not even format events for it.
///
/// Threading: `publish` is called by `EventBus.emit` under the bus's order lock (so every
/// subscriber sees events in id order); it takes this hub's mutex briefly and never blocks
/// on a client. Subscribe/unsubscribe from any thread.
public final class LiveEvents: Sendable {
    /// One event for watchers: its JSON line (the log sinks' line, made once by the bus) and
    /// its SSE text (`id: …` + `data: …`), made at most once, by the first stream writer that
    /// needs it, and shared by every client. Immutable apart from that cache (under its lock).
    public final class Item: Sendable {
        public let id: String
        public let type: String
        public let session: String?
        public let line: String
        private let encoded = Mutex<[UInt8]?>(nil)

        public init(id: String, type: String, session: String?, line: String) {
            self.id = id; self.type = type; self.session = session; self.line = line
        }

        /// `id: <id>\ndata: <line>\n\n`, made once.
        public var sse: [UInt8] {
            encoded.withLock { cached in
                if let c = cached { return c }
                var b: [UInt8] = []
                b.reserveCapacity(line.utf8.count + id.utf8.count + 14)
                b += "id: ".utf8; b += id.utf8; b += "\ndata: ".utf8; b += line.utf8; b += "\n\n".utf8
                cached = b
                return b
            }
        }
    }

    /// A subscriber's filter: event types (exact, or a prefix ending in "."), session id.
    public struct Filter: Sendable {
        public var types: [String]
        public var session: String?
        public init(types: [String] = [], session: String? = nil) { self.types = types; self.session = session }
        func matches(_ i: Item) -> Bool {
            if let s = session, i.session != s { return false }
            if types.isEmpty { return true }
            return types.contains { $0.hasSuffix(".") ? i.type.hasPrefix($0) : i.type == $0 }
        }
    }

    /// One watcher: a bounded queue drained by `drain` (its writer), woken by `wake`.
    public final class Subscriber: Sendable {
        let filter: Filter
        let capacity: Int
        private struct State { var queue: [Item] = []; var dropped = 0; var wakePending = false }
        private let state = Mutex(State())
        /// Called (from the publishing thread) when the queue goes from idle to having work;
        /// must not block (it schedules the writer).
        let wake: @Sendable () -> Void

        init(filter: Filter, capacity: Int, wake: @escaping @Sendable () -> Void) {
            self.filter = filter; self.capacity = capacity; self.wake = wake
        }

        func push(_ item: Item) {
            let needsWake: Bool = state.withLock { s in
                if s.queue.count < capacity { s.queue.append(item) } else { s.dropped += 1 }
                if s.wakePending { return false }
                s.wakePending = true
                return true
            }
            if needsWake { wake() }
        }

        /// Takes everything queued and the number dropped since the last drain.
        public func drain() -> (items: [Item], dropped: Int) {
            state.withLock { s in
                let r = (s.queue, s.dropped)
                s.queue = []
                s.dropped = 0
                s.wakePending = false
                return r
            }
        }

        /// Counts events the writer had to discard (the client could not take them).
        public func discard(_ n: Int) { state.withLock { $0.dropped += n } }
    }

    public let replayCapacity: Int
    let keepWarm: Double
    private struct Hub { var subscribers: [ObjectIdentifier: Subscriber] = [:]; var replay: [Item] = []; var replayStart = 0 }
    private let hub = Mutex(Hub())
    /// Monotonic nanoseconds until which `isWatched` stays true (0 = never watched).
    private let watchedUntil = Atomic<UInt64>(0)
    private let subscriberCount = Atomic<Int>(0)

    public init(replayCapacity: Int = 1000, keepWarm: Double = 300) {
        self.replayCapacity = replayCapacity; self.keepWarm = keepWarm
    }

    /// True while someone watches, or watched within `keepWarm` seconds (so a reconnecting
    /// client can resume). One or two relaxed loads: the cost to the bus when nobody watches.
    public var isWatched: Bool {
        if subscriberCount.load(ordering: .relaxed) > 0 { return true }
        let until = watchedUntil.load(ordering: .relaxed)
        return until != 0 && DispatchTime.now().uptimeNanoseconds < until
    }

    var subscribers: Int { subscriberCount.load(ordering: .relaxed) }

    /// Adds a watcher. With `lastEventId`, first queues the kept events after that id that
    /// match (if the id is no longer kept: everything kept, after an `event: reset`).
    /// Returns the subscriber and whether the resume point was found.
    public func subscribe(filter: Filter, capacity: Int = 4096, lastEventId: String?, wake: @escaping @Sendable () -> Void) -> (Subscriber, resumed: Bool) {
        let sub = Subscriber(filter: filter, capacity: capacity, wake: wake)
        var resumed = lastEventId == nil
        hub.withLock { h in
            if let last = lastEventId {
                let kept = h.replay[h.replayStart...] + h.replay[..<h.replayStart]
                var backlog = Array(kept)
                if let i = backlog.lastIndex(where: { $0.id == last }) {
                    backlog = Array(backlog[(i + 1)...])
                    resumed = true
                }
                for item in backlog where filter.matches(item) { sub.push(item) }
            }
            h.subscribers[ObjectIdentifier(sub)] = sub
        }
        subscriberCount.add(1, ordering: .relaxed)
        return (sub, resumed)
    }

    public func unsubscribe(_ sub: Subscriber) {
        let removed = hub.withLock { $0.subscribers.removeValue(forKey: ObjectIdentifier(sub)) != nil }
        guard removed else { return }
        watchedUntil.store(DispatchTime.now().uptimeNanoseconds + UInt64(keepWarm * 1e9), ordering: .relaxed)
        subscriberCount.add(-1, ordering: .relaxed)
    }

    /// Drops every watcher (the admin listener is stopping): nothing is pushed to them after
    /// this returns. Their streams are closed by the listener's shutdown.
    public func unsubscribeAll() {
        let n = hub.withLock { h in
            let n = h.subscribers.count
            h.subscribers.removeAll()
            return n
        }
        subscriberCount.add(-n, ordering: .relaxed)
    }

        /// One event, from `EventBus.emit`.
    func publish(_ item: Item) {
        hub.withLock { h in
            if h.replay.count < replayCapacity { h.replay.append(item) } else {
                h.replay[h.replayStart] = item
                h.replayStart = (h.replayStart + 1) % replayCapacity
            }
            for s in h.subscribers.values where s.filter.matches(item) { s.push(item) }
        }
    }
}
