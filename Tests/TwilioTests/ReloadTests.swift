import Digests
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import Host
import Logging
import Synchronization
import TestPeers
import Testing
import TwilioCore

/// Signed Twilio webhooks keep flowing (several conversations, a bounded loop) while the
/// gateway's plugins.yaml is edited and reloaded; every message is answered exactly once.
@Suite(.serialized) struct ReloadTests {
    /// A folder with plugins.yaml; `write` replaces the file by rename, as an editor does.
    struct ConfigFile {
        let dir: String
        var path: String { dir + "/plugins.yaml" }
        init() {
            dir = NSTemporaryDirectory() + "ds-reload-\(UUID().uuidString.prefix(8))"
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        func write(_ yaml: String) throws {
            try yaml.write(toFile: path + ".tmp", atomically: false, encoding: .utf8)
            _ = rename(path + ".tmp", path)
        }
    }

    static func twilio(_ id: String, path: String? = nil) -> String {
        var s = """
          - id: \(id)
            library: twilio
            config:
              account_sid: \(Support.accountSid)
              auth_token: "\(Support.authToken)"
              from: "+15557654321"
              api_base: http://127.0.0.1:9
              rate_limit_per_minute: 0

        """
        if let path { s += "      webhook_path: \(path)/sms\n      status_path: \(path)/status\n" }
        return s
    }

    static func yaml(dir: String, channels: String = twilio("twilio"), sink: String = "events-1.jsonl", agents: String? = nil,
                     extraPlugins: String = "", top: String = "", listen: String = "127.0.0.1:0") -> String {
        """
        server:
          listen: \(listen)
          public_url: \(Support.publicURL)
        store:
          url: "sqlite:\(dir)/reload.sqlite"
        \(top)
        events:
          batch_size: 50
        plugin_path: [\(Support.buildDir)]
        plugins:
        \(channels)  - id: c-echo
            library: c-echo-agent
          - id: events
            library: file-sink
            config:
              path: \(dir)/\(sink)
        \(extraPlugins)
        agents:
        \(agents ?? "  - name: echo\n    transport: c-echo\n    config:\n      prefix: echo\n")
        """
    }

    /// Conversations posting signed webhooks in a loop until stopped (at least `min`, at most
    /// `max` messages each); every answer is recorded.
    final class Traffic: @unchecked Sendable {
        struct Answer { var conversation: Int; var text: String; var status: Int; var messages: [String] }
        let port: Int
        let path: String
        var to = "+15557654321"
        let stopFlag = Atomic<Bool>(false)
        let answers = Mutex<[Answer]>([])
        init(port: Int, path: String = "/twilio/sms") { self.port = port; self.path = path }

        func run(conversations: Int, min: Int, max: Int, tag: String = "c") async {
            await withTaskGroup(of: Void.self) { g in
                for c in 0..<conversations {
                    g.addTask { [self] in
                        var j = 0
                        while j < max && (j < min || !stopFlag.load(ordering: .relaxed)) {
                            let text = "\(tag)\(c)-m\(j)"
                            let params = Support.smsParams(from: "+1555800\(String(format: "%04d", c))", to: to, body: text)
                            let signed = Support.signedForm(params, path: path)
                            let r = try? await Support.post(port: port, path: path, body: signed.body, headers: ["X-Twilio-Signature": signed.signature])
                            answers.withLock { $0.append(Answer(conversation: c, text: text, status: r?.status ?? -1, messages: r.map { TwiML.messages(in: $0.body) } ?? [])) }
                            j += 1
                            try? await Task.sleep(nanoseconds: 15_000_000)
                        }
                    }
                }
            }
        }

        func stop() { stopFlag.store(true, ordering: .relaxed) }
        var count: Int { answers.withLock { $0.count } }
    }

