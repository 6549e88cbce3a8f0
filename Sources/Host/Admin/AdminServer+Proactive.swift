import Foundation

/// POST /api/v1/messages (operator): a proactive message — a conversation started or
/// continued from our side (issue 14, item 2). Queued through the outbox (sent once,
/// retried), refused for an opted-out number (409 `opted_out`, nothing sent) and for an
/// agent that is draining, disabled, out of rotation or removed (409 `agent_unavailable`,
/// naming the state; nothing queued); the user's answer continues the session. Runs on the admin pool (blocking store calls).
extension AdminServer {
    func sendProactive(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let b = try call.body(["channel": "string", "to": "string", "from": "string", "text": "string", "media": "array", "agent": "string",
                                             "template": "object"],
                              required: ["to"])
        // The channel: as given, or the only one configured.
        let channel: String
        if let c = b["channel"]?.stringValue {
            guard channels.contains(c) else {
                throw AdminError.invalid("channel", "no channel instance '\(c.prefix(64))' (configured: \(channels.joined(separator: ", ")))")
            }
            channel = c
        } else {
            guard channels.count == 1 else {
                throw AdminError.invalid("channel", channels.isEmpty ? "no channel is configured" : "required: several channels are configured (\(channels.joined(separator: ", ")))")
            }
            channel = channels[0]
        }
        let to = b["to"]?.stringValue ?? ""
        if let problem = Address.problem(field: "to", to) { throw AdminError(400, "invalid_value", problem) }
        // Our address: as given, or the channel's configured sender (`from` of its config).
        let from: String
        if let f = b["from"]?.stringValue {
            from = f
        } else if let entry = gatewayConfig.plugins.first(where: { $0.id == channel }),
                  let f = (try? JSONValue.parse(entry.configJSON))?["from"]?.stringValue, !f.isEmpty {
            // A scheme:id recipient (whatsapp:+1555…) is written to from the same scheme.
            if let colon = to.firstIndex(of: ":"), f.hasPrefix("+") { from = String(to[...colon]) + f } else { from = f }
        } else {
            throw AdminError.invalid("from", "required: channel '\(channel)' has no configured sender (its config has no 'from')")
        }
        if let problem = Address.problem(field: "from", from) { throw AdminError(400, "invalid_value", problem) }
        let text = b["text"]?.stringValue ?? ""
        guard text.unicodeScalars.count <= 1600 else { throw AdminError.invalid("text", "longer than 1600 characters") }
        var media: [MediaJSON.Item] = []
        if let m = b["media"] {
            do { media = try MediaJSON.items(m) } catch { throw AdminError(400, "invalid_value", "\(error)") }
        }
        guard !text.isSchemaBlank || !media.isEmpty else {
            throw AdminError.invalid("text", "must not be empty (unless media is given)")
        }
        let agent = b["agent"]?.stringValue
        // An approved template (WhatsApp outside the 24-hour window): {"content_sid", "content_variables"?}.
        var template: JSONValue?
        if let t = b["template"] {
            guard let fields = t.objectValue, let sid = t["content_sid"]?.stringValue else {
                throw AdminError.invalid("template", "expected {\"content_sid\": \"HX…\", \"content_variables\": {…}}")
            }
            if let k = fields.first(where: { $0.0 != "content_sid" && $0.0 != "content_variables" })?.0 {
                throw AdminError.invalid("template", "unknown field '\(k.prefix(40))' (allowed: content_sid, content_variables)")
            }
            guard sid.utf8.count == 34, sid.hasPrefix("HX"), sid.dropFirst(2).allSatisfy(\.isHexDigit) else {
                throw AdminError.invalid("template.content_sid", "must be HX followed by 32 hex digits (an approved Content SID)")
            }
            if let v = t["content_variables"] {
                guard let vars = v.objectValue, vars.allSatisfy({ $0.1.stringValue != nil }) else {
                    throw AdminError.invalid("template.content_variables", "must be an object of strings, e.g. {\"1\": \"Ada\"}")
                }
            }
            template = t
        }
        // A repeated request with the same Idempotency-Key queues nothing twice.
        let idem = call.http.header("idempotency-key").map { String($0.prefix(128)) }
        let key = "proactive-" + (idem.map { "k:" + $0 } ?? UUID().uuidString.lowercased())
        let queued: ConversationRouter.ProactiveQueued
        do {
            queued = try router.queueProactive(.init(channel: channel, to: to, from: from, text: text, media: MediaJSON.encode(media),
                                                     agent: agent, key: key, template: template), store: store)
        } catch let r as ConversationRouter.ProactiveRefusal {
            switch r {
            case .optedOut:
                throw AdminError(409, "opted_out", "\(to) opted out of channel '\(channel)' (replied STOP): nothing was sent; they must opt in again (START) or be removed from the opt-out list")
            case .unknownAgent(let a): throw AdminError.invalid("agent", "no agent '\(a.prefix(64))'")
            case .agentNotInPool(let a): throw AdminError(409, "conflict", "agent '\(a)' is not in the routes: pool of \(from)")
            case .sessionOfAnotherAgent(let s, let a):
                throw AdminError(409, "conflict", "the conversation with \(to) is active in session \(s) with agent '\(a)' (omit agent, or move the session first)")
            case .held(let s):
                throw AdminError(409, "conflict", "the conversation with \(to) is held by an operator in session \(s): use POST /api/v1/sessions/\(s)/messages")
            case .agentUnavailable(let a, let state, let detail):
                throw AdminError(409, "agent_unavailable", "agent '\(a)' \(state == "removed" ? "was removed" : "is " + state.replacingOccurrences(of: "_", with: " ")): \(detail). Nothing was queued; omit agent to let the gateway choose one that takes new conversations")
            case .noAgent: throw AdminError(409, "no_agent", "no agent can take a new conversation now")
            }
        }
        logger.info("admin: \(call.token.name) queued a proactive message to session \(queued.sessionId)")
        return .object([("id", .number(Double(queued.messageId))), ("session_id", .number(Double(queued.sessionId))),
                        ("agent", .string(queued.agent)), ("channel", .string(channel)), ("to", .string(to)), ("from", .string(from)),
                        ("correlation_id", .string(queued.correlationId)), ("status", .string("queued")),
                        ("new_session", .bool(queued.newSession)), ("duplicate", .bool(!queued.created))])
    }
}
