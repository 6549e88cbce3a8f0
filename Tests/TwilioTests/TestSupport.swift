import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Host
import Logging
import TestPeers
import TwilioCore

/// Shared helpers of the Twilio tests: the repository's paths, python3 subprocesses
/// (the official `twilio` library, the fake REST server), a gateway started in process,
/// and HTTP requests to it.
enum Support {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let repoRoot = URL(fileURLWithPath: TestPeers.repoRoot)
    static let buildDir = TestPeers.buildDir

    static let accountSid = "AC0123456789abcdef0123456789abcdef"
    static let authToken = "12345678901234567890123456789012"
    static let publicURL = "https://sms.example.com"

    typealias ProcessFailure = TestPeers.ProcessFailure

    /// Runs python3 with `script` (see TestPeers.python).
    static func python(_ script: String, input: String = "") throws -> String { try TestPeers.python(script, input: input) }

    /// Signatures computed by the official twilio library's RequestValidator.compute_signature,
    /// one per (token, url, params[, algorithm]) case.
    static func officialSignatures(_ cases: [(token: String, url: String, params: [String: String], algorithm: String?)]) throws -> [String] {
        let input = cases.map { c -> [String: Any] in
            var d: [String: Any] = ["token": c.token, "url": c.url, "params": c.params]
            if let a = c.algorithm { d["algorithm"] = a }
            return d
        }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: input), as: UTF8.self)
        let script = """
        import json, sys
        from twilio.request_validator import RequestValidator
        out = []
        for c in json.load(sys.stdin):
            v = RequestValidator(c["token"])
            if "algorithm" in c:
                out.append(v.compute_signature(c["url"], c["params"], c["algorithm"]))
            else:
                out.append(v.compute_signature(c["url"], c["params"]))
        print(json.dumps(out))
        """
        let text = try python(script, input: json)
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String]
    }

    /// Whether the official library's validate() accepts a request (to cross-check ours).
    static func officialValidate(token: String, url: String, params: [String: String], signature: String) throws -> Bool {
        let input = String(decoding: try JSONSerialization.data(withJSONObject: ["token": token, "url": url, "params": params, "sig": signature]), as: UTF8.self)
        let out = try python("""
        import json, sys
        from twilio.request_validator import RequestValidator
        c = json.load(sys.stdin)
        print("yes" if RequestValidator(c["token"]).validate(c["url"], c["params"], c["sig"]) else "no")
        """, input: input)
        return out.trimmingCharacters(in: .whitespacesAndNewlines) == "yes"
    }

    // MARK: Fake Twilio REST server

    /// The fake Twilio REST API (fake_twilio.py) on a loopback port; stop() ends it.
    final class FakeTwilio: @unchecked Sendable {
        let server: TestPeers.PythonServer
        var port: Int { server.port }
        init() throws {
            server = try TestPeers.PythonServer(script: Support.testsDir.appendingPathComponent("fake_twilio.py").path,
                                                arguments: [Support.accountSid, Support.authToken])
        }
        var base: String { "http://127.0.0.1:\(port)" }
        /// Every request the fake received, oldest first.
        func requests() async throws -> [[String: Any]] {
            let (data, _) = try await URLSession.shared.data(from: URL(string: "\(base)/requests")!)
            return try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        }
        func stop() { server.stop() }
    }

    // MARK: Gateway in process

    /// The C echo agent as `gatewayYAML`'s agent: its plugin entry and the `agents:` section.
    static let cEchoAgent = """
          - id: c-echo
            library: c-echo-agent
            config: {}
        agents:
          - name: echo
            transport: c-echo
            config:
              prefix: echo
        """

    /// The YAML of a gateway with the twilio channel and, by default, the C echo agent.
    /// `routing`: lines of the `routing:` section (none: the defaults). `agent`: the agent's
    /// plugin entry (indented as a list item of `plugins:`) followed by the `agents:` section.
    static func gatewayYAML(twilio extra: String = "", apiBase: String = "http://127.0.0.1:9", routing: [String] = [],
                            agent: String = cEchoAgent) -> String {
        """
        server:
          listen: 127.0.0.1:0
          public_url: \(publicURL)
        store:
          url: "sqlite::memory:"
        \(routing.isEmpty ? "" : (["routing:"] + routing.map { "  " + $0 }).joined(separator: "\n"))
        plugin_path: [\(buildDir)]
        plugins:
          - id: twilio
            library: twilio
            config:
              account_sid: \(accountSid)
              auth_token: "\(authToken)"
              from: "+15557654321"
              api_base: \(apiBase)
        \(extra.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
        \(agent)
        """
    }

    /// Starts a gateway, runs `body` with it and its port, stops it.
    static func withGateway<T>(_ yaml: String, _ body: (Gateway, Int) async throws -> T) async throws -> T {
        let g = Gateway(config: try ConfigLoader().load(yaml: yaml), logger: Logger(label: "twilio-test"))
        let port = try await g.start()
        do {
            let r = try await body(g, port)
            await g.stop()
            return r
        } catch {
            await g.stop()
            throw error
        }
    }

    /// The error a gateway with `yaml` fails to load or start with ("" if it started).
    static func withGatewayError(_ yaml: String) async throws -> String {
        do {
            let g = Gateway(config: try ConfigLoader().load(yaml: yaml), logger: Logger(label: "twilio-test"))
            _ = try await g.start()
            await g.stop()
            return ""
        } catch {
            return "\(error)"
        }
    }

    /// A form webhook signed as Twilio would sign it for `path` under `publicURL`.
    static func signedForm(_ params: [(String, String)], path: String = "/twilio/sms", token: String = authToken) -> (body: String, signature: String) {
        let sig = TwilioSignature(authToken: token).compute(url: publicURL + path, params: params)
        return (FormEncoding.encode(params), sig)
    }

    struct Response { var status: Int; var headers: [String: String]; var body: String }

    /// POSTs to the gateway on loopback.
    static func post(port: Int, path: String, body: String, headers: [String: String] = [:],
                     contentType: String = "application/x-www-form-urlencoded") async throws -> Response {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        req.httpMethod = "POST"
        req.httpBody = Data(body.utf8)
        req.setValue(contentType, forHTTPHeaderField: "Content-Type")
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        let (data, resp) = try await URLSession.shared.data(for: req)
        let http = resp as! HTTPURLResponse
        var hs: [String: String] = [:]
        for (k, v) in http.allHeaderFields { hs[String(describing: k).lowercased()] = String(describing: v) }
        return Response(status: http.statusCode, headers: hs, body: String(decoding: data, as: UTF8.self))
    }

    /// An inbound SMS's parameters as Twilio sends them.
    static func smsParams(from: String = "+15551234567", to: String = "+15557654321", body: String, sid: String? = nil) -> [(String, String)] {
        let s = sid ?? newSid()
        return [("ToCountry", "US"), ("SmsMessageSid", s), ("NumMedia", "0"), ("From", from), ("To", to),
         ("Body", body), ("MessageSid", s), ("AccountSid", accountSid), ("ApiVersion", "2010-04-01"), ("NumSegments", "1")]
    }

    static func newSid() -> String { "SM" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    /// Parses an XML document with python's xml.etree and returns the texts of <Message>.
    static func etreeMessages(_ xml: String) throws -> [String] {
        let out = try python("""
        import json, sys
        import xml.etree.ElementTree as ET
        root = ET.fromstring(sys.stdin.buffer.read())
        assert root.tag == "Response", root.tag
        for el in root:
            assert el.tag == "Message", el.tag
            assert len(list(el)) == 0, "element injected into Message"
        print(json.dumps([el.text or "" for el in root]))
        """, input: xml)
        return try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String]
    }
}
