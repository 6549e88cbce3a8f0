import ArgumentParser
import Foundation
import Host

/// `darkspere agents list` through the admin API.
struct Agents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "List agents with state, health, breaker, load and latency (admin API).",
        discussion: "Example: darkspere agents list --json",
        subcommands: [List.self])

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
