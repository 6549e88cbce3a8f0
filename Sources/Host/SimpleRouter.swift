import Foundation
import PluginAPI
import Synchronization

/// A minimal in-memory router: one conversation per (channel, from, to), the first
/// agent that answers its probe, the last `history_depth` messages as history.
/// Replaced by the store-backed router (issue 3) for production use.
public final class SimpleRouter: InboundRouter, @unchecked Sendable {
    let agents: [AgentHandle]
    let routing: RoutingConfig
    private let sessions = Mutex<[String: [(role: String, text: String, timeMs: Int64)]]>([:])
    private let counter = Atomic<Int>(0)

    let events: EventBus?

    public init(agents: [AgentHandle], routing: RoutingConfig, events: EventBus? = nil) {
        self.agents = agents
        self.routing = routing
        self.events = events
    }

    public func submit(_ m: Inbound, completion: @escaping @Sendable (SubmitOutcome) -> Void) {
        guard !m.from.isEmpty, !m.to.isEmpty, !m.channelMessageId.isEmpty else {
            return completion(.rejected(DS_ERR_INVALID, "from, to and channel_message_id are required"))
        }
        let correlation = events?.correlationId() ?? ""
        events?.emit(Event("message.received", correlationId: correlation, channel: m.channel, from: m.from, to: m.to, body: m.text,
                           fields: [("channel_message_id", .string(m.channelMessageId))]))
        guard let agent = agents.first else { return completion(.reply(routing.noAgentReply)) }
        let key = "\(m.channel)|\(m.from)|\(m.to)"
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let history = sessions.withLock { s -> [(role: String, text: String, timeMs: Int64)] in
            let h = s[key] ?? []
            return Array(h.suffix(routing.historyDepth))
        }
        var call = AgentCall()
        call.messageId = "m\(counter.add(1, ordering: .relaxed).newValue)"
        call.correlationId = correlation
        call.sessionId = key
        call.channel = m.channel
        call.from = m.from
        call.to = m.to
        call.text = m.text
        call.history = history
        call.timeoutMs = UInt32(routing.agentTimeout * 1000)
        call.timeMs = now
        let depth = routing.historyDepth
        let noAgent = routing.noAgentReply
        let events = self.events
        events?.emit(Event("agent.called", correlationId: correlation, session: key, agent: agent.name, channel: m.channel))
        agent.transport.call(agent, call) { [weak self] outcome in
            guard outcome.ok else {
                events?.emit(Event("agent.failed", correlationId: correlation, session: key, agent: agent.name, channel: m.channel,
                                   fields: [("status", .number(Double(outcome.status))), ("error", .string(outcome.error))]))
                return completion(.reply(noAgent))
            }
            events?.emit(Event("message.sent", correlationId: correlation, session: key, agent: agent.name, channel: m.channel,
                               from: m.to, to: m.from, body: outcome.text, fields: [("inline", .bool(true))]))
            self?.sessions.withLock { s in
                var h = s[key] ?? []
                h.append(("user", m.text, now))
                h.append(("assistant", outcome.text, Int64(Date().timeIntervalSince1970 * 1000)))
                if h.count > depth * 2 { h.removeFirst(h.count - depth * 2) }
                s[key] = h
            }
            completion(.reply(outcome.text))
        }
    }

    public func reportStatus(channel: String, providerMessageId: String, status: String, errorCode: Int32) -> Bool { false }
}
