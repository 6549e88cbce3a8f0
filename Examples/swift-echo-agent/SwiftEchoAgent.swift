import PluginKit

/// An agent transport written in Swift with PluginKit: answers with the message
/// reversed and the history length. Shows the whole recipe of a Swift plugin.
final class SwiftEchoTransport: AgentTransport {
    struct Config: Decodable { var greeting: String? }
    struct AgentConfig: Decodable { var style: String? }

    /// One opened agent: how it answers.
    struct Agent: Sendable { let name: String; let style: String }

    let host: PluginHost
    let greeting: String

    init(host: PluginHost, config: PluginConfig) throws {
        self.host = host
        greeting = try config.decode(Config.self).greeting ?? "swift-echo"
        host.log(.debug, "swift echo transport created")
    }

    func open(name: String, config: PluginConfig) throws -> Agent {
        let c = try config.decode(AgentConfig.self)
        let style = c.style ?? "reverse"
        guard ["reverse", "upper", "plain"].contains(style) else { throw PluginError.config("style: must be reverse, upper or plain, got '\(style)'") }
        return Agent(name: name, style: style)
    }

    func call(_ agent: Agent, _ request: AgentRequest) async throws -> AgentReply {
        let body: String
        switch agent.style {
        case "upper": body = request.text.uppercased()
        case "plain": body = request.text
        default: body = String(request.text.reversed())
        }
        return AgentReply(text: "\(greeting): \(body) (history: \(request.history.count))")
    }

    func probe(_ agent: Agent) async throws {}
}

@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "swift-echo-agent", name: "Swift echo agent", version: "1.0.0",
                 description: "Answers with the message reversed; written with PluginKit",
                 configSchema: #"{"type":"object","properties":{"greeting":{"type":"string","minLength":1}},"additionalProperties":false}"#,
                 agentTransport: SwiftEchoTransport.self).entry(host, major, minor)
}
