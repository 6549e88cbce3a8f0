import ArgumentParser
import Foundation
import Host

/// `darkspere send`: a proactive message through the running gateway's admin API
/// (`POST /api/v1/messages`): queued through the outbox, refused for an opted-out number.
struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a message first (a proactive message): queued through the outbox; the user's answer continues the session.",
        discussion: """
        Examples:
          darkspere send --to +15551234567 "Your order has shipped."
          darkspere send --to +15551234567 --agent support --media https://example.com/map.png "Here is the map"
        An opted-out number gets nothing: the command says so and exits 1.
        """)
    @OptionGroup var admin: AdminOptions
    @Option(help: "The recipient: E.164 (+15551234567) or scheme:id.") var to: String
    @Option(help: "The channel instance (default: the only one configured).") var channel: String?
    @Option(help: "Our sender address (default: the channel's configured 'from').") var from: String?
    @Option(help: "The agent for a new conversation (default: chosen like for an inbound message).") var agent: String?
    @Option(help: "An attachment URL (repeatable; MMS).") var media: [String] = []
    @Option(help: "An Idempotency-Key: a repeated command with the same key sends nothing twice.") var idempotencyKey: String?
    @Argument(help: "The text.") var text: String = ""

    func run() async throws {
        try await AdminAPIClient.run("send") {
            let client = try admin.client()
            var body: [(String, JSONValue)] = [("to", .string(to)), ("text", .string(text))]
            if let channel { body.append(("channel", .string(channel))) }
            if let from { body.append(("from", .string(from))) }
            if let agent { body.append(("agent", .string(agent))) }
            if !media.isEmpty {
                body.append(("media", .array(media.map { .object([("url", .string($0)), ("content_type", .string(Self.guessType($0)))]) })))
            }
            let r = try await client.call("POST", "/api/v1/messages", body: .object(body),
                                          headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
            client.done(r, "queued for \(r.cell("to")) in session \(r.cell("session_id")) (agent \(r.cell("agent")), \(r.cell("correlation_id")))")
        }
    }

    /// A content type from the URL's extension ("" when unknown: the provider finds out).
    static func guessType(_ url: String) -> String {
        let path = url.split(separator: "?").first.map(String.init) ?? url
        switch (path as NSString).pathExtension.lowercased() {
        case "jpg", "jpeg": return "image/jpeg"
        case "png": return "image/png"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "mp4": return "video/mp4"
        case "pdf": return "application/pdf"
        case "mp3": return "audio/mpeg"
        default: return ""
        }
    }
}
