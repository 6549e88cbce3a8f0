import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Host
import SMSText
import TwilioCore

/// `darkspere sms`: posts an SMS webhook, signed exactly as Twilio signs it (the
/// config's auth token over server.public_url + path and the form parameters), to a
/// running gateway, and prints the reply's messages. Lets anyone try the gateway
/// without a phone or a Twilio account. Never prints the token.
struct SMS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sms",
        abstract: "Send a correctly signed test SMS to a running gateway and print the reply.",
        discussion: """
        Reads the twilio plugin's auth_token, webhook_path and from, and server.public_url,
        from the config; posts to http://<server.listen><webhook_path> unless --url is given.
        Examples:
          darkspere sms --from +15551234567 "hello"
          darkspere sms --from +15551234567 --to +15557654321 --config prod.yaml "help"
          darkspere sms --from +15551234567 --url http://127.0.0.1:9000/twilio/sms "hi"
        """)

    @Option(help: "The sender's phone number (E.164), e.g. +15551234567.")
    var from: String

    @Option(help: "Our number that receives it (default: the twilio plugin's `from`).")
    var to: String?

    @Option(name: .shortAndLong, help: "The configuration file of the running gateway.")
    var config: String = "plugins.yaml"

    @Option(help: "Where to POST the webhook (default: http://<server.listen><webhook_path>).")
    var url: String?

    @Option(help: "The id of the twilio plugins: entry (default: the first entry whose library is twilio).")
    var plugin: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 60

    @Argument(help: "The message text.")
    var text: String

    func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("darkspere sms: \(message)\n".utf8))
        return ExitCode(1)
    }

    func run() async throws {
        let gateway: GatewayConfig
        do { gateway = try ConfigLoader().load(path: config) } catch { throw fail("\(error)") }
        let isTwilio: (PluginEntry) -> Bool = { e in
            if let p = plugin { return e.id == p }
            let lib = (e.library as NSString).lastPathComponent
            return ["twilio", "ds-twilio", "libds-twilio.so", "libds-twilio.dylib"].contains(lib)
        }
        guard let entry = gateway.plugins.first(where: isTwilio) else {
            throw fail("\(config) has no \(plugin.map { "plugins: entry '\($0)'" } ?? "twilio plugin (library: twilio)"); add one to try SMS")
        }
        let tw: TwilioConfig
        do { tw = try TwilioConfig.parse(json: entry.configJSON) } catch { throw fail("plugins[\(entry.index)].config (\(entry.id)): \(error)") }
        guard let sender = PhoneNumber.e164(from) else { throw fail("--from '\(from)' is not a phone number (E.164, e.g. +15551234567)") }
        guard let recipient = to.map({ PhoneNumber.e164($0) ?? PhoneNumber.shortCode($0) }) ?? tw.senderNumber ?? "+15550000000" else {
            throw fail("--to '\(to ?? "")' is not a phone number")
        }

        let host = ["0.0.0.0", "::", ""].contains(gateway.server.host) ? "127.0.0.1" : gateway.server.host
        let target = url ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(gateway.server.port)\(tw.webhookPath)"
        guard let components = URLComponents(string: target), components.scheme != nil, let targetURL = components.url else {
            throw fail("--url '\(target)' is not a URL")
        }
        // The gateway checks the signature against server.public_url + the request's path and query.
        let uri = (components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath)
            + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        var base = gateway.server.publicURL
        while base.hasSuffix("/") { base.removeLast() }
        let signedURL = base + uri

        let sid = "SM" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let params: [(String, String)] = [
            ("ToCountry", "US"), ("SmsMessageSid", sid), ("NumMedia", "0"), ("SmsSid", sid), ("SmsStatus", "received"),
            ("Body", text), ("To", recipient), ("NumSegments", String(SMSSegments.count(text))), ("MessageSid", sid),
            ("AccountSid", tw.accountSid), ("From", sender), ("ApiVersion", "2010-04-01"),
        ]
        var request = URLRequest(url: targetURL, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.setValue(TwilioSignature(authToken: tw.authToken).compute(url: signedURL, params: params), forHTTPHeaderField: "X-Twilio-Signature")
        request.setValue("TwilioProxy/1.1 (darkspere sms)", forHTTPHeaderField: "User-Agent")
        request.httpBody = Data(FormEncoding.encode(params).utf8)

        let data: Data, response: URLResponse
        do { (data, response) = try await URLSession.shared.data(for: request) } catch {
            throw fail("cannot reach the gateway at \(target): \(error.localizedDescription) (is `darkspere run` running?)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let body = String(decoding: data, as: UTF8.self)
        guard status == 200 else {
            let hint = status == 403 ? " (signature refused: does the gateway use the same config and server.public_url?)" : ""
            throw fail("the gateway answered HTTP \(status)\(hint): \(body.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let messages = TwiML.messages(in: body)
        if messages.isEmpty {
            let configDir = (config as NSString).deletingLastPathComponent
            if OptOutLookup.isOptedOut(storeURL: gateway.store.url, configDir: configDir.isEmpty ? "." : configDir,
                                       channel: entry.id, remote: sender) == true {
                FileHandle.standardError.write(Data("\(sender) has opted out; it gets nothing until it sends START\n".utf8))
            } else {
                FileHandle.standardError.write(Data("(no inline reply: the gateway accepted \(sid); any answer is sent later)\n".utf8))
            }
        }
        for m in messages { print(m) }
    }
}
