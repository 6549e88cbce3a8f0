import Foundation

extension ConversationRouter {
    /// Step 4, admission (billing, agents with an `account`): the account's status,
    /// per-minute rate and monthly limits are checked and counted in one transaction; a
    /// refusal is answered with the configured reply and reaches no agent. Returns true if
    /// the message was refused (the turn is over).
    func admission(_ t: Turn) throws -> Bool {
        let m = t.inbound
        guard let meter = usage, let account = t.agent.entry.account,
              case .denied(let reason, let detail) = try meter.admit(accountId: account, correlationId: t.correlationId, channel: m.channel)
        else { return false }
        emit("message.rejected", m, agent: t.agent.name, fields: [("reason", .string(reason.rawValue)), ("detail", .string(detail)),
                                                                  ("account", .string(account))])
        try endWithoutSession(t, status: "denied_\(reason.rawValue)", text: meter.reply(for: reason))
        return true
    }
}
