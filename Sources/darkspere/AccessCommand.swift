import ArgumentParser
import Foundation
import Host

/// `darkspere access list|block|allow|remove`: the allow and block lists through the admin API.
struct Access: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access",
        abstract: "List, add or remove allow and block rules (through the running gateway's admin API).",
        discussion: """
        A rule matches a number (+15551234567), a prefix (+1555) or a country calling code (44).
        A number on the allow list passes the block list, known-users mode and the spam filter.
        Examples:
          darkspere access list
          darkspere access block --number +15551234567 --note "abusive"
          darkspere access block --country 234
          darkspere access allow --prefix +1555
          darkspere access remove 7
        """,
        subcommands: [List.self, Block.self, Allow.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the rules.")
        @OptionGroup var admin: AdminOptions
        @Option(help: "Only this list: block or allow.") var list: String?

        func run() async throws {
            try await AdminAPIClient.run("access list") {
                let c = try admin.client()
                var path = "/api/v1/access-rules"
                if let list { path += "?list=\(AdminAPIClient.enc(list))" }
                let v = try await c.call("GET", path)
                let rules = v["rules"]?.arrayValue ?? []
                c.show(v, columns: ["id", "list", "kind", "value", "note", "by"],
                       rows: rules.map { [$0.cell("id"), $0.cell("list"), $0.cell("kind"), $0.cell("value"), $0.cell("note"), $0.cell("created_by")] })
            }
        }
    }

    struct RuleOptions: ParsableArguments {
        @Option(help: "A whole number, e.g. +15551234567.") var number: String?
        @Option(help: "A prefix, e.g. +1555.") var prefix: String?
        @Option(help: "A country calling code, e.g. 44.") var country: String?
        @Option(help: "Why (shown in the list).") var note: String?

        func validate() throws {
            if [number, prefix, country].compactMap({ $0 }).count != 1 { throw ValidationError("give exactly one of --number, --prefix, --country") }
        }

        func body(_ list: String) -> JSONValue {
            let (kind, value) = number.map { ("number", $0) } ?? prefix.map { ("prefix", $0) } ?? ("country", country ?? "")
            var b: [(String, JSONValue)] = [("list", .string(list)), ("kind", .string(kind)), ("value", .string(value))]
            if let note { b.append(("note", .string(note))) }
            return .object(b)
        }
    }

    static func add(_ list: String, _ admin: AdminOptions, _ rule: RuleOptions) async throws {
        try await AdminAPIClient.run("access \(list)") {
            let c = try admin.client()
            let v = try await c.call("POST", "/api/v1/access-rules", body: rule.body(list))
            let was = v["created"]?.boolValue == false ? " (already there)" : ""
            c.done(v, "\(list) rule \(v.cell("id")): \(v.cell("kind")) \(v.cell("value"))\(was)")
        }
    }

    struct Block: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Block a number, prefix or country calling code.")
        @OptionGroup var admin: AdminOptions
        @OptionGroup var rule: RuleOptions
        func run() async throws { try await Access.add("block", admin, rule) }
    }

    struct Allow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Allow a number, prefix or country calling code (passes blocks and the spam filter).")
        @OptionGroup var admin: AdminOptions
        @OptionGroup var rule: RuleOptions
        func run() async throws { try await Access.add("allow", admin, rule) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a rule by id (see `access list`).")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The rule id.") var id: Int

        func run() async throws {
            try await AdminAPIClient.run("access remove") {
                let c = try admin.client()
                let v = try await c.call("DELETE", "/api/v1/access-rules/\(id)")
                c.done(v, "removed rule \(id)")
            }
        }
    }
}
