import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ChannelTestSupport
import Host
import Logging
import Synchronization
import TestPeers

/// Shared helpers of the Telegram tests: the fake Bot API (fake_telegram.py), gateways
/// in process (for RecordingRouter) or as `darkspere run` processes (restart, logs), and
/// HTTP requests to them.
enum TG {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let buildDir = TestPeers.buildDir
    static let token = "123456789:AAHfakeTOKENfakeTOKENfakeTOKEN_fake1"
    static let secret = "webhook-secret_0123456789"
    static let publicURL = "https://bot.example.com"

    /// The fake Bot API on a loopback port.
    final class FakeBotAPI: @unchecked Sendable {
        let server: TestPeers.PythonServer
        init() throws { server = try TestPeers.PythonServer(script: TG.testsDir.appendingPathComponent("fake_telegram.py").path, arguments: [TG.token]) }
        var base: String { server.base }
        func stop() { server.stop() }

        /// Every Bot API request, oldest first.
        func requests() async throws -> [[String: Any]] {
            let (data, _) = try await URLSession.shared.data(from: URL(string: "\(base)/requests")!)
            return try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        }
        func requests(_ method: String) async throws -> [[String: Any]] { try await requests().filter { $0["method"] as? String == method } }
        /// The texts of sendMessage calls to `chat`, in order.
        func sent(to chat: Int64) async throws -> [String] {
            try await requests("sendMessage").compactMap { r in
                let p = r["params"] as! [String: Any]
                return (p["chat_id"] as? NSNumber)?.int64Value == chat ? p["text"] as? String : nil
            }
        }
        /// Waits until `chat` got `count` messages (or 10 s), returns them.
        func waitSent(to chat: Int64, count: Int) async throws -> [String] {
            for _ in 0..<200 {
                let s = try await sent(to: chat)
                if s.count >= count { return s }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            return try await sent(to: chat)
        }
        func queue(_ updates: [[String: Any]]) async throws { _ = try await TG.post(url: "\(base)/control/updates", json: updates) }
        func replay() async throws { _ = try await TG.post(url: "\(base)/control/replay", json: [:]) }
    }

    /// A private-chat text message update.
    static func update(_ id: Int64, chat: Int64, message: Int64? = nil, text: String) -> [String: Any] {
        ["update_id": id, "message": ["message_id": message ?? id, "date": 1_767_000_000, "text": text,
                                      "from": ["id": chat, "is_bot": false, "first_name": "Ada", "username": "ada"],
                                      "chat": ["id": chat, "type": "private", "first_name": "Ada"]]]
    }

    /// The YAML of a gateway with the telegram channel and the C echo agent.
    static func gatewayYAML(api: String, mode: String = "webhook", listen: String = "127.0.0.1:0", store: String = "sqlite::memory:",
                            extra: String = "", agentConfig: String = "prefix: echo", replyInWebhook: Bool = false) -> String {
        """
        server:
          listen: \(listen)
          public_url: \(publicURL)
        store:
          url: "\(store)"
        routing:
          opt_out_reply: You are unsubscribed.
          opt_in_reply: Welcome!
        plugin_path: [\(buildDir)]
        plugins:
          - id: telegram
            library: telegram
            config:
              bot_token: "\(token)"
              mode: \(mode)
              secret_token: \(secret)
              api_base: \(api)
              poll_timeout_seconds: 1
              public_url: \(publicURL)
              reply_in_webhook: \(replyInWebhook)
        \(extra.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
        """ + "\n" + ChannelGateway.echoAgentYAML(agentConfig)
    }

    /// Starts a gateway in this process, runs `body` with it and its port, stops it.
    static func withGateway(_ yaml: String, _ body: (Gateway, Int) async throws -> Void) async throws {
        try await ChannelGateway.run(yaml, label: "telegram-test", body)
    }

    typealias Response = ChannelGateway.Response

    static func post(url: String, json: Any, headers: [String: String] = [:]) async throws -> Response {
        try await post(url: url, body: try JSONSerialization.data(withJSONObject: json), headers: headers)
    }

    static func post(url: String, body: Data, headers: [String: String] = [:]) async throws -> Response {
        try await ChannelGateway.request("POST", url, body: body, headers: headers)
    }

    static func get(_ url: String) async throws -> Response { try await ChannelGateway.request("GET", url) }

    /// Delivers an update to the gateway's webhook as Telegram would.
    static func deliver(_ port: Int, _ update: [String: Any], secret: String? = TG.secret) async throws -> Response {
        try await post(url: "http://127.0.0.1:\(port)/telegram/webhook", json: update,
                       headers: secret.map { ["X-Telegram-Bot-Api-Secret-Token": $0] } ?? [:])
    }

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "ds-telegram-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// A `darkspere run` process with its output in a log file.
final class GatewayProcess: @unchecked Sendable {
    let pid: pid_t
    let port: Int
    let log: String

    init(yaml: String, dir: String, port: Int, name: String) throws {
        self.port = port
        log = "\(dir)/\(name).log"
        try yaml.write(toFile: "\(dir)/\(name).yaml", atomically: true, encoding: .utf8)
        let bin = "\(TG.buildDir)/darkspere"
        let args = ["/bin/sh", "-c", "DARKSPERE_LOG_LEVEL=debug exec \(bin) run --config \(dir)/\(name).yaml >> \(log) 2>&1 < /dev/null"]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var p: pid_t = 0
        guard posix_spawn(&p, "/bin/sh", nil, nil, &argv, environ) == 0 else { throw TestPeers.ProcessFailure(description: "cannot start \(bin)") }
        pid = p
    }

    func waitReady(timeout: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let r = try? await TG.get("http://127.0.0.1:\(port)/readyz"), r.status == 200 { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw TestPeers.ProcessFailure(description: "gateway not ready: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    func kill9() { kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0) }
    func terminate() { kill(pid, SIGTERM); var st: Int32 = 0; waitpid(pid, &st, 0) }
    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
}
