import Synchronization

/// Provider ids of the parts of a multi-part send that Twilio already accepted, by
/// the host's message id, so that a retried send (same message id) does not send
/// those parts again. Bounded: the oldest entries are dropped past `capacity`.
/// Thread-safe (one mutex).
public final class SentPartsLedger: Sendable {
    private let state = Mutex<(map: [String: [String]], order: [String])>(([:], []))
    let capacity: Int
    public init(capacity: Int = 10_000) { self.capacity = capacity }

    public func parts(_ messageId: String) -> [String] { state.withLock { $0.map[messageId] ?? [] } }

    public func record(_ messageId: String, sids: [String]) {
        state.withLock { s in
            if s.map[messageId] == nil { s.order.append(messageId) }
            s.map[messageId] = sids
            if s.order.count > capacity { let old = s.order.removeFirst(); s.map[old] = nil }
        }
    }

    public func forget(_ messageId: String) {
        state.withLock { s in
            if s.map.removeValue(forKey: messageId) != nil { s.order.removeAll { $0 == messageId } }
        }
    }
}
