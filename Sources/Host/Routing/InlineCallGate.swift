import Synchronization

/// The hand-off between an agent call made before the turn was written (the router's fast
/// path for agents that answer synchronously) and the turn's thread.
///
/// The turn thread calls the transport, then `callReturned()`: if the completion already
/// arrived (synchronously, inside `call`), it gets the outcome and writes the whole turn
/// at once. If not, the call went asynchronous: the turn thread stores the inbound message
/// (`beginTurn`) and reports it with `begun` (or `beginFailed`); the completion, whenever
/// it arrives, gets the written session and message id from `completed` once they exist,
/// or leaves its outcome for `begun` to return.
///
/// Threading: thread-safe; every method is called at most once per gate.
final class InlineCallGate: Sendable {
    private enum State {
        case calling
        case inline(OpOutcome)
        case awaitingBegin
        case outcomeBeforeBegin(OpOutcome)
        case begun(SessionRecord, Int64)
        case beginFailed
        case done
    }
    private let state = Mutex(State.calling)

    /// What the completion must do with its outcome.
    enum Next {
        /// Nothing: the turn thread has it (synchronous) or will pick it up after `begun`.
        case leave
        /// Continue the turn with the stored inbound message, on the completion's side.
        case continueWith(SessionRecord, Int64)
        /// Storing the inbound message failed (the sender was told): just end the turn.
        case endTurn
    }

    /// Called by the completion, once.
    func completed(_ o: OpOutcome) -> Next {
        state.withLock { s in
            switch s {
            case .calling: s = .inline(o); return .leave
            case .awaitingBegin: s = .outcomeBeforeBegin(o); return .leave
            case .begun(let session, let id): s = .done; return .continueWith(session, id)
            case .beginFailed: s = .done; return .endTurn
            case .inline, .outcomeBeforeBegin, .done: return .leave
            }
        }
    }

    /// After `call` returned: the outcome if it completed synchronously, else nil.
    func callReturned() -> OpOutcome? {
        state.withLock { s in
            if case .inline(let o) = s { s = .done; return o }
            s = .awaitingBegin
            return nil
        }
    }

    /// The inbound message is stored: the outcome if it arrived meanwhile (the turn thread
    /// continues with it), else nil (the completion will).
    func begun(_ session: SessionRecord, _ messageId: Int64) -> OpOutcome? {
        state.withLock { s in
            if case .outcomeBeforeBegin(let o) = s { s = .done; return o }
            s = .begun(session, messageId)
            return nil
        }
    }

    /// Storing the inbound message failed: true if the outcome already arrived (the turn
    /// may end now), false if the call is still in flight (the turn ends when it settles).
    func beginFailed() -> Bool {
        state.withLock { s in
            if case .outcomeBeforeBegin = s { s = .done; return true }
            s = .beginFailed
            return false
        }
    }
}
