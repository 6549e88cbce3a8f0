import Foundation
import Testing
@testable import Host

/// The router's configuration keys and the retention job.
@Suite(.serialized) struct RouterConfigAndRetentionTests {
    @Test func routingKeysAndRoutesAreReadAndChecked() throws {
        let ok = try ConfigLoader(environment: [:]).load(yaml: """
            routing:
              min_health: 60
              retention: 7d
              max_concurrent: 8
              probe_interval: 5s
              breaker_cooldown: 10s
              outbox_max_attempts: 3
              opt_out_reply: bye
            plugins:
              - id: echo
                library: c-echo-agent
            agents:
              - name: a
                transport: echo
                history_depth: 30
            routes:
              - keyword: sales
                agent: a
              - to: "+15550001111"
                pool: [a]
            """)
        #expect(ok.routing.minHealth == 60)
        #expect(ok.routing.retention == 7 * 86_400)
        #expect(ok.routing.maxConcurrent == 8)
        #expect(ok.routing.outboxMaxAttempts == 3)
        #expect(ok.routing.optOutReply == "bye")
        #expect(ok.agents[0].historyDepth == 30)
        #expect(ok.routes.count == 2)
        #expect(ok.routes[0].keyword == "SALES")
        #expect(ok.routes[1].agents == ["a"])

        let bad = """
                routing:
                  min_helth: 60
                plugins:
                  - id: echo
                    library: c-echo-agent
                agents:
                  - name: a
                    transport: echo
                    history_depth: 60
                routes:
                  - keyword: sales
                    to: "+1555"
                    agent: nobody
                """
        #expect(throws: ConfigErrors.self) { try ConfigLoader(environment: [:]).load(yaml: bad) }
        do {
            _ = try ConfigLoader(environment: [:]).load(yaml: bad)
        } catch let e as ConfigErrors {
            let text = e.description
            #expect(text.contains("routing.min_helth: unknown key (did you mean 'min_health'?)"))
            #expect(text.contains("history_depth: must be at most 50"))
            #expect(text.contains("needs exactly one of 'to' or 'keyword'"))
            #expect(text.contains("no agent named 'nobody'"))
        }
    }

    @Test func retentionPurgesOldMessages() async throws {
        let dir = TestEnv.tempDir("retention")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: "retention: 1s", agents: """
          - name: alpha
            transport: echo
            config: { prefix: alpha }
        """), dir: dir)
        #expect(await g.reply(from: "+15558880001", id: "old", text: "hello") == "alpha: hello (history: 0)")
        #expect(try g.scalar("SELECT COUNT(*) FROM messages") == 2)
        let deadline = Date().addingTimeInterval(6)
        while try g.scalar("SELECT COUNT(*) FROM messages") > 0 && Date() < deadline { try await Task.sleep(nanoseconds: 200_000_000) }
        #expect(try g.scalar("SELECT COUNT(*) FROM messages") == 0)
        #expect(try g.scalar("SELECT COUNT(*) FROM dedupe_keys") == 0)
        #expect(try g.scalar("SELECT COUNT(*) FROM sessions") == 0)
        await g.stop()
    }

    @Test func outboxNeverSendsToAnOptedOutNumber() async throws {
        let dir = TestEnv.tempDir("optout-outbox")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: "inline_reply_budget: 100ms", agents: """
          - name: slow
            transport: echo
            config: { prefix: slow, delay_ms: 500 }
        """), dir: dir)
        FileManager.default.createFile(atPath: "\(dir)/send-fail", contents: Data())
        #expect(await g.submit(from: "+15558880002", id: "o1", text: "hello") == .deferred)
        // The reply waits in the outbox (sends fail); meanwhile the user texts STOP. The
        // opt-out is checked when a row is claimed, so STOP comes once the first attempt has
        // failed and before the retry (at least 0.25 s later): an attempt claimed before
        // the STOP and sent after the fail file is gone would go out (a send in flight is
        // not recalled), which a slow run (ThreadSanitizer) once made happen.
        var deadline = Date().addingTimeInterval(5)
        while try g.scalar("SELECT COUNT(*) FROM outbox WHERE attempts >= 1 AND state = 'pending'") == 0 && Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        #expect(await g.reply(from: "+15558880002", id: "o2", text: "STOP") == RoutingConfig().optOutReply)
        try FileManager.default.removeItem(atPath: "\(dir)/send-fail")
        deadline = Date().addingTimeInterval(8)
        while try g.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'") > 0 && Date() < deadline { try await Task.sleep(nanoseconds: 100_000_000) }
        #expect(try g.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'failed' AND last_error = 'recipient opted out'") == 1)
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/sends.txt"))
        await g.stop()
    }

    @Test func anOutboxSendThatFailsForGoodIsAPluginErrorEvent() async throws {
        let dir = TestEnv.tempDir("outbox-giveup")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir,
                                                           routing: "inline_reply_budget: 100ms\noutbox_max_attempts: 1", agents: """
          - name: slow
            transport: echo
            config: { prefix: slow, delay_ms: 400 }
        """, extraPlugins: """
          - id: events
            library: file-sink
            config: { path: \(dir)/events.jsonl, fsync: always }
        """), dir: dir)
        FileManager.default.createFile(atPath: "\(dir)/send-fail", contents: Data())
        #expect(await g.submit(from: "+15558880003", id: "g1", text: "hello") == .deferred)
        let deadline = Date().addingTimeInterval(8)
        while try g.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == 0 && Date() < deadline {
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        await g.stop()
        let errors = try String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONValue.parse(String($0)) }.filter { $0["type"] == .string("plugin.error") }
        #expect(errors.count == 1)
        #expect(errors.first?["plugin"] == .string("test") && errors.first?["operation"] == .string("send"))
        #expect(errors.first?["error"] == .string("fail_file present"))
    }
}
