import Foundation

extension ConversationRouter {
    /// Step 3b, abuse and cost control (`abuse:`, see `AbuseGuard`): allow and block lists,
    /// known-users mode, rate limits per sender, account and overall, the spam score. Runs
    /// once the session step knows the agent (its account is the per-account limit's, unless
    /// the sender is a known user with an account of its own) and before admission and any
    /// agent call. A refused message is stored (outside any session, its status the
    /// reason), announced as `message.rejected` with the reason and its details, and
    /// answered with the configured reply ("" = nothing). Returns true if the turn is over.
    func abuse(_ t: Turn) throws -> Bool {
        guard let g = abuseGuard else { return false }
        let m = t.inbound
        guard case .refuse(let reason, let status, let reply, let fields) = try g.check(m, agentAccount: t.agent.entry.account, nowMs: t.now)
        else { return false }
        emit("message.rejected", m, fields: [("reason", .string(reason))] + fields)
        try endWithoutSession(t, status: status, text: reply)
        return true
    }
}
