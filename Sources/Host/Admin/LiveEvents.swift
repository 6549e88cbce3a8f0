import Foundation
import NIOCore
import Synchronization

/// The event stream for live watchers (the admin API's Server-Sent Events): the same JSON
/// lines the log sinks get, fanned out to subscribers without ever slowing the emitter.
///
/// One shared ring holds the last `capacity` events; the emitter only appends to it (no
/// per-watcher work on the message path: no filtering, no per-watcher queue). Each
/// subscriber has a cursor into the ring; its writer takes everything after the cursor in
/// one batch, filters it off the message path, and writes one chunk. The emitter wakes a
/// subscriber only when it asked to be woken (after its last batch), so a busy gateway wakes
/// a writer once per batch, not once per event. A writer that falls more than `capacity`
/// events behind (a slow client) loses the oldest, counted, and is told how many it missed
/// (`event: dropped`). The ring is also what a client that reconnects with `Last-Event-ID`
/// resumes from. While nobody watches (no subscriber for `keepWarm` seconds) `isWatched` is
/// false and the bus does not even format events for it.
///
/// Threading: `publish` is called by `EventBus.emit` under the bus's order lock (so the ring
/// is in id order); it takes this hub's mutex for an append and never blocks on a client or
/// wakes one itself: the bus calls `wakeWaiting` after its lock when a writer waits.
/// Subscribe/unsubscribe/drain from any thread.
public final class LiveEvents: Sendable {
    /// One event for watchers: its id, type and session (for the filters) and its JSON line
    /// (the log sinks' line, made once by the bus and shared with them). A plain value: the
    /// ring stores it in place, with no allocation of its own on the message path.
    public struct Item: Sendable {
        public let id: String
        public let type: String
        public let session: String?
        public let line: String

        public init(id: String, type: String, session: String?, line: String) {
            self.id = id; self.type = type; self.session = session; self.line = line
        }

        /// Writes the event as Server-Sent Events text, `id: <id>\ndata: <line>\n\n`, straight
        /// into the stream's buffer (no intermediate copy).
        public func writeSSE(to buffer: inout ByteBuffer) {
            buffer.writeStaticString("id: ")
            buffer.writeString(id)
            buffer.writeStaticString("\ndata: ")
            buffer.writeString(line)
            buffer.writeStaticString("\n\n")
        }
    }

    /// A subscriber's filter: event types (exact, or a prefix ending in "."), session id.
    public struct Filter: Sendable {
        public let session: String?
        /// The types as UTF-8, each with whether it is a prefix: a writer matches every event
        /// of a busy gateway, and comparing bytes costs a fraction of `String.hasPrefix`.
        private let patterns: [(bytes: [UInt8], prefix: Bool)]

        public init(types: [String] = [], session: String? = nil) {
            self.session = session
            patterns = types.map { (Array($0.utf8), $0.hasSuffix(".")) }
        }

        func matches(_ i: Item) -> Bool {
            if let s = session, i.session != s { return false }
            if patterns.isEmpty { return true }
            let type = i.type.utf8
            return patterns.contains { $0.prefix ? type.starts(with: $0.bytes) : type.elementsEqual($0.bytes) }
        }
    }

    /// One watcher: its filter and how to wake its writer. Its place in the ring is kept by
    /// the hub (under the hub's lock).
    public final class Subscriber: Sendable {
        public let filter: Filter
        /// Called (by `wakeWaiting`, under the hub's lock, never under the bus's) when an event
        /// arrived for a subscriber that waits; must not block (it schedules the writer).
        let wake: @Sendable () -> Void

        init(filter: Filter, wake: @escaping @Sendable () -> Void) {
            self.filter = filter; self.wake = wake
        }
    }

    /// A subscriber's place: the sequence number of the next event it gets, events counted
    /// as missed and not yet reported, and whether it waits to be woken.
    private struct Cursor { let sub: Subscriber; var next: UInt64; var dropped: Int; var idle: Bool }

    private struct Hub {
        var ring: [Item?]
        /// Sequence number of the next event (the ring holds `max(0, head - capacity)..<head`).
        var head: UInt64 = 0
        var cursors: [ObjectIdentifier: Cursor] = [:]
        /// Subscribers to wake on the next event (their writer drained the ring and waits).
        var idle: [Subscriber] = []
        /// Subscribers an event was published for, to wake (`wakeWaiting`).
        var waking: [Subscriber] = []
        var oldest: UInt64 { head > UInt64(ring.count) ? head - UInt64(ring.count) : 0 }
    }

    /// Events kept (for writers that lag and for `Last-Event-ID` resumes).
    public let capacity: Int
    let keepWarm: Double
    private let hub: Mutex<Hub>
    /// Monotonic nanoseconds until which `isWatched` stays true (0 = never watched).
    private let watchedUntil = Atomic<UInt64>(0)
    private let subscriberCount = Atomic<Int>(0)

    public init(capacity: Int = 4096, keepWarm: Double = 300) {
        self.capacity = max(1, capacity); self.keepWarm = keepWarm
        hub = Mutex(Hub(ring: Array(repeating: nil, count: max(1, capacity))))
    }