    static func reloadsTotal(_ g: Gateway, _ result: String) -> Int {
        let line = g.metricsText().split(separator: "\n").first { $0.hasPrefix("darkspere_config_reloads_total{result=\"\(result)\"} ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
    }

    static func infoHash(_ g: Gateway) -> String? {
        let lines = g.metricsText().split(separator: "\n").filter { $0.hasPrefix("darkspere_config_info{") }
        guard lines.count == 1 else { return nil }
        return lines[0].split(separator: "\"").dropFirst().first.map(String.init)
    }

    static func sha256(_ path: String) throws -> String {
        Digest.hex(Digest.sha256(Array(try Data(contentsOf: URL(fileURLWithPath: path)))))
    }

    static func waitFor(_ seconds: Double = 10, _ cond: () throws -> Bool) async rethrows -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if try cond() { return true }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return try cond()
    }

    @Test func channelAndSinkChangeUnderTrafficAndABrokenConfigChangesNothing() async throws {
        let file = ConfigFile()
        try file.write(Self.yaml(dir: file.dir))
        let g = Gateway(config: try ConfigLoader().load(path: file.path), logger: Logger(label: "reload-test"))
        let port = try await g.start()
        #expect(Self.infoHash(g) == (try Self.sha256(file.path)))

        let traffic = Traffic(port: port)
        let loop = Task { await traffic.run(conversations: 4, min: 12, max: 80) }
        _ = await Self.waitFor { traffic.count >= 8 }

        // 1. A second Twilio instance on its own paths: 404 before, served after.
        let second = Support.smsParams(from: "+15558880001", body: "to b")
        let signedB = Support.signedForm(second, path: "/twilio-b/sms")
        #expect(try await Support.post(port: port, path: "/twilio-b/sms", body: signedB.body, headers: ["X-Twilio-Signature": signedB.signature]).status == 404)
        try file.write(Self.yaml(dir: file.dir, channels: Self.twilio("twilio") + Self.twilio("twilio-b", path: "/twilio-b")))
        let r1 = await g.reload()
        #expect(r1.ok, "\(r1.text)")
        #expect(r1.diff?.pluginsAdded == ["twilio-b"])
        let b = try await Support.post(port: port, path: "/twilio-b/sms", body: signedB.body, headers: ["X-Twilio-Signature": signedB.signature])
        #expect(b.status == 200 && TwiML.messages(in: b.body) == ["echo: to b (history: 0)"], "\(b)")
        #expect(g.plugins.channels.map(\.instanceId).sorted() == ["twilio", "twilio-b"])

        // 2. The sink's config changes: events go to the new file from then on.
        try file.write(Self.yaml(dir: file.dir, channels: Self.twilio("twilio") + Self.twilio("twilio-b", path: "/twilio-b"), sink: "events-2.jsonl"))
        let r2 = await g.reload()
        #expect(r2.ok && r2.diff?.pluginsChanged == ["events"], "\(r2.text)")
        let second2 = "\(file.dir)/events-2.jsonl"
        #expect(await Self.waitFor {
            let text = (try? String(contentsOfFile: second2, encoding: .utf8)) ?? ""
            return text.contains("\"config.reloaded\"") && text.contains("\"message.received\"")
        }, "events after the sink change reach the new file")
        let first = (try? String(contentsOfFile: "\(file.dir)/events-1.jsonl", encoding: .utf8)) ?? ""
        #expect(first.contains("\"message.received\"") && first.contains("\"config.reloaded\""), "the old file had the events until the change")

