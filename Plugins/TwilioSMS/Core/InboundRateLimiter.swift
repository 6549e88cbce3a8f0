import Foundation
import Synchronization

/// A per-number sliding-window limit on inbound messages (default 10 a minute).
///
/// For each sender it remembers the arrival times in the current window. Over the
/// limit, the first refused message in a window gets a polite reply and the rest get
/// nothing, so a flood is not answered by a flood. Thread-safe (one mutex); memory is
/// bounded by pruning idle senders.
public final class InboundRateLimiter: Sendable {
    /// The verdict for one message.
    public enum Decision: Sendable, Equatable {
        /// Under the limit: process it.
        case allow
        /// Over the limit, first time in this window: answer with the polite reply.
        case limitedNotify
        /// Over the limit again: drop silently.
        case limitedSilent
    }

    struct Sender { var times: [Double] = []; var notified = false }

    public let limit: Int
    public let window: Double
    private let state = Mutex<(senders: [String: Sender], lastPrune: Double)>(([:], 0))

    /// `limit` messages per `window` seconds per sender; `limit` 0 disables limiting.
    public init(limit: Int, window: Double = 60) {
        self.limit = limit
        self.window = window
    }

    /// Counts a message from `sender` at `now` (seconds, monotonic or wall) and decides.
    public func check(_ sender: String, now: Double = Date().timeIntervalSince1970) -> Decision {
        guard limit > 0 else { return .allow }
        return state.withLock { s in
            if now - s.lastPrune > window {
                s.senders = s.senders.filter { ($0.value.times.last ?? 0) > now - window }
                s.lastPrune = now
            }
            var e = s.senders[sender] ?? Sender()
            e.times.removeAll { $0 <= now - window }
            if e.times.isEmpty { e.notified = false }
            let decision: Decision
            if e.times.count < limit {
                e.times.append(now)
                e.notified = false   // a later flood gets one polite reply again
                decision = .allow
            } else if !e.notified {
                e.notified = true
                decision = .limitedNotify
            } else {
                decision = .limitedSilent
            }
            s.senders[sender] = e
            return decision
        }
    }
}
