import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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
          - id: c-echo
            library: c-echo-agent
            config: {}
        agents:
          - name: echo
            transport: c-echo
            config:
              \(agentConfig)
        """
    }

    static func withGateway(_ yaml: String, _ body: (Gateway, Int) async throws -> Void) async throws {
        let g = Gateway(config: try ConfigLoader().load(yaml: yaml), logger: Logger(label: "webchat-test"))
        let port = try await g.start()
        do { try await body(g, port); await g.stop() } catch { await g.stop(); throw error }
    }

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var texts: [String] { (json["messages"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String } }
    }

    static func request(_ method: String, _ port: Int, _ path: String, token: String? = nil, json: Any? = nil,
                        headers: [String: String] = [:]) async throws -> Response {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/webchat\(path)")!)
        req.httpMethod = method
        if let json { req.httpBody = try JSONSerialization.data(withJSONObject: json); req.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let token { req.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        let (data, resp) = try await URLSession.shared.data(for: req)
        let http = resp as! HTTPURLResponse
        var hs: [String: String] = [:]
        for (k, v) in http.allHeaderFields { hs[String(describing: k).lowercased()] = String(describing: v) }
        return Response(status: http.statusCode, headers: hs, body: data)
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
