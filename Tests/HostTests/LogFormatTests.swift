import Foundation
import Logging
import Testing
@testable import Host

/// `--log-format json` / DARKSPERE_LOG_FORMAT: one JSON object per line, with metadata.
@Suite(.serialized) struct LogFormatTests {
    @Test func aLineIsOneJSONObjectWithEscapesAndMetadata() throws {
        let line = JSONLogHandler.line(time: Date(timeIntervalSince1970: 1_764_703_107.5), level: .warning, label: "plugin.twilio",
                                       message: "quote \" backslash \\ newline \n tab \t bell \u{7} é🤖",
                                       metadata: ["correlation_id": "twilio:SM1", "plugin": "twilio", "message": "ignored",
                                                  "tags": .array(["a", "b"]), "n": .stringConvertible(42)])
        #expect(line.hasSuffix("}\n") && !line.dropLast().contains("\n"))
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(obj["time"] as? String == "2025-12-02T19:18:27.500Z")
        #expect(obj["level"] as? String == "warning")
        #expect(obj["label"] as? String == "plugin.twilio")
        #expect(obj["message"] as? String == "quote \" backslash \\ newline \n tab \t bell \u{7} é🤖")
        #expect(obj["correlation_id"] as? String == "twilio:SM1")
        #expect(obj["plugin"] as? String == "twilio")
        #expect(obj["tags"] as? [String] == ["a", "b"])
        #expect(obj["n"] as? String == "42")
    }

    @Test func theGatewayLogsJSONLinesWithThePluginField() async throws {
        let dir = TestSupport.tempDir()
        let port = Int.random(in: 20_000..<40_000)
        let path = dir + "/plugins.yaml"
        try TestSupport.yaml(plugins: """
              - id: sms
                library: twilio
                config: { account_sid: AC0123456789abcdef0123456789abcdef, auth_token: "json-log-secret-token", from: "+15557654321" }
              - id: c-echo
                library: c-echo-agent
            """, agents: """
              - name: bot
                transport: c-echo
            """).replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(port)")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.darkspere)
        p.arguments = ["run", "--config", path, "--log-level", "info"]
        p.environment = ProcessInfo.processInfo.environment.merging(["DARKSPERE_LOG_FORMAT": "json"]) { _, new in new }
        let errPipe = Pipe()
        p.standardError = errPipe
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        var ready = false
        for _ in 0..<400 {
            if let r = try? await TestSupport.get(port, "/readyz"), r.status == 200 { ready = true; break }
            try await Task.sleep(nanoseconds: 25_000_000)
        }
        try #require(ready)
        p.terminate()
        let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let lines = err.split(separator: "\n")
        #expect(lines.count >= 2, "\(err)")
        var pluginLines = 0
        for l in lines {
            let obj = try #require(try? JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any], "not JSON: \(l)")
            #expect(obj["time"] is String && obj["level"] is String && obj["message"] is String)
            if obj["label"] as? String == "plugin.sms" {
                #expect(obj["plugin"] as? String == "sms")
                pluginLines += 1
            }
        }
        #expect(pluginLines >= 1, "\(err)")
        #expect(!err.contains("json-log-secret-token"))
    }

    @Test func anUnknownFormatIsRefused() throws {
        let (rc, _, err) = try TestSupport.run(TestSupport.darkspere, ["run", "--config", "/nonexistent.yaml", "--log-format", "xml"])
        #expect(rc != 0)
        #expect(err.contains("--log-format (or DARKSPERE_LOG_FORMAT) must be text or json, not 'xml'"), "\(err)")
    }
}
