import Foundation
import PluginKit
#if canImport(Glibc)
import Glibc
#endif

/// The `mcp` agent transport: reaches agents that are MCP servers, over stdio (a child
/// process) or Streamable HTTP. See Plugins/MCP/README.md for the config.
///
/// Threading: `open`/`close` are never concurrent on one instance (ABI rule); `call`
/// and `probe` run concurrently from any task. Each opened agent owns its connection.
final class MCPTransport: AgentTransport {
    /// One opened agent: its client and connection. Owned by the host between open and close.
    final class Agent: Sendable {
        let name: String
        let client: MCPClient
        let connection: any MCPConnection
        init(name: String, client: MCPClient, connection: any MCPConnection) {
            self.name = name; self.client = client; self.connection = connection
        }
    }

    let host: PluginHost

    init(host: PluginHost, config: PluginConfig) throws {
        self.host = host
        // A dead child must not kill the gateway with SIGPIPE when we write to it.
        signal(SIGPIPE, SIG_IGN)
    }

    func open(name: String, config: PluginConfig) throws -> Agent {
        let c = try MCPAgentConfig(config)
        let connection: any MCPConnection
        switch c.endpoint {
        case let .stdio(command, args, env, cwd):
            let exe = try CommandResolver.resolve(command)
            let s = StdioConnection(host: host, agentName: name, executable: exe, args: args, env: env, cwd: cwd)
            try s.start()
            connection = s
        case let .http(url, headers):
            connection = HTTPConnection(host: host, agentName: name, url: url, headers: headers)
        }
        let client = MCPClient(connection: connection, config: c, host: host, agentName: name)
        // open() may block (ABI): run the handshake now so a missing tool or an
        // unreachable server stops start-up with a clear error.
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        Task(executorPreference: OpenExecutor.shared) {
            do { _ = try await client.openHandshake(timeoutMs: c.startupTimeoutMs); box.error = nil } catch { box.error = error }
            done.signal()
        }
        done.wait()
        if let e = box.error {
            connection.close()
            let p = PluginError.from(e)
            throw PluginError(status: p.status, "MCP handshake with agent '\(name)' failed: \(p.message)")
        }
        return Agent(name: name, client: client, connection: connection)
    }

    func call(_ agent: Agent, _ request: AgentRequest) async throws -> AgentReply {
        try await agent.client.call(request)
    }

    func probe(_ agent: Agent) async throws {
        try await agent.client.ping(timeoutMs: min(agent.client.config.timeoutMs, 5_000))
    }

    func close(_ agent: Agent) {
        agent.connection.close()
    }
}

/// Carries an open() result out of the handshake task (written before the semaphore signals).
/// Unchecked Sendable: `error` is written by the handshake task before the semaphore signals and
/// read after the wait (the semaphore orders them).
private final class ResultBox: @unchecked Sendable { var error: (any Error)? = nil }

/// Schema of the instance's own config block (the transport itself takes none).
private let instanceSchema = #"{"type":"object","properties":{},"additionalProperties":false}"#

@_cdecl("darkspere_plugin_entry")
public func darkspere_plugin_entry(_ host: UnsafePointer<ds_host>?, _ major: UInt32, _ minor: UInt32) -> UnsafePointer<ds_plugin_descriptor>? {
    PluginExport(id: "mcp", name: "MCP agent transport", version: "1.0.0",
                 description: "Reaches agents that are MCP servers, over stdio or Streamable HTTP",
                 configSchema: instanceSchema, agentTransport: MCPTransport.self).entry(host, major, minor)
}
