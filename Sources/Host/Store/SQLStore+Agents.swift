import Foundation

/// One row of the `agents` table: an agent from `agents:` (source `config`, written by
/// `syncAgents` at start-up) or registered at runtime (source `runtime`: the admin API or
/// self-registration; transport config and account kept here), with its operator state
/// and heartbeat.
public struct AgentRow: Sendable, Equatable {
    public var name: String
    public var transport: String
    /// 0: unlimited.
    public var maxSessions: Int
    public var historyDepth: Int?
    public var state: String
    public var source: String
    /// The transport config, JSON text.
    public var config: String
    public var account: String?
    /// The declared heartbeat interval (ms); nil: the agent does not beat.
    public var heartbeatMs: Int64?
    public var lastBeatMs: Int64?
    public var updatedMs: Int64

    /// An agent that declared a heartbeat interval and missed 3 beats (`now` in epoch ms).
    public func lapsed(nowMs: Int64) -> Bool {
        guard let every = heartbeatMs, every > 0 else { return false }
        return nowMs - (lastBeatMs ?? updatedMs) > 3 * every
    }

    /// The agent as the router knows it.
    public var entry: AgentEntry {
        var e = AgentEntry(name: name, transport: transport)
        e.maxSessions = maxSessions > 0 ? maxSessions : nil
        e.historyDepth = historyDepth
        e.configJSON = config
        e.account = account
        return e
    }
}

/// An agent API key as listed (never the key itself: only its SHA-256 is stored).
public struct AgentKeyRow: Sendable {
    public var id: Int64
    public var agent: String
    public var createdMs: Int64
    public var revokedMs: Int64?
}

/// The agents table and agent keys: runtime agents, operator state, heartbeats.
/// Threading: thread-safe and blocking, like the rest of `SQLStore`.
extension SQLStore {
    static let agentColumns = "name, transport, max_sessions, history_depth, state, source, config, account, heartbeat_ms, last_beat_ms, updated_ms"

    static func agentRow(_ r: [SQLValue]) -> AgentRow {
        AgentRow(name: r[0].text ?? "", transport: r[1].text ?? "", maxSessions: Int(r[2].int ?? 0), historyDepth: r[3].int.map { Int($0) },
                 state: r[4].text ?? "active", source: r[5].text ?? "config", config: r[6].text ?? "{}", account: r[7].text,
                 heartbeatMs: r[8].int, lastBeatMs: r[9].int, updatedMs: r[10].int ?? 0)
    }

    /// Every agent row, by name.
    public func agentRows() throws -> [AgentRow] {
        try pool.with { c in try c.query("SELECT \(Self.agentColumns) FROM agents ORDER BY name", []).map(Self.agentRow) }
    }

    public func agentRow(_ name: String) throws -> AgentRow? {
        try pool.with { c in try c.one("SELECT \(Self.agentColumns) FROM agents WHERE name = ?", [.text(name)]).map(Self.agentRow) }
    }

    /// Sets an agent's operator state; false if there is no row of that name.
    public func setAgentState(_ name: String, _ state: String) throws -> Bool {
        try pool.with { c in
            try c.one("UPDATE agents SET state = ? WHERE name = ? RETURNING name", [.text(state), .text(name)]) != nil
        }
    }

    /// Inserts a runtime agent; false if an agent of that name exists (from the config or
    /// runtime), and nothing changed.
    public func insertRuntimeAgent(_ a: AgentRow) throws -> Bool {
        try pool.with { c in
            try c.one("""
                INSERT INTO agents (name, transport, max_sessions, history_depth, updated_ms, state, source, config, account, heartbeat_ms, last_beat_ms)
                VALUES (?, ?, ?, ?, ?, ?, 'runtime', ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name
                """, Self.agentValues(a)) != nil
        }
    }