        // 3. A broken config: every problem in one refusal, nothing changes.
        let hashBefore = Self.infoHash(g)
        let good = try String(contentsOfFile: file.path, encoding: .utf8)
        try file.write(Self.yaml(dir: file.dir, channels: Self.twilio("twilio"), sink: "events-3.jsonl", top: "bogus_key: 1", listen: "127.0.0.1:1")
                       .replacingOccurrences(of: "prefix: echo", with: "prefix: echo\n    max_sessions: -3"))
        let bad = await g.reload()
        #expect(!bad.ok)
        #expect(bad.text.hasPrefix("\(file.path): \(bad.problems.count) problem"), "\(bad.text)")
        #expect(bad.problems.contains { $0.contains("bogus_key") }, "\(bad.problems)")
        #expect(bad.problems.contains { $0.contains("max_sessions") }, "\(bad.problems)")
        #expect(bad.problems.contains { $0.hasPrefix("server.listen: cannot change without a restart") }, "\(bad.problems)")
        // The same problems `darkspere check` prints (the restart key is reload's own).
        let check = ConfigCheck.run(path: file.path)
        for line in check.text.split(separator: "\n").dropFirst() { #expect(bad.text.contains(line), "\(line)") }
        // A plugin whose create() refuses: refused as a whole too, and the new channel is not served.
        try file.write(good.replacingOccurrences(of: "  - id: c-echo\n", with: "  - id: broken\n    library: fixture-create-fails\n  - id: c-echo\n")
                           .replacingOccurrences(of: "twilio-b", with: "twilio-c"))
        let refused = await g.reload()
        #expect(!refused.ok && refused.problems.contains { $0.contains("broken") && $0.contains("create") }, "\(refused.text)")
        #expect(try await Support.post(port: port, path: "/twilio-c/sms", body: signedB.body, headers: ["X-Twilio-Signature": signedB.signature]).status == 404)
        #expect(Self.infoHash(g) == hashBefore)
        #expect(g.plugins.channels.map(\.instanceId).sorted() == ["twilio", "twilio-b"])
        #expect(g.config.plugins.map(\.id).contains("twilio-b"))
        #expect(try await Support.post(port: port, path: "/twilio-b/sms", body: signedB.body, headers: ["X-Twilio-Signature": signedB.signature]).status == 200)
        #expect(Self.reloadsTotal(g, "ok") == 2 && Self.reloadsTotal(g, "failed") == 2)

        // 4. Removing the second channel: its routes answer 404 once drained.
        try file.write(good.replacingOccurrences(of: Self.twilio("twilio-b", path: "/twilio-b"), with: ""))
        let r4 = await g.reload()
        #expect(r4.ok && r4.diff?.pluginsRemoved == ["twilio-b"], "\(r4.text)")
        #expect(await Self.waitFor {
            g.runtime.routePaths.allSatisfy { !$0.contains("/twilio-b/") }
        })
        #expect(try await Support.post(port: port, path: "/twilio-b/sms", body: signedB.body, headers: ["X-Twilio-Signature": signedB.signature]).status == 404)

