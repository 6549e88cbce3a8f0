import Foundation
import Testing
@testable import Host
import TestPeers

/// Secure defaults (issue 15): no non-loopback listener while a secret has a published
/// default; private files whatever the umask; `darkspere sms` says when a number opted out.
@Suite(.serialized) struct SecureDefaultsTests {
    static func twilio(token: String) -> String {
        """
          - id: twilio
            library: twilio
            config:
              account_sid: AC00000000000000000000000000000000
              auth_token: "\(token)"
              from: "+15550000000"
          - id: c-echo
            library: c-echo-agent
        """
    }
    static let agents = """
          - name: echo
            transport: c-echo
            config: { prefix: echo }
        """

    func writeConfig(_ yaml: String) throws -> String {
        let path = TestSupport.tempDir() + "/plugins.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func publicListenerWithThePublishedTwilioTokenRefusesToStart() async throws {
        let yaml = TestSupport.yaml(plugins: Self.twilio(token: "local-development-token"), agents: Self.agents)
            .replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 0.0.0.0:0")
        let g = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        do {
            try await g.start()
            await g.stop()
            Issue.record("the gateway started on 0.0.0.0 with the published Twilio token")
        } catch let e as StartupErrors {
            #expect(e.description.contains("plugins[0].config.auth_token (twilio)"))
            #expect(e.description.contains("TWILIO_AUTH_TOKEN"))
        }
        // `darkspere check` reports the same, and exits non-zero.
        let (rc, out, _) = try TestSupport.run(TestSupport.darkspere, ["check", "--config", try writeConfig(yaml)])
        #expect(rc != 0)
        #expect(out.contains("plugins[0].config.auth_token (twilio)") && out.contains("published default"))
        // An empty token too.
        let empty = yaml.replacingOccurrences(of: "auth_token: \"local-development-token\"", with: "auth_token: \"\"")
        #expect(SecureDefaults.problems(try TestSupport.config(empty)).first?.contains("is empty") == true)
    }

    @Test func loopbackOrARealTokenStarts() async throws {
        // Loopback with the published default: the laptop set-up keeps working.
        let local = TestSupport.yaml(plugins: Self.twilio(token: "local-development-token"), agents: Self.agents)
        #expect(SecureDefaults.problems(try TestSupport.config(local)).isEmpty)
        // A public listener with a real token starts.
        let yaml = TestSupport.yaml(plugins: Self.twilio(token: "f3a9c1d27b8e4a6f90d1c2b3a4e5f607"), agents: Self.agents)
            .replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 0.0.0.0:0")
        let g = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        let port = try await g.start()
        #expect(try await TestSupport.get(port, "/livez").status == 200)
        await g.stop()
    }

    @Test func stripeWithoutAWebhookSecretOnAPublicListenerIsReported() throws {
        let yaml = TestSupport.yaml(plugins: """
              - id: stripe
                library: stripe
                config: { api_key: sk_test_123456789 }
            """).replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 10.1.2.3:8080")
        let problems = SecureDefaults.problems(try TestSupport.config(yaml))
        #expect(problems.count == 1)
        #expect(problems.first?.contains("plugins[0].config.webhook_secret (stripe) is missing") == true)
    }

    /// With umask 000, the database (and its WAL and shared-memory files), the spool and
    /// the file-sink log are 0600 and the folders the gateway made 0700.
    @Test func filesArePrivateWhateverTheUmask() async throws {
        let dir = TestSupport.tempDir()
        let port = TestPeers.freePort()
        let yaml = TestSupport.yaml(plugins: """
              - id: all
                library: \(TestSupport.library("fixture-swift-all"))
                config: { path: /fixture/in }
              - id: c-echo
                library: c-echo-agent
              - id: log
                library: file-sink
                config: { path: \(dir)/logs/events.jsonl }
            """, agents: HTTPServerTests.agents, store: "sqlite:data/db/store.sqlite", extra: "events: { spool_dir: spool }")
            .replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(port)")
        let path = dir + "/plugins.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "umask 000 && exec \"$0\" run --config \"$1\" --log-level error", TestSupport.darkspere, path]
        try p.run()
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        var ready = false
        for _ in 0..<400 where !ready {
            ready = (try? await TestSupport.get(port, "/readyz"))?.status == 200
            if !ready { try await Task.sleep(nanoseconds: 25_000_000) }
        }
        try #require(ready)
        #expect(try await TestSupport.post(port, "/fixture/in?from=%2B15551230000&id=SMmode1", "private").status == 200)
        try await Task.sleep(nanoseconds: 300_000_000)
        func mode(_ rel: String) -> Int? {
            guard let a = try? FileManager.default.attributesOfItem(atPath: dir + "/" + rel) else { return nil }
            return (a[.posixPermissions] as? NSNumber)?.intValue
        }
        for f in ["data/db/store.sqlite", "data/db/store.sqlite-wal", "data/db/store.sqlite-shm", "logs/events.jsonl"] {
            #expect(mode(f) == 0o600, "\(f): \(mode(f).map { String($0, radix: 8) } ?? "missing")")
        }
        #expect(mode("spool/log.jsonl") == 0o600, "spool/log.jsonl: \(mode("spool/log.jsonl").map { String($0, radix: 8) } ?? "missing")")
        for d in ["data", "data/db", "logs", "spool"] {
            #expect(mode(d) == 0o700, "\(d)/: \(mode(d).map { String($0, radix: 8) } ?? "missing")")
        }
    }

    /// `darkspere sms` from a number that sent STOP says it has opted out.
    @Test func smsToAnOptedOutNumberSaysSo() async throws {
        let dir = TestSupport.tempDir()
        let port = TestPeers.freePort()
        let yaml = TestSupport.yaml(plugins: Self.twilio(token: "f3a9c1d27b8e4a6f90d1c2b3a4e5f607"), agents: Self.agents, store: "sqlite:data/store.sqlite")
            .replacingOccurrences(of: "listen: 127.0.0.1:0", with: "listen: 127.0.0.1:\(port)")
            .replacingOccurrences(of: "public_url: http://gateway.test", with: "public_url: http://127.0.0.1:\(port)")
        let path = dir + "/plugins.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let g = Gateway(config: try ConfigLoader(environment: [:]).load(path: path), logger: TestSupport.logger)
        try await g.start()
        func sms(_ text: String) async throws -> (Int32, String, String) {
            try await Gateway.offPool { try TestSupport.run(TestSupport.darkspere, ["sms", "--config", path, "--from", "+15557770001", text]) }
        }
        do {
            let (rc0, out0, _) = try await sms("hello")
            #expect(rc0 == 0 && out0.hasPrefix("echo: hello"))
            _ = try await sms("STOP")
            let (rc, out, err) = try await sms("are you there?")
            #expect(rc == 0 && out.isEmpty)
            #expect(err.contains("+15557770001 has opted out; it gets nothing until it sends START"), "\(err)")
        } catch { await g.stop(); throw error }
        await g.stop()
    }
}
