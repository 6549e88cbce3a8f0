import Foundation
import PluginKit

/// The MCP client of one agent: runs the handshake (`initialize`, version
/// negotiation, `notifications/initialized`, paginated `tools/list`) whenever the
/// connection's `generation` changes, and turns a gateway request into `tools/call`.
///
/// Threading: `call` and `probe` may run concurrently from any task; the handshake is
/// single-flight (concurrent callers wait for the one in progress). State behind `lock`.
final class MCPClient: @unchecked Sendable {
    /// Protocol revisions this client speaks, newest first (the first is offered).
    static let supportedVersions = ["2025-11-25", "2025-06-18"]

    let connection: any MCPConnection
    let config: MCPAgentConfig
    let host: PluginHost
    let agentName: String

    private let lock = NSLock()
    private var readyGeneration = -1
    private var arguments: ToolArguments?
    private var handshake: (generation: Int, task: Task<ToolArguments, any Error>)?
    /// The version the server agreed to, after a handshake.
    private(set) var negotiatedVersion: String?
    private(set) var serverName: String?

    init(connection: any MCPConnection, config: MCPAgentConfig, host: PluginHost, agentName: String) {
        self.connection = connection; self.config = config; self.host = host; self.agentName = agentName
    }

    /// Ensures the handshake ran for the current connection generation; returns the
    /// tool's argument mapping.
    func ready(timeoutMs: UInt32) async throws -> ToolArguments {
        let gen = connection.generation
        enum Step { case done(ToolArguments), wait(Task<ToolArguments, any Error>) }
        let step: Step = lock.withLock {
            if readyGeneration == gen, let a = arguments { return .done(a) }
            if let h = handshake, h.generation == gen { return .wait(h.task) }
            let t = Task { try await self.initialize(generation: gen, timeoutMs: timeoutMs) }
            handshake = (gen, t)
            return .wait(t)
        }
        guard case .wait(let task) = step else { if case .done(let a) = step { return a }; fatalError() }
        do {
            return try await task.value
        } catch {
            lock.withLock { if handshake?.generation == gen { handshake = nil } }
            throw error
        }
    }

    private func initialize(generation gen: Int, timeoutMs: UInt32) async throws -> ToolArguments {
        let result = try await connection.request("initialize", [
            "protocolVersion": Self.supportedVersions[0],
            "capabilities": [String: Any](),
            "clientInfo": ["name": "darkspere", "version": "0.1.0"],
        ], timeoutMs: timeoutMs)
        let version = result["protocolVersion"] as? String ?? "(none)"
        guard Self.supportedVersions.contains(version) else {
            throw PluginError.failed("agent '\(agentName)': the server answered MCP protocol version \(version); this transport speaks \(Self.supportedVersions.joined(separator: ", "))")
        }
        connection.setProtocolVersion(version)
        await connection.notify("notifications/initialized", nil)
        let tools = try await listTools(timeoutMs: timeoutMs)
        guard let tool = tools.first(where: { ($0["name"] as? String) == config.tool }) else {
            let names = tools.compactMap { $0["name"] as? String }
            throw PluginError.config("tool: the MCP server offers no tool '\(config.tool)' (it offers: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
        }
        let args = try ToolArguments(tool: config.tool, inputSchema: tool["inputSchema"] as? [String: Any])
        let info = result["serverInfo"] as? [String: Any]
        lock.withLock {
            readyGeneration = gen
            arguments = args
            negotiatedVersion = version
            serverName = info?["name"] as? String
            handshake = nil
        }
        host.log(.info, "agent '\(agentName)': MCP \(version) with '\(serverName ?? "?")', tool '\(config.tool)' gets \(args.names.sorted().joined(separator: ", "))")
        return args
    }

    /// Every tool the server lists, following `nextCursor` (at most 100 pages).
    private func listTools(timeoutMs: UInt32) async throws -> [[String: Any]] {
        var tools: [[String: Any]] = []
        var cursor: String?
        for _ in 0..<100 {
            let page = try await connection.request("tools/list", cursor.map { ["cursor": $0] }, timeoutMs: timeoutMs)
            tools += (page["tools"] as? [[String: Any]]) ?? []
            guard let next = page["nextCursor"] as? String, !next.isEmpty else { return tools }
            cursor = next
        }
        throw PluginError.failed("agent '\(agentName)': tools/list returned more than 100 pages")
    }

    /// One turn: `tools/call` of the configured tool. Repeats once after a lost session.
    func call(_ request: AgentRequest) async throws -> AgentReply {
        let deadline = request.timeoutMs > 0 ? min(config.timeoutMs, request.timeoutMs) : config.timeoutMs
        for attempt in 0..<2 {
            do {
                let args = try await ready(timeoutMs: deadline)
                let result = try await connection.request("tools/call", ["name": config.tool, "arguments": args.build(request)], timeoutMs: deadline)
                return AgentReply(text: try ToolArguments.reply(from: result, tool: config.tool))
            } catch is MCPSessionLost where attempt == 0 {
                continue
            } catch is MCPSessionLost {
                throw PluginError.unavailable("agent '\(agentName)': MCP session lost twice in a row")
            }
        }
        throw PluginError.unavailable("agent '\(agentName)': unreachable")
    }

    /// Health check: handshake if needed, then `ping`.
    func ping(timeoutMs: UInt32) async throws {
        do {
            _ = try await ready(timeoutMs: timeoutMs)
            _ = try await connection.request("ping", nil, timeoutMs: timeoutMs)
        } catch is MCPSessionLost {
            _ = try await ready(timeoutMs: timeoutMs)
            _ = try await connection.request("ping", nil, timeoutMs: timeoutMs)
        }
    }
}
