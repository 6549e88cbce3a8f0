import Foundation
import Synchronization
import Testing
@testable import Host

/// The gateway's parts as one service group: the shutdown order, the drain of turns into the
/// outbox on stop and on SIGTERM, and the loops' timer (`ServiceSleeper`).
@Suite(.serialized) struct LifecycleTests {
    static func sends(_ dir: String) -> [String] {
        ((try? String(contentsOfFile: "\(dir)/sends.txt", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    static func seconds(since t: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - t
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// A sleep lasts its interval; `wake` ends it early (and is remembered when nobody
    /// sleeps); `close` ends it with false, and every later sleep returns false at once.
    @Test func sleeperTimesWakesAndCloses() async throws {
        let runtime = HostRuntime(logLevel: .error)
        defer { runtime.shutdown() }
        let sleeper = ServiceSleeper(loop: runtime.timerLoop)
        var t = ContinuousClock.now
        #expect(await sleeper.sleep(0.2))
        #expect(Self.seconds(since: t) >= 0.19)

        t = ContinuousClock.now
        Task { try await Task.sleep(nanoseconds: 50_000_000); sleeper.wake() }
        #expect(await sleeper.sleep(30))
        #expect(Self.seconds(since: t) < 10)

        sleeper.wake()
        t = ContinuousClock.now
        #expect(await sleeper.sleep(30))
        #expect(Self.seconds(since: t) < 10)

        t = ContinuousClock.now
        Task { try await Task.sleep(nanoseconds: 50_000_000); sleeper.close() }
        #expect(await sleeper.sleep(30) == false)
        #expect(await sleeper.sleep(30) == false)
        #expect(Self.seconds(since: t) < 10)
        #expect(sleeper.isClosed)
    }

    /// `stop()` while a turn is still waiting for its agent (the message was acknowledged as
    /// deferred): the turn finishes, its reply goes out through the outbox, its
    /// `message.sent` event reaches the file sink, and the services stopped in
    /// `Gateway.shutdownOrder`.
    @Test func stopDrainsTurnsThroughTheOutboxInTheStatedOrder() async throws {
        let dir = TestEnv.tempDir("lifecycle-stop")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir, routing: "inline_reply_budget: 100ms", agents: """
          - name: slow
            transport: echo
            config: { prefix: slow, delay_ms: 1200 }
        """, routes: AdminEnv.section(), extraPlugins: """
          - id: file
            library: file-sink
            config: { path: "\(dir)/events.jsonl" }
        """), dir: dir)
        #expect(await g.submit(from: "+15557710001", id: "l1", text: "hello") == .deferred)
        #expect(Self.sends(dir).isEmpty)
        await g.stop()
        #expect(Self.sends(dir) == ["reply:test:l1\t+15557710001\tslow: hello (history: 0)"])
        let events = (try? String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8)) ?? ""
        #expect(events.contains(#""type":"message.sent""#))
        #expect(g.gateway.stopped.withLock { $0 } == ["admin", "http", "jobs", "agent-sync", "turns", "outbox", "events", "resources"])
        #expect(Gateway.shutdownOrder.filter { $0 != "usage" } == g.gateway.stopped.withLock { $0 })
        #expect(!g.gateway.isReady())
    }

    /// `darkspere run` and SIGTERM: a message acknowledged (deferred) before the signal is
    /// answered before the process exits, and the process exits 0.
    @Test func sigtermAnswersAcknowledgedMessagesBeforeExit() async throws {
        let dir = TestEnv.tempDir("lifecycle-sigterm")
        let port = TestEnv.freePort()
        try RouterDeliveryTests.writeSlowAgentConfig(dir: dir, port: port, budget: "100ms", delayMs: 1500)
        let client = HTTPClient()
        defer { client.shutdown() }
        let gw = try GatewayProcess(config: "\(dir)/plugins.yaml", port: port, log: "\(dir)/gateway.log")
        try await gw.waitReady(client: client)
        let (status, body) = await postSMS(port: port, from: "+15557720001", to: "+15550000001", id: "t1", text: "bye", client: client)
        #expect(status == 202 && body.contains("deferred"))   // acknowledged, not answered inline
        #expect(Self.sends(dir).isEmpty)
        kill(gw.pid, SIGTERM)
        var st: Int32 = 0
        while waitpid(gw.pid, &st, 0) < 0 && errno == EINTR {}
        #expect((st & 0x7f) == 0 && (st >> 8) & 0xff == 0)
        #expect(Self.sends(dir) == ["reply:test:t1\t+15557720001\tslow: bye (history: 0)"])
        let log = (try? String(contentsOfFile: "\(dir)/gateway.log", encoding: .utf8)) ?? ""
        #expect(log.contains("shutting down: draining in-flight requests"))
    }
}
