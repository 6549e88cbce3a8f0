import Foundation
import PluginKit

/// The MCP client of one agent: whenever the connection's `generation` changes it
/// finds the protocol era — a `server/discover` probe for the per-request revision
/// 2026-07-28, else the `initialize` handshake with version negotiation and
/// `notifications/initialized` — then the configured tool with a paginated
/// `tools/list`; and it turns a gateway request into `tools/call`.
///
/// Threading: `call` and `probe` may run concurrently from any task; the handshake is
/// single-flight (concurrent callers wait for the one in progress). State behind `lock`.
/// Unchecked Sendable: every `var` only under `lock`; the rest is immutable.
final class MCPClient: @unchecked Sendable {
    /// Handshake-era protocol revisions this client speaks, newest first (the first is offered).
    static let supportedVersions = ["2025-11-25", "2025-06-18"]
    /// The per-request-envelope revision (no handshake, no session), found with `server/discover`.
    static let perRequestVersion = "2026-07-28"

    /// The `_meta` envelope every 2026-07-28 request carries.
    static func envelope(_ version: String) -> [String: Any] {
        ["io.modelcontextprotocol/protocolVersion": version,
         "io.modelcontextprotocol/clientCapabilities": [String: Any](),
         "io.modelcontextprotocol/clientInfo": ["name": "darkspere", "version": "0.1.0"]]
    }

    let connection: any MCPConnection
    let config: MCPAgentConfig
    let host: PluginHost
    let agentName: String

    private let lock = NSLock()
    private var readyGeneration = -1
    private var arguments: ToolArguments?
    /// The `_meta` envelope added to every request in the 2026-07-28 era; nil in the handshake era.
    private var meta: [String: Any]?
    private var handshake: (generation: Int, task: Task<ToolArguments, any Error>)?
    /// The last server/discover probe got no answer in time (so a late answer may yet arrive).
    private var discoverTimedOut = false
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

    /// The first handshake, from open(): runs in the caller's task (so on its executor),
    /// not in a task of its own. Nothing else uses the client yet.
    func openHandshake(timeoutMs: UInt32) async throws -> ToolArguments {
        try await initialize(generation: connection.generation, timeoutMs: timeoutMs)
    }

    private func initialize(generation gen: Int, timeoutMs: UInt32) async throws -> ToolArguments {
        do {
            return try await initializeOnce(generation: gen, timeoutMs: timeoutMs)
        } catch let e as PluginError where e.status == DS_ERR_UNAVAILABLE && e.message.contains("will probe again") {
            // The late discover answer locked the connection to 2026-07-28: probe once more now.
            host.log(.info, "agent '\(agentName)': probing server/discover again after a slow first probe")
            return try await initializeOnce(generation: gen, timeoutMs: timeoutMs)
        }
    }

    private func initializeOnce(generation gen: Int, timeoutMs: UInt32) async throws -> ToolArguments {
        if config.era != .handshake, let discovered = try await discover(timeoutMs: timeoutMs) {
            let envelope = Self.envelope(Self.perRequestVersion)
            let args = try await findTool(timeoutMs: timeoutMs, meta: envelope)
            let info = (discovered["_meta"] as? [String: Any])?["io.modelcontextprotocol/serverInfo"] as? [String: Any]
            lock.withLock {
                readyGeneration = gen
                arguments = args
                meta = envelope
                negotiatedVersion = Self.perRequestVersion
                serverName = info?["name"] as? String
                handshake = nil
            }
            host.log(.info, "agent '\(agentName)': MCP \(Self.perRequestVersion) (no handshake) with '\(serverName ?? "?")', tool '\(config.tool)' gets \(args.names.sorted().joined(separator: ", "))")
            return args
        }
        let result: JSONObject
        do {
            result = try await connection.request("initialize", [
                "protocolVersion": Self.supportedVersions[0],
                "capabilities": [String: Any](),
                "clientInfo": ["name": "darkspere", "version": "0.1.0"],
            ], timeoutMs: timeoutMs)
        } catch let e as PluginError where e.status == DS_ERR_FAILED && lock.withLock({ discoverTimedOut }) {
            // The discover probe timed out (a slow or restarting server) and the server may
            // have answered it late, locking this connection to 2026-07-28: retryable, the
            // next attempt probes again.
            lock.withLock { discoverTimedOut = false }
            throw PluginError.unavailable("agent '\(agentName)': MCP initialize refused after a slow server/discover (\(e.message)); will probe again")
        }
        let version = result["protocolVersion"] as? String ?? "(none)"
        guard Self.supportedVersions.contains(version) else {
            throw PluginError.failed("agent '\(agentName)': the server answered MCP protocol version \(version); this transport speaks \(Self.supportedVersions.joined(separator: ", "))")
        }
        connection.setProtocol(version: version, perRequest: false)
        await connection.notify("notifications/initialized", nil)
        let args = try await findTool(timeoutMs: timeoutMs, meta: nil)
        let info = result["serverInfo"] as? [String: Any]
        lock.withLock {
            readyGeneration = gen
            arguments = args
            meta = nil
            negotiatedVersion = version
            serverName = info?["name"] as? String
            handshake = nil
        }
        host.log(.info, "agent '\(agentName)': MCP \(version) with '\(serverName ?? "?")', tool '\(config.tool)' gets \(args.names.sorted().joined(separator: ", "))")
        return args
    }

