import ArgumentParser
import Foundation
import Host

/// `darkspere agents list|add|drain|enable|disable|remove|key|keys|revoke-key` through the admin API.
struct Agents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "List, add, drain, enable, disable and remove agents; agent keys (admin API).",
        discussion: """
        Examples:
          darkspere agents list --json
          darkspere agents add support-bot --transport http --agent-config '{"url": "https://bot.example/agent"}' --max-sessions 200
          darkspere agents drain support-bot
          darkspere agents disable support-bot
          darkspere agents enable support-bot
          darkspere agents remove support-bot
          darkspere agents key support-bot
          darkspere agents revoke-key 3
        """,
        subcommands: [List.self, Add.self, Drain.self, Enable.self, Disable.self, Remove.self, Key.self, Keys.self, RevokeKey.self])

    /// One agent as a one-line summary.
    static func summary(_ a: JSONValue) -> String {
        "agent \(a.cell("name")) (\(a.cell("source")), transport \(a.cell("transport"))): \(a.cell("state"))"
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an agent at runtime (kept in the store; every gateway process opens it).")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The agent's name.") var name: String
        @Option(help: "The transport: the id of a plugins: entry offering ds.agent-transport/1.") var transport: String
        @Option(help: "The transport's agent config, a JSON object (agents[].config in plugins.yaml).") var agentConfig: String?
        @Option(help: "Sessions it takes at once (default: unlimited).") var maxSessions: Int?
        @Option(help: "The accounts: id billed for its usage.") var account: String?
        @Option(help: "Messages of history per call (default: routing.history_depth).") var historyDepth: Int?

        func run() async throws {
            try await AdminAPIClient.run("agents add") {
                var body: [(String, JSONValue)] = [("name", .string(name)), ("transport", .string(transport))]
                if let agentConfig {
                    guard let v = try? JSONValue.parse(agentConfig), v.objectValue != nil else {
                        throw ValidationError("--agent-config: expected a JSON object such as '{\"url\": \"https://...\"}'")
                    }
                    body.append(("config", v))
                }
                if let maxSessions { body.append(("max_sessions", .number(Double(maxSessions)))) }
                if let account { body.append(("account", .string(account))) }
                if let historyDepth { body.append(("history_depth", .number(Double(historyDepth)))) }
                let c = try admin.client()
                let v = try await c.call("POST", "/api/v1/agents", body: .object(body))
                c.done(v, "added " + Agents.summary(v))
            }
        }
    }

    /// PATCH /api/v1/agents/{name} {state}.
    static func setState(_ admin: AdminOptions, _ name: String, _ state: String, _ what: String) async throws {
        try await AdminAPIClient.run("agents \(what)") {
            let c = try admin.client()
            let v = try await c.call("PATCH", "/api/v1/agents/\(AdminAPIClient.enc(name))", body: .object([("state", .string(state))]))
            c.done(v, Agents.summary(v))
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "No new sessions for the agent; its sessions continue with it.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The agent's name.") var name: String
        func run() async throws { try await Agents.setState(admin, name, "draining", "drain") }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put the agent back in rotation.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The agent's name.") var name: String
        func run() async throws { try await Agents.setState(admin, name, "active", "enable") }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take the agent out of rotation; its sessions fail over on their next message.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The agent's name.") var name: String
        func run() async throws { try await Agents.setState(admin, name, "disabled", "disable") }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a runtime agent; its sessions move to another agent, with history.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The agent's name.") var name: String
        func run() async throws {
            try await AdminAPIClient.run("agents remove") {
                let c = try admin.client()
                let v = try await c.call("DELETE", "/api/v1/agents/\(AdminAPIClient.enc(name))")
                c.done(v, "removed agent \(name)")
            }
        }
    }

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key for an agent (shown once) for its register and heartbeat calls.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The agent's name.") var name: String
        func run() async throws {
            try await AdminAPIClient.run("agents key") {
                let c = try admin.client()
                let v = try await c.call("POST", "/api/v1/agent-keys", body: .object([("agent", .string(name))]))
                c.done(v, "key \(v.cell("id")) for agent \(name) (shown only now; keep it secret):\n\(v.cell("key"))")
            }
        }
    }

    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agent keys (never the keys themselves).")
        @OptionGroup var admin: AdminOptions
        func run() async throws {
            try await AdminAPIClient.run("agents keys") {
                let c = try admin.client()
                let v = try await c.call("GET", "/api/v1/agent-keys")
                c.show(v, columns: ["id", "agent", "created", "revoked"],
                       rows: (v["keys"]?.arrayValue ?? []).map { [$0.cell("id"), $0.cell("agent"), $0.cell("created_at"), $0.cell("revoked_at")] })
            }
        }
    }

    struct RevokeKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-key", abstract: "Revoke an agent key at once.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The key's id (see: darkspere agents keys).") var id: Int
        func run() async throws {
            try await AdminAPIClient.run("agents revoke-key") {
                let c = try admin.client()
                let v = try await c.call("DELETE", "/api/v1/agent-keys/\(id)")
                c.done(v, "revoked key \(id) of agent \(v.cell("agent"))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every agent with state, health, breaker, sessions and latency.")
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            try await AdminAPIClient.run("agents list") {
                let c = try admin.client()
                let v = try await c.call("GET", "/api/v1/agents")
                c.show(v, columns: ["name", "transport", "source", "state", "health", "breaker", "sessions", "p50 ms", "p95 ms", "p99 ms", "errors 5m"],
                       rows: (v["agents"]?.arrayValue ?? []).map { a in
                           let max = a["max_sessions"].map { $0 == .null ? "∞" : $0.cell } ?? "∞"
                           return [a.cell("name"), a.cell("transport"), a.cell("source"), a.cell("state"), a.cell("health"), a.cell("breaker"),
                                   "\(a.cell("sessions"))/\(max)", a["latency_ms"]?.cell("p50") ?? "-", a["latency_ms"]?.cell("p95") ?? "-",
                                   a["latency_ms"]?.cell("p99") ?? "-", a.cell("errors_5m")]
                       })
            }
        }
    }
}