    /// True while someone watches, or watched within `keepWarm` seconds (so a reconnecting
    /// client can resume). One or two relaxed loads: the cost to the bus when nobody watches.
    public var isWatched: Bool {
        if subscriberCount.load(ordering: .relaxed) > 0 { return true }
        let until = watchedUntil.load(ordering: .relaxed)
        return until != 0 && DispatchTime.now().uptimeNanoseconds < until
    }

    var subscribers: Int { subscriberCount.load(ordering: .relaxed) }

    /// Adds a watcher. With `lastEventId`, it first gets the kept events after that id (if the
    /// id is no longer kept: everything kept, and `resumed` is false, so the caller says
    /// `event: reset`); without, only events from now on. Its writer must call `drain` once
    /// to start (it is woken only after a drain).
    public func subscribe(filter: Filter, lastEventId: String?, wake: @escaping @Sendable () -> Void) -> (Subscriber, resumed: Bool) {
        let sub = Subscriber(filter: filter, wake: wake)
        let resumed: Bool = hub.withLock { h in
            var start = h.head, found = lastEventId == nil
            if let last = lastEventId {
                start = h.oldest
                var seq = h.head
                while seq > h.oldest {
                    seq -= 1
                    if h.ring[Int(seq % UInt64(h.ring.count))]?.id == last { start = seq + 1; found = true; break }
                }
            }
            h.cursors[ObjectIdentifier(sub)] = Cursor(sub: sub, next: start, dropped: 0, idle: false)
            return found
        }
        subscriberCount.add(1, ordering: .relaxed)
        return (sub, resumed)
    }

    public func unsubscribe(_ sub: Subscriber) {
        let removed = hub.withLock { h in
            guard h.cursors.removeValue(forKey: ObjectIdentifier(sub)) != nil else { return false }
            h.idle.removeAll { $0 === sub }
            h.waking.removeAll { $0 === sub }
            return true
        }
        guard removed else { return }
        watchedUntil.store(DispatchTime.now().uptimeNanoseconds + UInt64(keepWarm * 1e9), ordering: .relaxed)
        subscriberCount.add(-1, ordering: .relaxed)
    }

    /// Drops every watcher (the admin listener is stopping): none is woken after this
    /// returns. Their streams are closed by the listener's shutdown.
    public func unsubscribeAll() {
        let n = hub.withLock { h in
            let n = h.cursors.count
            h.cursors.removeAll()
            h.idle.removeAll()
            h.waking.removeAll()
            return n
        }
        subscriberCount.add(-n, ordering: .relaxed)
    }

    /// One event, from `EventBus.emit` (under its order lock): appended to the ring. Returns
    /// whether a subscriber waits to be woken (usually not: a writer asks again only after its
    /// batch; the bus then calls `wakeWaiting` after its lock) and the event it displaced from
    /// the ring (released by the bus after its lock): no wake-up and no deallocation under it.
    func publish(_ item: Item) -> (wake: Bool, displaced: Item?) {
        hub.withLock { h in
            let slot = Int(h.head % UInt64(h.ring.count))
            let displaced = h.ring[slot]
            h.ring[slot] = item
            h.head += 1
            guard !h.idle.isEmpty else { return (false, displaced) }
            h.waking += h.idle
            h.idle.removeAll(keepingCapacity: true)
            for s in h.waking { h.cursors[ObjectIdentifier(s)]?.idle = false }
            return (true, displaced)
        }
    }

    /// Wakes the subscribers `publish` found waiting (from the bus, after its lock). Under the
    /// hub's lock, so none is woken after `unsubscribeAll` returned.
    func wakeWaiting() {
        hub.withLock { h in
            for s in h.waking { s.wake() }
            h.waking.removeAll(keepingCapacity: true)
        }
    }

    /// The subscriber's writer takes what arrived since its last drain (up to `limit` events,
    /// the oldest first; the rest stay for the next drain), not yet filtered, and the number of
    /// events it missed (lagged out of the ring, or `discard`ed) since the last report. When
    /// nothing is left after this batch, the subscriber is woken by the next event.
    /// `more` is true when events were left for the next drain.
    public func drain(_ sub: Subscriber, limit: Int = .max) -> (items: ArraySlice<Item>, dropped: Int, more: Bool) {
        hub.withLock { h in
            guard var c = h.cursors[ObjectIdentifier(sub)] else { return ([], 0, false) }
            let oldest = h.oldest
            if c.next < oldest { c.dropped += Int(oldest - c.next); c.next = oldest }
            let n = Int(min(UInt64(max(0, limit)), h.head - c.next))
            var items: [Item] = []
            items.reserveCapacity(n)
            let size = UInt64(h.ring.count)
            for seq in c.next..<(c.next + UInt64(n)) { if let i = h.ring[Int(seq % size)] { items.append(i) } }
            c.next += UInt64(n)
            let dropped = c.dropped
            c.dropped = 0
            let more = c.next < h.head
            if !more && !c.idle { c.idle = true; h.idle.append(sub) }
            h.cursors[ObjectIdentifier(sub)] = c
            return (items[...], dropped, more)
        }
    }

    /// Counts events the writer had to discard (the client could not take them); reported
    /// with the next drain.
    public func discard(_ sub: Subscriber, _ n: Int) {
        guard n > 0 else { return }
        hub.withLock { h in h.cursors[ObjectIdentifier(sub)]?.dropped += n }
    }
}