    /// Probes `server/discover` at 2026-07-28. Returns its result when the server speaks
    /// that revision; nil (after resetting the connection) when it is a handshake-era
    /// server. With `protocol: 2026-07-28` anything else is an error.
    private func discover(timeoutMs: UInt32) async throws -> JSONObject? {
        let v = Self.perRequestVersion
        connection.setProtocol(version: v, perRequest: true)
        let required = config.era == .perRequest
        do {
            let r = try await connection.request("server/discover", ["_meta": Self.envelope(v)],
                                                 timeoutMs: required ? timeoutMs : min(timeoutMs, 5_000))
            let offered = r["supportedVersions"] as? [String] ?? []
            if offered.contains(v) { return r }
            if required {
                throw PluginError.config("protocol: the server does not offer \(v) (it offers \(offered.joined(separator: ", ")))")
            }
        } catch let e as PluginError where !required && (e.status == DS_ERR_FAILED || e.status == DS_ERR_TIMEOUT) {
            // A handshake-era server: "method not found", HTTP 400, or no answer.
            if e.status == DS_ERR_TIMEOUT { lock.withLock { discoverTimedOut = true } }
        }
        connection.setProtocol(version: nil, perRequest: false)
        return nil
    }

    /// Lists the tools and builds the configured tool's argument mapping.
    private func findTool(timeoutMs: UInt32, meta: [String: Any]?) async throws -> ToolArguments {
        let tools = try await listTools(timeoutMs: timeoutMs, meta: meta)
        guard let tool = tools.first(where: { ($0["name"] as? String) == config.tool }) else {
            let names = tools.compactMap { $0["name"] as? String }
            throw PluginError.config("tool: the MCP server offers no tool '\(config.tool)' (it offers: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
        }
        return try ToolArguments(tool: config.tool, inputSchema: tool["inputSchema"] as? [String: Any])
    }

    /// `params` with the 2026-07-28 `_meta` envelope added when that era is in use.
    private func enveloped(_ params: [String: Any]?, _ meta: [String: Any]?) -> [String: Any]? {
        guard let meta else { return params }
        var p = params ?? [:]
        p["_meta"] = meta
        return p
    }

    /// Every tool the server lists, following `nextCursor` (at most 100 pages).
    private func listTools(timeoutMs: UInt32, meta: [String: Any]?) async throws -> [[String: Any]] {
        var tools: [[String: Any]] = []
        var cursor: String?
        for _ in 0..<100 {
            let page = try await connection.request("tools/list", enveloped(cursor.map { ["cursor": $0] }, meta), timeoutMs: timeoutMs)
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
                let m = lock.withLock { meta }
                let result = try await connection.request("tools/call", enveloped(["name": config.tool, "arguments": args.build(request)], m), timeoutMs: deadline)
                return AgentReply(text: try ToolArguments.reply(from: result, tool: config.tool), handoff: ToolArguments.handoff(from: result),
                                  media: ToolArguments.media(from: result))
            } catch is MCPSessionLost where attempt == 0 {
                continue
            } catch is MCPSessionLost {
                throw PluginError.unavailable("agent '\(agentName)': MCP session lost twice in a row")
            }
        }
        throw PluginError.unavailable("agent '\(agentName)': unreachable")
    }

    /// Health check: handshake if needed, then `ping` (handshake era) or
    /// `server/discover` (2026-07-28, which has no ping).
    func ping(timeoutMs: UInt32) async throws {
        func once() async throws {
            _ = try await ready(timeoutMs: timeoutMs)
            if let m = lock.withLock({ meta }) {
                _ = try await connection.request("server/discover", ["_meta": m], timeoutMs: timeoutMs)
            } else {
                _ = try await connection.request("ping", nil, timeoutMs: timeoutMs)
            }
        }
        do { try await once() } catch is MCPSessionLost { try await once() }
    }
}
