import Foundation

extension ConversationRouter {
    /// Resumes stored inbound messages whose turn died before answering (a `kill -9` or a
    /// store error mid-turn), without waiting for the channel to retry its webhook (Twilio
    /// does not by default). Each goes through the router again as `resumed`: the dedupe
    /// key is found pending and, holding the conversation (also across processes), the
    /// turn resumes with the session's history; the reply goes out through the outbox
    /// (nobody waits for it inline any more). Messages answered meanwhile by another
    /// process are found answered and left alone. The message's media (stored with it)
    /// goes with it again.
    ///
    /// Threading: blocks on one store read; call off the event loops. Returns how many
    /// messages were resubmitted.
    func resumeUnanswered(fromMs: Int64, toMs: Int64, limit: Int = 500) throws -> Int {
        let stalled = try store.unansweredMessages(fromMs: fromMs, toMs: toMs, limit: limit)
        for m in stalled {
            logger.warning("recovery: resuming \(m.channel)/\(m.channelMessageId), stored but never answered")
            submit(m, resumed: true) { _ in }
        }
        return stalled.count
    }
}
