import Digests
import Foundation

/// Agents at runtime: list, add, change state, remove (operator tokens), agent keys, and
/// the endpoints an agent calls with its own key (register, heartbeat). Every change is
/// written to the store's `agents` / `agent_keys` tables first, then applied here at once
/// (`AgentSync.sync`); the other gateway processes on the same database apply it at their
/// next poll (2 s). Runs on the admin pool (blocking store calls).
extension AdminServer {
    /// A name an agent may have: it appears in URLs, metrics labels and logs.
    static let agentNamePattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

    static func validAgentName(_ name: String) -> Bool {
        name.range(of: agentNamePattern, options: .regularExpression) != nil && name != "register"
    }

    // MARK: reading

    func listAgents(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let counts = try store.activeSessionCounts(sinceMs: activeSinceMs)
        let rows = Dictionary(try store.agentRows().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return .object([("agents", .array(router.agents.map { agentJSON($0, row: rows[$0.name], sessions: counts[$0.name] ?? 0) }))])
    }

    func showAgent(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        return try agentJSON(named: try agentName(call))
    }

    /// The {name} of /api/v1/agents/{name}: 404 for a name no agent can have.
    func agentName(_ call: AdminRequest) throws -> String {
        let name = call.segments[1]
        guard Self.validAgentName(name) else { throw AdminError.notFound("no agent '\(name.prefix(64))' (see GET /api/v1/agents)") }
        return name
    }

    /// The agent as this process runs it, or (an agent only another process runs, e.g. from
    /// its plugins.yaml) as stored; 404 if neither.
    func agentJSON(named name: String) throws -> JSONValue {
        let row = try store.agentRow(name)
        if let a = router.agent(named: name) {
            let sessions = try store.activeSessionCounts(sinceMs: activeSinceMs)[name] ?? 0
            return agentJSON(a, row: row, sessions: sessions)
        }
        guard let row else { throw AdminError.notFound("no agent '\(name.prefix(64))' (see GET /api/v1/agents)") }
        return .object([
            ("name", .string(row.name)), ("transport", .string(row.transport)), ("source", .string(row.source)),
            ("state", .string(row.state)), ("health", .null), ("breaker", .null), ("sessions", .null),
            ("max_sessions", AdminJSON.num(row.maxSessions > 0 ? row.maxSessions : nil)), ("account", AdminJSON.str(row.account)),
            ("history_depth", AdminJSON.num(row.historyDepth)),
            ("heartbeat_interval", row.heartbeatMs.map { .number(Double($0) / 1000) } ?? .null),
            ("last_heartbeat_at", AdminJSON.time(row.lastBeatMs)),
            ("latency_ms", .object([("p50", .null), ("p95", .null), ("p99", .null)])), ("calls_5m", .number(0)), ("errors_5m", .number(0)),
        ])
    }

    func agentJSON(_ a: RoutedAgent, row: AgentRow?, sessions: Int) -> JSONValue {
        let w = a.health.window.snapshot()
        var state = a.state.rawValue
        if a.state == .active && (!a.health.inRotation || a.heartbeatLapsed.load(ordering: .acquiring)) { state = "out_of_rotation" }
        return .object([
            ("name", .string(a.name)), ("transport", .string(a.entry.transport)), ("source", .string(a.source.rawValue)),
            ("state", .string(state)), ("health", .number(Double(a.health.score))), ("breaker", .string(a.health.breaker.rawValue)),
            ("sessions", .number(Double(sessions))), ("max_sessions", AdminJSON.num(a.entry.maxSessions)),
            ("account", AdminJSON.str(a.entry.account)), ("history_depth", AdminJSON.num(a.entry.historyDepth)),
            ("heartbeat_interval", row?.heartbeatMs.map { .number(Double($0) / 1000) } ?? .null),
            ("last_heartbeat_at", AdminJSON.time(row?.lastBeatMs)),
            ("latency_ms", .object([("p50", AdminJSON.num(w.p50Ms)), ("p95", AdminJSON.num(w.p95Ms)), ("p99", AdminJSON.num(w.p99Ms))])),
            ("calls_5m", .number(Double(w.calls))), ("errors_5m", .number(Double(w.errors))),
        ])
    }

    // MARK: changing (operator)

    /// POST /api/v1/agents: a runtime agent, kept in the store.
    func addAgent(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let b = try call.body(["name": "string", "transport": "string", "config": "object", "max_sessions": "integer",
                               "account": "string", "history_depth": "integer"], required: ["name", "transport"])
        let name = b["name"]?.stringValue ?? ""
        guard Self.validAgentName(name) else {
            throw AdminError.invalid("name", "expected 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit (and not 'register'), got '\(name.prefix(64))'")
        }
        var row = try runtimeRow(name: name, b)
        if let account = b["account"]?.stringValue {
            guard gatewayConfig.accounts.contains(where: { $0.id == account }) else {
                let known = gatewayConfig.accounts.map(\.id)
                throw AdminError.invalid("account", "no account '\(account.prefix(64))' in accounts: (\(known.isEmpty ? "none configured" : known.joined(separator: ", ")))")
            }
            row.account = account
        }
        if router.agent(named: name) != nil || gatewayConfig.agents.contains(where: { $0.name == name }) {
            throw AdminError(409, "conflict", "an agent named '\(name)' exists: choose another name, or DELETE /api/v1/agents/\(name) first")
        }
        guard try store.insertRuntimeAgent(row) else {
            throw AdminError(409, "conflict", "an agent named '\(name)' exists: choose another name, or DELETE /api/v1/agents/\(name) first")
        }
        try applied(name, undo: { _ = try? self.store.deleteRuntimeAgent(name) })
        agentEvent("agent.added", name, by: call.token.name, fields: [("transport", .string(row.transport))])
        return try agentJSON(named: name)
    }

    /// PATCH /api/v1/agents/{name} {state}: active, draining (no new sessions) or disabled
    /// (out of rotation; its sessions fail over on their next message).
    func patchAgent(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let name = try agentName(call)
        let b = try call.body(["state": "string"], required: ["state"])
        let text = b["state"]?.stringValue ?? ""
        guard let state = AgentState(rawValue: text) else {
            throw AdminError.invalid("state", "expected one of \(AgentState.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text.prefix(40))'")
        }
        guard try store.setAgentState(name, state.rawValue) else {
            throw AdminError.notFound("no agent '\(name.prefix(64))' (see GET /api/v1/agents)")
        }
        try agentSync?.sync()
        agentEvent("agent.state_changed", name, by: call.token.name, fields: [("state", .string(state.rawValue))])
        return try agentJSON(named: name)
    }

    /// DELETE /api/v1/agents/{name}: a runtime agent only; one from plugins.yaml is 409.
    func deleteAgent(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let name = try agentName(call)
        let row = try store.agentRow(name)
        if row?.source == AgentSource.config.rawValue || router.agent(named: name)?.source == .config {
            throw AdminError(409, "conflict", "agent '\(name)' comes from plugins.yaml: remove it there (then reload or restart), or take it out of rotation with PATCH /api/v1/agents/\(name) {\"state\": \"disabled\"}")
        }
        guard try store.deleteRuntimeAgent(name) else { throw AdminError.notFound("no agent '\(name.prefix(64))' (see GET /api/v1/agents)") }
        try agentSync?.sync()
        agentEvent("agent.removed", name, by: call.token.name)
        return .object([("name", .string(name)), ("removed", .bool(true))])
    }

    // MARK: agent keys (operator)

    /// POST /api/v1/agent-keys {agent}: the key is in this answer only; the store keeps its SHA-256.
    func createAgentKey(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        let b = try call.body(["agent": "string"], required: ["agent"])
        let agent = b["agent"]?.stringValue ?? ""
        guard Self.validAgentName(agent) else {
            throw AdminError.invalid("agent", "expected an agent name (1-64 letters, digits, '.', '_' or '-'), got '\(agent.prefix(64))'")
        }
        let key = Self.newAgentKey()
        let now = nowMillis()
        let id = try store.createAgentKey(agent: agent, hash: Self.keyHash(key), nowMs: now)
        events.emit(Event("agent.key_created", agent: agent, fields: [("key_id", .number(Double(id))), ("operator", .string(call.token.name))]))
        return .object([("id", .number(Double(id))), ("agent", .string(agent)), ("key", .string(key)), ("created_at", AdminJSON.time(now)),
                        ("revoked_at", .null)])
    }

    func listAgentKeys(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        return .object([("keys", .array(try store.agentKeys().map(Self.keyJSON)))])
    }

    /// DELETE /api/v1/agent-keys/{id}: the key stops working at once (every process checks the store).
    func revokeAgentKey(_ call: AdminRequest) throws -> JSONValue {
        try call.only([])
        guard let id = Int64(call.segments[1]), id > 0 else {
            throw AdminError.invalid("id", "expected a key id (a positive integer), got '\(call.segments[1].prefix(40))'")
        }
        guard let k = try store.revokeAgentKey(id: id, nowMs: nowMillis()) else { throw AdminError.notFound("no agent key \(id)") }
        events.emit(Event("agent.key_revoked", agent: k.agent, fields: [("key_id", .number(Double(id))), ("operator", .string(call.token.name))]))
        return Self.keyJSON(k)
    }

    static func keyJSON(_ k: AgentKeyRow) -> JSONValue {
        .object([("id", .number(Double(k.id))), ("agent", .string(k.agent)), ("created_at", AdminJSON.time(k.createdMs)),
                 ("revoked_at", AdminJSON.time(k.revokedMs))])
    }

    /// "dsk_" + 32 random bytes (the system's CSPRNG), base64url.
    static func newAgentKey() -> String {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
        return "dsk_" + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Hex SHA-256 of the key: what the store keeps and looks keys up by.
    static func keyHash(_ key: String) -> String {
        Digest.sha256(Array(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: the agent's own endpoints (agent key)

    /// True for the endpoints an agent calls with its key instead of an admin token.
    static func isAgentKeyEndpoint(_ segments: [String]) -> Bool {
        segments.first == "agents" && (segments.count == 2 && segments[1] == "register" || segments.count == 3 && segments[2] == "heartbeat")
    }

    /// The agent an `Authorization: Bearer <agent key>` is for; 401 if none or revoked.
    func authenticateAgent(_ request: HTTPRequest) throws -> String {
        guard let h = request.header("authorization"), h.count > 7, h.prefix(7).lowercased() == "bearer " else { throw Self.agentUnauthorized }
        let key = h.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard key.hasPrefix("dsk_"), key.count < 200, let found = try store.agentForKey(hash: Self.keyHash(key)) else { throw Self.agentUnauthorized }
        return found.agent
    }

    static let agentUnauthorized = AdminError(401, "unauthorized", "send Authorization: Bearer <agent key> with a key from POST /api/v1/agent-keys (unknown or revoked)",
                                              headers: [("WWW-Authenticate", "Bearer realm=\"darkspere-agents\"")])

    /// POST /api/v1/agents/register: the agent of the key registers (or updates) itself as
    /// a runtime agent: transport, config, limits, heartbeat interval (seconds).
    func registerAgent(_ call: AdminRequest, agent: String) throws -> JSONValue {
        try call.only([])
        let b = try call.body(["name": "string", "transport": "string", "config": "object", "max_sessions": "integer",
                               "history_depth": "integer", "heartbeat_interval": "number"], required: ["transport"])
        if let n = b["name"]?.stringValue, n != agent {
            throw AdminError(403, "forbidden", "this key is for agent '\(agent)', not '\(n.prefix(64))'")
        }
        var row = try runtimeRow(name: agent, b)
        if let v = b["heartbeat_interval"] {
            guard let s = v.doubleValue, s >= 0.1, s <= 86_400 else {
                throw AdminError.invalid("heartbeat_interval", "expected seconds from 0.1 to 86400, got \(v.text.prefix(40))")
            }
            row.heartbeatMs = Int64((s * 1000).rounded())
        }
        row.lastBeatMs = row.updatedMs
        if gatewayConfig.agents.contains(where: { $0.name == agent }) {
            throw AdminError(409, "conflict", "agent '\(agent)' comes from plugins.yaml: it can send heartbeats but not register")
        }
        let before = try store.agentRow(agent)
        // A new version even within the same millisecond: the processes reopen on a change of it.
        row.updatedMs = max(row.updatedMs, (before?.updatedMs ?? 0) + 1)
        row.lastBeatMs = row.updatedMs
        guard try store.registerRuntimeAgent(row) != nil else {
            throw AdminError(409, "conflict", "agent '\(agent)' comes from plugins.yaml: it can send heartbeats but not register")
        }
        try applied(agent, undo: {
            if let before { _ = try? self.store.registerRuntimeAgent(before) } else { _ = try? self.store.deleteRuntimeAgent(agent) }
        })
        agentEvent(before == nil ? "agent.added" : "agent.registered", agent, by: "agent key", fields: [("transport", .string(row.transport))])
        return try agentJSON(named: agent)
    }

    /// POST /api/v1/agents/{name}/heartbeat: back in rotation if it had lapsed.
    func heartbeat(_ call: AdminRequest, agent: String) throws -> JSONValue {
        try call.only([])
        _ = try call.body([:], required: [])
        let name = try agentName(call)
        guard name == agent else { throw AdminError(403, "forbidden", "this key is for agent '\(agent)', not '\(name.prefix(64))'") }
        guard try store.agentBeat(name, nowMs: nowMillis()) else {
            throw AdminError.notFound("no agent '\(name.prefix(64))': register it first (POST /api/v1/agents/register)")
        }
        // Back in rotation here at once (the other processes at their next poll); no full sync per beat.
        agentSync?.beat(name)
        return try agentJSON(named: name)
    }

    // MARK: helpers

    /// A runtime agent row from a body's transport, config, max_sessions, history_depth;
    /// the transport and config are checked against the plugin (400 with every problem).
    func runtimeRow(name: String, _ b: [String: JSONValue]) throws -> AgentRow {
        let transport = b["transport"]?.stringValue ?? ""
        let config = b["config"]?.text ?? "{}"
        var row = AgentRow(name: name, transport: transport, maxSessions: 0, historyDepth: nil, state: AgentState.active.rawValue,
                           source: AgentSource.runtime.rawValue, config: config, account: nil, heartbeatMs: nil, lastBeatMs: nil,
                           updatedMs: nowMillis())
        if let v = b["max_sessions"] {
            guard let n = v.intValue, n >= 1, n <= 1_000_000 else { throw AdminError.invalid("max_sessions", "expected an integer from 1 to 1000000") }
            row.maxSessions = n
        }
        if let v = b["history_depth"] {
            guard let n = v.intValue, n >= 0, n <= 1000 else { throw AdminError.invalid("history_depth", "expected an integer from 0 to 1000") }
            row.historyDepth = n
        }
        if let plugins = agentSync?.plugins {
            let problems = plugins.agentProblems(row.entry).map {
                $0.replacingOccurrences(of: ": line 0: agents[0].", with: ": ").replacingOccurrences(of: ": line 0: agents[0]", with: "")
            }
            if !problems.isEmpty { throw AdminError(400, "invalid_agent", problems.joined(separator: "; ")) }
        }
        return row
    }

    /// After a runtime row was written: applies it here at once; if this process cannot
    /// open the agent, `undo` puts the store back and the answer is 400 with the reason.
    func applied(_ name: String, undo: @escaping () -> Void) throws {
        guard let sync = agentSync else { return }
        try sync.sync()
        if let why = sync.openError(name) {
            undo()
            try? sync.sync()
            throw AdminError(400, "invalid_agent", "the transport could not open agent '\(name)': \(why)")
        }
    }

    func agentEvent(_ type: String, _ agent: String, by who: String, fields: [(String, JSONValue)] = []) {
        events.emit(Event(type, agent: agent, fields: [("operator", .string(who))] + fields))
    }
}
