import Foundation

extension ConversationRouter {
    /// Step 2, compliance: a message that is only a carrier keyword (STOP family, START
    /// family, HELP) records the opt-out or opt-in and gets the configured reply; a message
    /// from an opted-out number is stored and answered with nothing. No agent is called.
    /// Returns true if the turn is over.
    func compliance(_ t: Turn, optedOut: Bool) throws -> Bool {
        let m = t.inbound
        if let kw = ComplianceKeyword.parse(m.text) {
            let text: String
            var confirmsOptOut = false
            switch kw {
            case .optOut(let w):
                try store.setOptOut(channel: m.channel, remote: m.from, keyword: w, nowMs: t.now)
                text = routing.optOutReply
                confirmsOptOut = true
            case .optIn: try store.clearOptOut(channel: m.channel, remote: m.from); text = routing.optInReply
            case .help: text = routing.helpReply
            }
            emit("message.rejected", m, fields: [("reason", .string("compliance")), ("keyword", .string("\(kw)"))])
            try endWithoutSession(t, status: "compliance", text: text, confirmsOptOut: confirmsOptOut)
            return true
        }
        if optedOut {
            emit("message.rejected", m, fields: [("reason", .string("opted_out"))])
            try endWithoutSession(t, status: "opted_out", text: "")
            return true
        }
        return false
    }
}
