import Foundation
import Logging
import Testing
@testable import Host
import TestPeers

/// The operator console in real headless Chromium (Debian's chromium and chromium-driver,
/// Selenium from PyPI: scripts/test-deps.sh) against a real gateway: the Twilio channel
/// with the fake Twilio REST API (Tests/TwilioTests/fake_twilio.py) on loopback, the C echo
/// agent, SQLite, an operator and a viewer token. Messages come in through `darkspere sms`
/// (signed like Twilio). Console/console_browser.py drives the page and reports as JSON.
///
/// Screenshots go to a temporary folder; with DARKSPERE_UPDATE_SCREENSHOTS=1 they are also
/// copied to docs/images/console-laptop.png and console-phone.png (the README's).
@Suite(.serialized) struct ConsoleBrowserTests {
    static let accountSid = "AC0123456789abcdef0123456789abcdef"
    static let authToken = "12345678901234567890123456789012"

    static func yaml(dir: String, twilio: String) -> String {
        """
        server:
          listen: 127.0.0.1:0
          public_url: https://sms.example.com
        store:
          url: sqlite:\(dir)/ds.sqlite
        routing:
          probe_interval: 60s
        plugin_path: [\(TestPeers.buildDir)]
        plugins:
          - id: twilio
            library: twilio
            config:
              account_sid: \(accountSid)
              auth_token: "\(authToken)"
              from: "+15557654321"
              api_base: \(twilio)
          - id: echo
            library: c-echo-agent
        agents:
          - name: support
            transport: echo
            max_sessions: 50
            account: acme
            config: { prefix: "support bot" }
          - name: sales
            transport: echo
            max_sessions: 20
            account: acme
            config: { prefix: "sales bot" }
        accounts:
          - { id: acme, name: Acme Inc., tier: pro }
        \(AdminEnv.section())
        """
    }

    @Test func operatorConsoleInHeadlessChromium() async throws {
        let fake = try TestPeers.PythonServer(script: TestPeers.repoRoot + "/Tests/TwilioTests/fake_twilio.py", arguments: [Self.accountSid, Self.authToken])
        defer { fake.stop() }
        let dir = TestEnv.tempDir("console-browser")
        let configPath = dir + "/plugins.yaml"
        try Self.yaml(dir: dir, twilio: fake.base).write(toFile: configPath, atomically: true, encoding: .utf8)
        var logger = Logger(label: "console-test")
        logger.logLevel = .error
        let gateway = Gateway(config: try ConfigLoader().load(path: configPath), logger: logger)
        let port = try await gateway.start()
        guard let adminPort = gateway.adminPort else { await gateway.stop(); throw TestPeers.ProcessFailure(description: "no admin listener") }
        let shots = dir + "/shots"
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let input: [String: Any] = [
            "admin": "http://127.0.0.1:\(adminPort)",
            "sms": [TestPeers.buildDir + "/darkspere", "sms", "--config", configPath, "--url", "http://127.0.0.1:\(port)/twilio/sms"],
            "twilio": fake.base, "operator": AdminEnv.operatorToken, "viewer": AdminEnv.viewerToken, "shots": shots,
        ]
        let arg = String(decoding: try JSONSerialization.data(withJSONObject: input), as: UTF8.self)
        let script = TestPeers.repoRoot + "/Tests/HostTests/Console/console_browser.py"
        let out: String
        do { out = try await Task.detached { try Self.run(["python3", script, arg]) }.value } catch { await gateway.stop(); throw error }
        await gateway.stop()
        let r = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "\(out)")

