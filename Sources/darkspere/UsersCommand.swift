import ArgumentParser
import Foundation
import Host

/// `darkspere users list|add|remove`: the known users (abuse.known_users) through the admin API.
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "List, add or remove known users (through the running gateway's admin API).",
        discussion: """
        With abuse.known_users: true only these numbers reach an agent.
        Examples:
          darkspere users list
          darkspere users add +15551234567 --name "Ada Lovelace" --account demo
          darkspere users remove +15551234567
        """,
        subcommands: [List.self, Add.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List known users by number.")
        @OptionGroup var admin: AdminOptions
        @Option(help: "Only this number.") var number: String?
        @Option(help: "At most this many.") var limit = 100

        func run() async throws {
            try await AdminAPIClient.run("users list") {
                let c = try admin.client()
                var path = "/api/v1/users?"
                path += number.map { "number=\(AdminAPIClient.enc($0))" } ?? "limit=\(limit)"
                let v = try await c.call("GET", path)
                let list = v["users"]?.arrayValue ?? []
                c.show(v, columns: ["number", "name", "account", "since"],
                       rows: list.map { [$0.cell("number"), $0.cell("display_name"), $0.cell("account"), $0.cell("created_at")] })
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a known user, or change one's name or account.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The number, e.g. +15551234567.") var number: String
        @Option(help: "Display name.") var name: String?
        @Option(help: "Account id (one of accounts: in plugins.yaml).") var account: String?

        func run() async throws {
            try await AdminAPIClient.run("users add") {
                let c = try admin.client()
                var body: [(String, JSONValue)] = [("number", .string(number))]
                if let name { body.append(("display_name", .string(name))) }
                if let account { body.append(("account", .string(account))) }
                let v = try await c.call("POST", "/api/v1/users", body: .object(body))
                c.done(v, "\(v["created"]?.boolValue == false ? "updated" : "added") \(v.cell("number"))")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a known user.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The number.") var number: String

        func run() async throws {
            try await AdminAPIClient.run("users remove") {
                let c = try admin.client()
                let v = try await c.call("DELETE", "/api/v1/users/\(AdminAPIClient.enc(number))")
                c.done(v, "removed \(v.cell("number"))")
            }
        }
    }
}
