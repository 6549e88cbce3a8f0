import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Host
import Logging

/// What the channel test suites (Telegram, web chat) share: the C echo agent's part of
/// a gateway YAML, a gateway run in this process, and HTTP calls to it. Test code only.
public enum ChannelGateway {
    /// The `c-echo` plugin entry and an `echo` agent with `agentConfig` (lines indented for
    /// the agent's `config:` block), to end a YAML whose last line is in `plugins:`.
    public static func echoAgentYAML(_ agentConfig: String) -> String {
        """
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

    /// Starts a gateway from `yaml`, runs `body` with it and its port, stops it.
    public static func run(_ yaml: String, label: String, _ body: (Gateway, Int) async throws -> Void) async throws {
        let g = Gateway(config: try ConfigLoader().load(yaml: yaml), logger: Logger(label: label))
        let port = try await g.start()
        do { try await body(g, port); await g.stop() } catch { await g.stop(); throw error }
    }

    public struct Response: Sendable {
        public var status: Int
        /// Header names in lower case.
        public var headers: [String: String]
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    public static func request(_ method: String, _ url: String, body: Data? = nil, headers: [String: String] = [:]) async throws -> Response {
        var req = URLRequest(url: URL(string: url)!)
        req.httpMethod = method
        req.httpBody = body
        if body != nil { req.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        let (data, resp) = try await URLSession.shared.data(for: req)
        let http = resp as! HTTPURLResponse
        var hs: [String: String] = [:]
        for (k, v) in http.allHeaderFields { hs[String(describing: k).lowercased()] = String(describing: v) }
        return Response(status: http.statusCode, headers: hs, body: data)
    }
}
