import ArgumentParser
import Foundation
import Host

/// `darkspere sessions list|show|close|takeover|reply|release` through the admin API.
struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List and inspect sessions; close, take over, reply as an operator, release (admin API).",
        discussion: """
        Examples:
          darkspere sessions list --state active
          darkspere sessions show 42
          darkspere sessions takeover 42
          darkspere sessions reply 42 "Hi, this is Olivia from support."
          darkspere sessions release 42
          darkspere sessions close 42
        """,
        subcommands: [List.self, Show.self, Close.self, Takeover.self, Reply.self, Release.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List sessions, newest activity first.")
        @OptionGroup var admin: AdminOptions
        @Option(help: "Only this agent's sessions.") var agent: String?
        @Option(help: "Only this number's sessions.") var number: String?
        @Option(help: "active, taken_over, waiting, expired or closed.") var state: String?
        @Option(help: "At most this many.") var limit = 50

        func run() async throws {
            try await AdminAPIClient.run("sessions list") {
                let c = try admin.client()
                var path = "/api/v1/sessions?limit=\(limit)"
                for (k, v) in [("agent", agent), ("number", number), ("state", state)] { if let v { path += "&\(k)=\(AdminAPIClient.enc(v))" } }
                let v = try await c.call("GET", path)
                let list = v["sessions"]?.arrayValue ?? []
                c.show(v, columns: ["id", "number", "agent", "state", "operator", "messages", "last activity"],
                       rows: list.map { [$0.cell("id"), $0.cell("number"), $0.cell("agent"), $0.cell("state"), $0.cell("operator"),
                                         $0.cell("message_count"), $0.cell("last_activity_at")] })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a session and its transcript.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The session id.") var id: Int

        func run() async throws {
            try await AdminAPIClient.run("sessions show") {
                let c = try admin.client()
                let v = try await c.call("GET", "/api/v1/sessions/\(id)")
                if c.json { return print(v.text) }
                let s = v["session"] ?? .null
                print("session \(s.cell("id")): \(s.cell("number")) <-> \(s.cell("local")) on \(s.cell("channel")), agent \(s.cell("agent")), \(s.cell("state"))"
                      + (s["operator"]?.stringValue.map { " by \($0)" } ?? ""))
                for m in v["messages"]?.arrayValue ?? [] {
                    let who = m.cell("role") == "agent" ? "agent \(m.cell("agent"))" : m.cell("role")
                    var status = m.cell("status")
                    if let d = m["delivery"], d != .null { status += ", \(d.cell("state"))" + (d["status"]?.stringValue.map { " (\($0))" } ?? "") }
                    print("\(m.cell("time"))  \(who.padding(toLength: 14, withPad: " ", startingAt: 0))  \(m.cell("text"))  [\(status)]")
                }
            }
        }
    }

    /// POST /api/v1/sessions/{id}/<action> with an optional body; prints `message`.
    static func act(_ admin: AdminOptions, _ what: String, _ id: Int, _ action: String, body: JSONValue? = nil, _ message: String) async throws {
        try await AdminAPIClient.run("sessions \(what)") {
            let c = try admin.client()
            let v = try await c.call("POST", "/api/v1/sessions/\(id)/\(action)", body: body)
            c.done(v, message)
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a session: the number's next message starts a new one.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The session id.") var id: Int
        func run() async throws { try await Sessions.act(admin, "close", id, "close", "closed session \(id)") }
    }

    struct Takeover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a session over: its messages come to you; no agent is called.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The session id.") var id: Int
        func run() async throws { try await Sessions.act(admin, "takeover", id, "takeover", "session \(id) is yours; reply with: darkspere sessions reply \(id) \"...\"") }
    }

    struct Reply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a message to the session's number as the operator.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The session id.") var id: Int
        @Argument(help: "The text.") var text: String
        func run() async throws {
            try await Sessions.act(admin, "reply", id, "messages", body: .object([("text", .string(text))]), "queued for sending to session \(id)")
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give the session back to its agent.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The session id.") var id: Int
        func run() async throws { try await Sessions.act(admin, "release", id, "release", "session \(id) is back with its agent") }
    }
}
