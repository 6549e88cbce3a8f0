import Synchronization

/// One message's answer: inline (the channel's submit callback) or deferred (the outbox),
/// decided exactly once. Threading: thread-safe.
/// Ownership: holds the token of its inline budget's entry in `budgets`, cancelled by the
/// first `answer` (the budget entry itself holds the reply weakly).
final class TurnReply: Sendable {
    enum Mode: Sendable, Equatable { case waiting, inline, deferred }
    private let mode = Mutex(Mode.waiting)
    private let answered = Atomic<Bool>(false)
    private let budgetToken = Atomic<SlotTimer.Token>(0)
    private let budgets: SlotTimer?
    private let completion: @Sendable (SubmitOutcome) -> Void

    init(budgets: SlotTimer? = nil, completion: @escaping @Sendable (SubmitOutcome) -> Void) {
        self.budgets = budgets
        self.completion = completion
    }

    /// The inline budget's entry in `budgets` (set once by the router, right after scheduling it).
    var budget: SlotTimer.Token {
        get { budgetToken.load(ordering: .acquiring) }
        set { budgetToken.store(newValue, ordering: .releasing) }
    }

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
    /// The first call also cancels the budget's entry (nothing left for it to do).
    func answer(_ o: SubmitOutcome) {
        guard answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        completion(o)
        let token = budgetToken.exchange(0, ordering: .acquiringAndReleasing)
        if token != 0 { budgets?.cancel(token) }
    }
}

/// Whether an agent call is still inside the transport's `call` (its completion then came
/// synchronously). Threading: thread-safe.
final class CallFlag: Sendable {
    let inCall = Atomic<Bool>(true)
}
