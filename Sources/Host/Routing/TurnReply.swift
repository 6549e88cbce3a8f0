import Synchronization

/// One message's answer: inline (the channel's submit callback) or deferred (the outbox),
/// decided exactly once. Threading: thread-safe.
final class TurnReply: Sendable {
    enum Mode: Sendable, Equatable { case waiting, inline, deferred }
    private let mode = Mutex(Mode.waiting)
    private let answered = Atomic<Bool>(false)
    private let completion: @Sendable (SubmitOutcome) -> Void

    init(completion: @escaping @Sendable (SubmitOutcome) -> Void) { self.completion = completion }

    /// The budget ran out: tell the channel "deferred" if no reply was committed yet.
    func deferIfWaiting() -> Bool {
        let deferred: Bool = mode.withLock { m in
            guard m == .waiting else { return false }
            m = .deferred
            return true
        }
        if deferred { answer(.deferred) }
        return deferred
    }

    /// The reply is ready: fixes the mode (inline unless already deferred) and returns it.
    func commit() -> Mode {
        mode.withLock { m in
            if m == .waiting { m = .inline }
            return m
        }
    }

    var committed: Mode { mode.withLock { $0 } }

    /// Calls the channel's completion once; later calls are ignored.
    func answer(_ o: SubmitOutcome) {
        if answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged { completion(o) }
    }
}

/// Whether an agent call is still inside the transport's `call` (its completion then came
/// synchronously). Threading: thread-safe.
final class CallFlag: Sendable {
    let inCall = Atomic<Bool>(true)
}
