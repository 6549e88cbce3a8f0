import PluginKit

/// A starting point for an agent transport. Replace the body of `call` with your
/// protocol: reach your agent through `host.http(...)` (the host's shared client),
/// never through an HTTP library of your own (see the README: one copy of each Swift
/// dependency per process).
final class MyAdapter: AgentTransport {
    /// The plugin's `config` block from plugins.yaml (also declared as a JSON Schema below).
    struct Config: Decodable { var greeting: String? }
    /// An agent's `config` block (agents[].config).
    struct AgentConfig: Decodable { var url: String? }

    struct Agent: Sendable { let name: String; let url: String? }

    let host: PluginHost
    let greeting: String

    init(host: PluginHost, config: PluginConfig) throws {
        self.host = host
        greeting = try config.decode(Config.self).greeting ?? "hello from my-adapter"
    }

    func open(name: String, config: PluginConfig) throws -> Agent {
        Agent(name: name, url: try config.decode(AgentConfig.self).url)
    }

    func call(_ agent: Agent, _ request: AgentRequest) async throws -> AgentReply {
        guard let url = agent.url else {
            return AgentReply(text: "\(greeting): you said \(request.text)")
        }
        let response = try await host.http(HTTPRequest(method: "POST", url: url,
                                                       headers: [("Content-Type", "text/plain")],
                                                       body: Array(request.text.utf8), timeoutMs: request.timeoutMs))
        switch response.status {
        case 200..<300: return AgentReply(text: response.text)
        case 429: throw PluginError.rateLimited("agent rate limited")
        case 500...: throw PluginError.unavailable("agent answered \(response.status)")
        default: throw PluginError.failed("agent answered \(response.status)")
        }
    }

    func probe(_ agent: Agent) async throws {}
}

@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "my-adapter", name: "My adapter", version: "0.1.0",
                 description: "Template for a third-party agent transport",
                 configSchema: #"{"type":"object","properties":{"greeting":{"type":"string"}},"additionalProperties":false}"#,
                 agentTransport: MyAdapter.self).entry(host, major, minor)
}
