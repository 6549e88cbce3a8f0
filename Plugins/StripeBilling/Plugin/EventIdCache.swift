import Synchronization

/// The ids of Stripe events already handled (or being handled), so a retried delivery
/// changes nothing. Bounded: the oldest of more than `capacity` ids is forgotten (Stripe
/// retries for up to three days; at most a few events per account a month arrive).
///
/// Threading: any thread, concurrently (one mutex). `begin` is atomic, so two
/// concurrent deliveries of one event are handled once.
final class EventIdCache: Sendable {
    private struct State {
        var ids: Set<String> = []
        var order: [String] = []
        var head = 0
    }
    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 10_000) { self.capacity = capacity }

    /// True if `id` is new (and is now marked); false if it was seen.
    func begin(_ id: String) -> Bool {
        state.withLock { s in
            guard s.ids.insert(id).inserted else { return false }
            s.order.append(id)
            if s.ids.count > capacity {
                s.ids.remove(s.order[s.head])
                s.head += 1
                if s.head > capacity { s.order.removeFirst(s.head); s.head = 0 }
            }
            return true
        }
    }

    /// Unmarks `id` after handling failed, so Stripe's retry is handled again.
    func abandon(_ id: String) {
        state.withLock { s in
            _ = s.ids.remove(id)
        }
    }
}