    /// Self-registration: inserts the runtime agent, or updates the runtime agent of that
    /// name (transport, config, limits, heartbeat; its operator state and account, which
    /// only an operator sets, are kept). Nil if the
    /// name belongs to an agent from the config (nothing changed); else the row as stored.
    public func registerRuntimeAgent(_ a: AgentRow) throws -> AgentRow? {
        try pool.with { c in
            try c.one("""
                INSERT INTO agents (name, transport, max_sessions, history_depth, updated_ms, state, source, config, account, heartbeat_ms, last_beat_ms)
                VALUES (?, ?, ?, ?, ?, ?, 'runtime', ?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET transport = excluded.transport, max_sessions = excluded.max_sessions,
                    history_depth = excluded.history_depth, updated_ms = excluded.updated_ms, config = excluded.config,
                    heartbeat_ms = excluded.heartbeat_ms, last_beat_ms = excluded.last_beat_ms
                WHERE agents.source = 'runtime'
                RETURNING \(Self.agentColumns)
                """, Self.agentValues(a)).map(Self.agentRow)
        }
    }

    private static func agentValues(_ a: AgentRow) -> [SQLValue] {
        [.text(a.name), .text(a.transport), .int(Int64(a.maxSessions)), a.historyDepth.map { .int(Int64($0)) } ?? .null, .int(a.updatedMs),
         .text(a.state), .text(a.config), a.account.map { .text($0) } ?? .null, a.heartbeatMs.map { .int($0) } ?? .null,
         a.lastBeatMs.map { .int($0) } ?? .null]
    }

    /// Deletes a runtime agent's row; false if there is no runtime agent of that name.
    public func deleteRuntimeAgent(_ name: String) throws -> Bool {
        try pool.with { c in
            try c.one("DELETE FROM agents WHERE name = ? AND source = 'runtime' RETURNING name", [.text(name)]) != nil
        }
    }

    /// A heartbeat; false if there is no such agent.
    public func agentBeat(_ name: String, nowMs: Int64) throws -> Bool {
        try pool.with { c in
            try c.one("UPDATE agents SET last_beat_ms = ? WHERE name = ? RETURNING name", [.int(nowMs), .text(name)]) != nil
        }
    }

    // MARK: agent keys

    /// Stores a new key's hash for `agent`; returns the key's id.
    public func createAgentKey(agent: String, hash: String, nowMs: Int64) throws -> Int64 {
        try pool.with { c in
            guard let id = try c.one("INSERT INTO agent_keys (agent, key_hash, created_ms) VALUES (?, ?, ?) RETURNING id",
                                     [.text(agent), .text(hash), .int(nowMs)])?[0].int else { throw StoreError("agent key insert returned nothing") }
            return id
        }
    }

    /// Revokes a key at once; nil if there is no key of that id, else the key (already
    /// revoked ones keep their first revocation time).
    public func revokeAgentKey(id: Int64, nowMs: Int64) throws -> AgentKeyRow? {
        try pool.with { c in
            try c.one("UPDATE agent_keys SET revoked_ms = COALESCE(revoked_ms, ?) WHERE id = ? RETURNING id, agent, created_ms, revoked_ms",
                      [.int(nowMs), .int(id)])
                .map { AgentKeyRow(id: $0[0].int ?? 0, agent: $0[1].text ?? "", createdMs: $0[2].int ?? 0, revokedMs: $0[3].int) }
        }
    }

    /// Every key, newest first (without hashes).
    public func agentKeys() throws -> [AgentKeyRow] {
        try pool.with { c in
            try c.query("SELECT id, agent, created_ms, revoked_ms FROM agent_keys ORDER BY id DESC", [])
                .map { AgentKeyRow(id: $0[0].int ?? 0, agent: $0[1].text ?? "", createdMs: $0[2].int ?? 0, revokedMs: $0[3].int) }
        }
    }

    /// The agent a key (by its hash) is for, if the key exists and is not revoked.
    public func agentForKey(hash: String) throws -> (id: Int64, agent: String)? {
        try pool.with { c in
            try c.one("SELECT id, agent FROM agent_keys WHERE key_hash = ? AND revoked_ms IS NULL", [.text(hash)])
                .map { ($0[0].int ?? 0, $0[1].text ?? "") }
        }
    }
}
