import ArgumentParser
import Foundation
import Host

/// `darkspere forget +15551234567`: erases a number through the running gateway's admin API
/// (POST /api/v1/forget; an operator token).
struct Forget: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Erase a phone number's messages, sessions, dedupe keys, outbox rows and queued events (through the admin API).",
        discussion: """
        Aggregated usage counts stay (billing); the usage ledger's rows lose their link to the
        messages. The gateway emits a privacy.erased event without the number.
        Example: darkspere forget +15551234567
        """)
    @OptionGroup var admin: AdminOptions
    @Argument(help: "The number, e.g. +15551234567.") var number: String

    func run() async throws {
        try await AdminAPIClient.run("forget") {
            let c = try admin.client()
            let v = try await c.call("POST", "/api/v1/forget", body: .object([("number", .string(number))]))
            c.done(v, "erased \(number): \(v.cell("messages")) message(s), \(v.cell("sessions")) session(s), "
                + "\(v.cell("dedupe_keys")) dedupe key(s), \(v.cell("outbox")) outbox row(s), \(v.cell("opt_outs")) opt-out(s), "
                + "\(v.cell("events_dropped")) queued event(s); \(v.cell("usage_detached")) usage row(s) kept for billing without the link")
        }
    }
}
