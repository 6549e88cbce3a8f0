import ArgumentParser
import Foundation
import Host

/// `darkspere optouts list|add|remove`: the opt-out ledger through the admin API.
struct OptOuts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optouts",
        abstract: "List, add or remove opt-outs (through the running gateway's admin API).",
        discussion: """
        Examples:
          darkspere optouts list
          darkspere optouts add +15551234567          as if the number had texted STOP
          darkspere optouts remove +15551234567 --channel twilio
        """,
        subcommands: [List.self, Add.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the opt-out ledger, newest first.")
        @OptionGroup var admin: AdminOptions
        @Option(help: "Only this number.") var number: String?
        @Option(help: "At most this many.") var limit = 100

        func run() async throws {
            try await AdminAPIClient.run("optouts list") {
                let c = try admin.client()
                var path = "/api/v1/optouts?limit=\(limit)"
                if let number { path += "&number=\(AdminAPIClient.enc(number))" }
                let v = try await c.call("GET", path)
                let list = v["optouts"]?.arrayValue ?? []
                c.show(v, columns: ["number", "channel", "keyword", "since"],
                       rows: list.map { [$0.cell("number"), $0.cell("channel"), $0.cell("keyword"), $0.cell("created_at")] })
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Opt a number out, as if it had texted STOP.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The number, e.g. +15551234567.") var number: String
        @Option(help: "The channel instance id (needed when the gateway has more than one).") var channel: String?

        func run() async throws {
            try await AdminAPIClient.run("optouts add") {
                let c = try admin.client()
                var body: [(String, JSONValue)] = [("number", .string(number))]
                if let channel { body.append(("channel", .string(channel))) }
                let v = try await c.call("POST", "/api/v1/optouts", body: .object(body))
                c.done(v, "opted out \(v.cell("number")) on \(v.cell("channel"))")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a number's opt-out.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The number.") var number: String
        @Option(help: "The channel instance id (needed when the gateway has more than one).") var channel: String?

        func run() async throws {
            try await AdminAPIClient.run("optouts remove") {
                let c = try admin.client()
                var path = "/api/v1/optouts?number=\(AdminAPIClient.enc(number))"
                if let channel { path += "&channel=\(AdminAPIClient.enc(channel))" }
                let v = try await c.call("DELETE", path)
                c.done(v, "removed the opt-out of \(v.cell("number")) on \(v.cell("channel"))")
            }
        }
    }
}
