import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ChannelTestSupport
import Host
import Logging
import TestPeers

/// Shared helpers of the web chat tests: a gateway in process with the webchat channel
/// and the C echo agent, and HTTP calls to its API.
enum WC {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let secret = "webchat-test-secret-0123456789abcdef-xyz"

    static func gatewayYAML(extra: String = "", routing: String = "", agentConfig: String = "prefix: echo") -> String {
        """
        server:
          listen: 127.0.0.1:0
        store:
          url: "sqlite::memory:"
        routing:
          opt_out_reply: You are unsubscribed.
        \(routing.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        plugin_path: [\(TestPeers.buildDir)]
        plugins:
          - id: webchat
            library: webchat
            config:
              secret: "\(secret)"
              allowed_origins: ["https://shop.example.com"]
              demo: true
              title: "Ask DarkSpere"
        \(extra.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
        """ + "\n" + ChannelGateway.echoAgentYAML(agentConfig)
    }

    static func withGateway(_ yaml: String, _ body: (Gateway, Int) async throws -> Void) async throws {
        try await ChannelGateway.run(yaml, label: "webchat-test", body)
    }

    typealias Response = ChannelGateway.Response

    static func request(_ method: String, _ port: Int, _ path: String, token: String? = nil, json: Any? = nil,
                        headers: [String: String] = [:]) async throws -> Response {
        var hs = headers
        if let token { hs["Authorization"] = "Bearer \(token)" }
        return try await ChannelGateway.request(method, "http://127.0.0.1:\(port)/webchat\(path)",
                                                body: try json.map { try JSONSerialization.data(withJSONObject: $0) }, headers: hs)
    }

    /// A new visitor: its token.
    static func session(_ port: Int) async throws -> String {
        let r = try await request("POST", port, "/session")
        return r.json["token"] as! String
    }

    static func say(_ port: Int, _ token: String, _ text: String, id: String? = nil) async throws -> Response {
        var body: [String: Any] = ["text": text]
        if let id { body["id"] = id }
        return try await request("POST", port, "/messages", token: token, json: body)
    }
}

extension ChannelGateway.Response {
    /// The texts of a web chat answer's `messages`.
    var texts: [String] { (json["messages"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String } }
}