        // Wrong token: refused with a note, nothing kept.
        #expect((r["wrong_note"] as? String)?.contains("refused") == true)
        #expect(r["wrong_stored"] as? Int == 0)
        #expect(r["whoami"] as? String == "olivia · operator")
        #expect((r["cookies"] as? [Any])?.isEmpty == true)
        // The message sent with `darkspere sms` appeared in the list without a reload.
        #expect(r["no_reload"] as? String == "still here" && r["no_reload_end"] as? String == "still here")
        let first = try #require(r["transcript_first"] as? [[String: String]])
        #expect(first.map { $0["role"] ?? "" } == ["user", "agent"])
        #expect(first.first?["text"] == "Hi, my order #1042 arrived damaged")
        #expect(first.last?["text"]?.hasSuffix("bot: Hi, my order #1042 arrived damaged (history: 0)") == true, "\(first)")
        // Take over: the take-over button gives way to release.
        #expect(r["takeover_visible_after"] as? Bool == false)
        // The operator's reply reached the fake Twilio REST API, exactly once.
        let reply = "Hi, this is Olivia from support. I'm sorry about that, a replacement is on its way."
        #expect((r["twilio_bodies"] as? [String])?.filter { $0 == reply }.count == 1, "\(r["twilio_bodies"] ?? "")")
        #expect(r["reply_box_after"] as? String == "")
        let held = try #require(r["transcript_held"] as? [[String: String]])
        #expect(held.map { $0["role"] ?? "" } == ["user", "agent", "operator", "user"], "\(held)")
        #expect(held[2]["name"] == "olivia", "\(held[2])")
        // After release, the agent answers the next message, with the operator's turn in its history.
        let final = try #require(r["transcript_final"] as? [[String: String]])
        #expect(final.map { $0["role"] ?? "" } == ["user", "agent", "operator", "user", "user", "agent"], "\(final)")
        #expect(final.last?["text"]?.contains("One more question: can I keep the damaged one? (history: 4)") == true, "\(final.last ?? [:])")
        // Nothing moved while messages streamed in.
        #expect((r["layout_shift"] as? Double ?? 1) < 0.05, "cumulative layout shift \(r["layout_shift"] ?? "")")
        #expect(r["tabs_to_row"] as? Int != nil, "the conversation rows are not reachable with Tab")
        #expect(r["filtered"] as? [String] == ["+15552010002"])
        // Bad input: the API's message, in the page.
        #expect((r["bad_input_toast"] as? String)?.contains("number") == true, "\(r["bad_input_toast"] ?? "")")
        #expect((r["optouts"] as? String)?.contains("operator:olivia") == true)
        #expect((r["agents"] as? String)?.contains("support") == true && (r["agents"] as? String)?.contains("sales") == true)
        #expect(r["agent_buttons"] as? [String] == ["Drain", "Disable", "Enable"])
        #expect((r["drain_result"] as? String)?.isEmpty == false)
        #expect((r["usage"] as? String)?.contains("Acme Inc.") == true && (r["usage"] as? String)?.contains("agent messages") == true)
        #expect(r["phone_overflow"] as? Int == 0)
        #expect(r["phone_list_visible"] as? Bool == true)
        // A token that stopped working: back to the sign-in, with a note.
        #expect((r["revoked_note"] as? String)?.contains("refused") == true && r["revoked_app_hidden"] as? Bool == true)
        // A viewer: the same page, read-only.
        #expect(r["viewer_whoami"] as? String == "victor · viewer")
        #expect(r["viewer_takeover_visible"] as? Bool == false && r["viewer_reply_visible"] as? Bool == false)
        #expect((r["viewer_readonly_note"] as? String)?.contains("Read-only") == true)
        #expect(r["viewer_agent_buttons"] as? [String] == [])
        #expect(r["viewer_optout_form_visible"] as? Bool == false)

        for name in ["console-laptop.png", "console-phone.png"] {
            #expect(FileManager.default.fileExists(atPath: shots + "/" + name))
            if ProcessInfo.processInfo.environment["DARKSPERE_UPDATE_SCREENSHOTS"] == "1" {
                let to = TestPeers.repoRoot + "/docs/images/" + name
                try? FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: shots + "/" + name, toPath: to)
            }
        }
    }

    /// Runs a command and returns its stdout (stderr in the error on failure).
    static func run(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TestPeers.ProcessFailure(description: "console_browser.py failed (\(p.terminationStatus)): \(String(decoding: e, as: UTF8.self))")
        }
        return String(decoding: o, as: UTF8.self)
    }
}
