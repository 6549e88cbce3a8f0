import Foundation

/// What one message's handling needs, from the moment its conversation is held until its
/// reply is durable and answered: the inbound message, when it arrived, how it is
/// answered (`reply`), how the conversation is let go (`finish`), and, once the session
/// step decided them, the session, the stored inbound row, the agent and the call with
/// its attempt state. The steps of the message path (dedupe, compliance, session,
/// admission, call, failover, reply) are small functions of `ConversationRouter` over a
/// `Turn`, one file each (`ConversationRouter+Step.swift`): adding a step is adding a
/// function, not editing the argument lists of ten.
///
/// A value: a step that changes the turn (the session it was written to, the agent that
/// takes it over, a retry) passes a changed copy on. Threading: Sendable; one turn is
/// worked on by one thread at a time (its conversation is held), though not always the
/// same one (a turn starts on a `work` thread; a successful agent completion continues on
/// the thread it arrived on, and the reply's write completes on the store's writer).
struct Turn: Sendable {
    let inbound: Inbound
    /// Milliseconds since the epoch at `submit` (the inline budget counts from here).
    let arrived: Int64
    /// When the turn started, holding its conversation (what its rows are stamped with).
    let now: Int64
    /// The channel's answer: inline or deferred, decided once.
    let reply: TurnReply
    /// Lets the conversation go (its next message may start). Call exactly once.
    let finish: @Sendable () -> Void

    /// The session the message belongs to: the active one (context read), then the one it
    /// was written to. Set before any call step runs.
    var session: SessionRecord!
    /// The stored inbound message's row (from `beginTurn`); 0 before it is stored.
    var inboundId: Int64 = 0
    /// The agent taking the message (the session's, or the one failover moved it to).
    var agent: RoutedAgent!
    /// The request for `agent` (history, session state), built by the session step.
    var call = AgentCall()
    /// Agents that failed this message (failover skips them).
    var tried: Set<String> = []
    /// The current agent was already retried once for this message.
    var retried = false

    init(inbound: Inbound, arrived: Int64, now: Int64, reply: TurnReply, finish: @escaping @Sendable () -> Void) {
        self.inbound = inbound; self.arrived = arrived; self.now = now; self.reply = reply; self.finish = finish
    }

    /// The correlation id: stable across webhook retries, carried by the message's agent
    /// call, reply, send, usage and events.
    var correlationId: String { ConversationRouter.correlation(inbound) }
}
