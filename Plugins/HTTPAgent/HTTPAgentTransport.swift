import Foundation
import PluginKit

/// The `http-agent` transport: POSTs a `chat.request` envelope to the agent's `url`
/// through the host's HTTP client and reads a `chat.response`; the agent's
/// `context_update.session_state` goes back to the host, which stores it with the
/// session and sends it with the next request. `probe` GETs `health_url`.
///
/// Threading: open/close never concurrent on the instance; call/probe from any task,
/// concurrently. Agents are immutable values.
final class HTTPAgentTransport: AgentTransport {
    struct Agent: Sendable {
        let name: String
        let config: HTTPAgentConfig
    }

    let host: PluginHost

    init(host: PluginHost, config: PluginConfig) throws { self.host = host }

    func open(name: String, config: PluginConfig) throws -> Agent {
        Agent(name: name, config: try HTTPAgentConfig(config, host: host))
    }

    func call(_ agent: Agent, _ request: AgentRequest) async throws -> AgentReply {
        let deadline = request.timeoutMs > 0 ? min(agent.config.timeoutMs, request.timeoutMs) : agent.config.timeoutMs
        let headers = [("Content-Type", "application/json"), ("Accept", "application/json")] + agent.config.headers
        let response = try await host.http(HTTPRequest(method: "POST", url: agent.config.url, headers: headers,
                                                       body: ChatEnvelope.request(request), timeoutMs: deadline))
        try Task.checkCancellation()
        try HTTPStatusError.check(response, what: "agent '\(agent.name)'")
        return try ChatEnvelope.reply(response.body)
    }

    func probe(_ agent: Agent) async throws {
        let r = try await host.http(HTTPRequest(method: "GET", url: agent.config.healthURL, headers: agent.config.headers,
                                                timeoutMs: min(agent.config.timeoutMs, 5_000)))
        try HTTPStatusError.check(r, what: "agent '\(agent.name)' health")
    }
}

@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "http-agent", name: "HTTP JSON agent transport", version: "1.0.0",
                 description: "POSTs chat.request envelopes to an agent's URL; session_state round trip",
                 configSchema: #"{"type":"object","properties":{},"additionalProperties":false}"#,
                 agentTransport: HTTPAgentTransport.self).entry(host, major, minor)
}