        traffic.stop()
        await loop.value
        await g.stop()
        let answers = traffic.answers.withLock { $0 }
        #expect(answers.count >= 48)
        var seen = Set<String>()
        for a in answers {
            #expect(a.status == 200 && a.messages.count == 1 && a.messages[0].hasPrefix("echo: \(a.text) (history: "), "\(a)")
            #expect(seen.insert(a.text).inserted)
        }
        // Exactly once in the store too: one inbound and one reply per message, nothing deferred.
        for c in 0..<4 {
            let n = answers.filter { $0.conversation == c }.count
            let history = answers.filter { $0.conversation == c }.last?.messages.first ?? ""
            #expect(history.hasSuffix("(history: \(min(2 * (n - 1), 20)))"), "\(history) after \(n) messages")
        }
    }

    /// A local HTTP agent (Tests/TransportTests/Fixtures/agent_http_server.py): "got: <text> (history N)".
    final class HTTPAgent: @unchecked Sendable {
        let process = Process()
        let port = TestPeers.freePort()
        init() async throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", Support.repoRoot.appendingPathComponent("Tests/TransportTests/Fixtures/agent_http_server.py").path, "\(port)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let until = Date().addingTimeInterval(20)
            while Date() < until {
                if let (_, r) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!),
                   (r as? HTTPURLResponse)?.statusCode == 200 { return }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            stop()
            throw Support.ProcessFailure(description: "agent_http_server.py did not answer on \(port)")
        }
        /// SIGKILL and waitpid (Foundation's exit monitoring can miss a child inside a test task).
        func stop() {
            let pid = process.processIdentifier
            guard pid > 0 else { return }
            kill(pid, SIGKILL)
            var st: Int32 = 0
            _ = waitpid(pid, &st, 0)
        }
    }

    @Test func agentsAddedRemovedAndSwitchedFromMCPToHTTPUnderTraffic() async throws {
        let mcpAgent = Support.buildDir + "/darkspere-example-agent"
        try #require(FileManager.default.fileExists(atPath: mcpAgent), "run swift build first")
        let http = try await HTTPAgent()
        defer { http.stop() }
        let file = ConfigFile()
        let plugins = "  - id: mcp\n    library: mcp\n  - id: http\n    library: http-agent\n"
        func agents(_ traffic: [String], assistant: String) -> String {
            var s = ""
            for name in traffic { s += "  - name: \(name)\n    transport: c-echo\n    config:\n      prefix: \(name)\n" }
            s += "  - name: assistant\n" + assistant
            s += "routes:\n  - to: \"+15557654321\"\n    pool: [\(traffic.joined(separator: ", "))]\n  - to: \"+15550009999\"\n    agent: assistant\n"
            return s
        }
        let viaMCP = "    transport: mcp\n    config:\n      command: \(mcpAgent)\n"
        let viaHTTP = "    transport: http\n    config:\n      url: http://127.0.0.1:\(http.port)/chat\n"
        try file.write(Self.yaml(dir: file.dir, agents: agents(["echo"], assistant: viaMCP), extraPlugins: plugins))
        let g = Gateway(config: try ConfigLoader().load(path: file.path), logger: Logger(label: "reload-test"))
        let port = try await g.start()
        func ask(_ text: String) async throws -> [String] {
            let p = Support.smsParams(from: "+15559990000", to: "+15550009999", body: text)
            let signed = Support.signedForm(p)
            return TwiML.messages(in: try await Support.post(port: port, path: "/twilio/sms", body: signed.body,
                                                             headers: ["X-Twilio-Signature": signed.signature]).body)
        }
        #expect(try await ask("reverse abc") == ["cba"])
        #expect(try await ask("count") == ["We have exchanged 2 earlier message(s); you sent 1 before this one."])

        let traffic = Traffic(port: port)
        let loop = Task { await traffic.run(conversations: 4, min: 16, max: 80) }
        _ = await Self.waitFor { traffic.count >= 8 }

        // An agent added to the traffic's pool, then the first one removed: its sessions move to the other, with history.
        try file.write(Self.yaml(dir: file.dir, agents: agents(["echo", "echo2"], assistant: viaMCP), extraPlugins: plugins))
        let r1 = await g.reload()
        #expect(r1.ok && r1.diff?.agentsAdded == ["echo2"], "\(r1.text)")
        _ = await Self.waitFor { traffic.count >= 24 }
        try file.write(Self.yaml(dir: file.dir, agents: agents(["echo2"], assistant: viaMCP), extraPlugins: plugins))
        let r2 = await g.reload()
        #expect(r2.ok && r2.diff?.agentsRemoved == ["echo"], "\(r2.text)")
        #expect(g.conversations.agents.map(\.name).sorted() == ["assistant", "echo2"])
        let mark = traffic.count
        _ = await Self.waitFor { traffic.count >= mark + 12 }

        // The assistant moves from MCP to the HTTP agent: its next call goes there, with the conversation's history.
        try file.write(Self.yaml(dir: file.dir, agents: agents(["echo2"], assistant: viaHTTP), extraPlugins: plugins))
        let r3 = await g.reload()
        #expect(r3.ok && r3.diff?.agentsChanged == ["assistant"], "\(r3.text)")
        #expect(try await ask("after the switch") == ["got: after the switch (history 4)"])
        #expect(g.conversations.agent(named: "assistant")?.entry.transport == "http")

        traffic.stop()
        await loop.value
        await g.stop()
        let answers = traffic.answers.withLock { $0 }
        var seen = Set<String>()
        for a in answers {
            let m = a.messages.first ?? ""
            #expect(a.status == 200 && a.messages.count == 1 && (m.hasPrefix("echo: \(a.text) (history: ") || m.hasPrefix("echo2: \(a.text) (history: ")), "\(a)")
            #expect(seen.insert(a.text).inserted)
        }
        for c in 0..<4 {
            let mine = answers.filter { $0.conversation == c }
            let last = mine.last?.messages.first ?? ""
            #expect(last.hasPrefix("echo2: ") && last.hasSuffix("(history: \(min(2 * (mine.count - 1), 20)))"), "\(last) after \(mine.count)")
        }
    }
}
