import Foundation
import Testing
import TestPeers

/// Long polling through `darkspere run` processes: offsets kept in `state_dir` across a
/// kill -9, the router's store on disk, and the gateway's whole output searched for secrets.
@Suite(.serialized) struct TelegramPollingTests {
    @Test func pollingHandlesEveryUpdateOnceAcrossARestartAndLogsNoSecret() async throws {
        let fake = try TG.FakeBotAPI()
        defer { fake.stop() }
        let dir = TG.tempDir()
        let port = TestPeers.freePort()
        let yaml = TG.gatewayYAML(api: fake.base, mode: "polling", listen: "127.0.0.1:\(port)", store: "sqlite:\(dir)/store.db",
                                  extra: "state_dir: \(dir)")
        try await fake.queue([TG.update(10, chat: 555, text: "one"), TG.update(11, chat: 666, text: "other chat"),
                              TG.update(12, chat: 555, text: "two")])
        var gw = try GatewayProcess(yaml: yaml, dir: dir, port: port, name: "first")
        defer { gw.kill9() }
        try await gw.waitReady()
        #expect(try await fake.waitSent(to: 555, count: 2) == ["echo: one (history: 0)", "echo: two (history: 2)"])
        #expect(try await fake.waitSent(to: 666, count: 1) == ["echo: other chat (history: 0)"])
        // The offset file says every update up to 12 is handled.
        try await Task.sleep(nanoseconds: 200_000_000)
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/telegram-123456789.json"))) as! [String: Any]
        #expect((state["offset"] as? NSNumber)?.int64Value == 13)
        gw.kill9()

        // Telegram forgets the confirmations (the crash came before the next getUpdates):
        // every update is offered again to the restarted gateway. None is handled twice.
        try await fake.replay()
        try await fake.queue([TG.update(13, chat: 555, text: "three")])
        gw = try GatewayProcess(yaml: yaml, dir: dir, port: port, name: "second")
        try await gw.waitReady()
        let after = try await fake.waitSent(to: 555, count: 3)
        try await Task.sleep(nanoseconds: 1_500_000_000)   // a full poll round more: nothing else may arrive
        #expect(try await fake.sent(to: 555) == ["echo: one (history: 0)", "echo: two (history: 2)", "echo: three (history: 4)"])
        #expect(after.count == 3)
        #expect(try await fake.sent(to: 666).count == 1)
        // The first run's deleteWebhook and getUpdates went out; the token never reached a log line.
        #expect(try await fake.requests("deleteWebhook").count == 2)
        gw.terminate()
        let logs = try String(contentsOfFile: "\(dir)/first.log", encoding: .utf8) + gw.output
        #expect(logs.contains("telegram channel ready"))
        #expect(!logs.contains(TG.token) && !logs.contains("AAHfakeTOKEN") && !logs.contains(TG.secret))
    }

    @Test func aTransportErrorLogNeverCarriesTheToken() async throws {
        // Nothing listens on the api_base: every call fails, with curl's error in the log.
        let dir = TG.tempDir()
        let port = TestPeers.freePort()
        let dead = TestPeers.freePort()
        let yaml = TG.gatewayYAML(api: "http://127.0.0.1:\(dead)", mode: "polling", listen: "127.0.0.1:\(port)")
        let gw = try GatewayProcess(yaml: yaml, dir: dir, port: port, name: "dead")
        defer { gw.kill9() }
        try await gw.waitReady()
        try await Task.sleep(nanoseconds: 2_500_000_000)
        gw.terminate()
        let logs = gw.output
        #expect(logs.contains("getUpdates failed"))
        #expect(!logs.contains("AAHfakeTOKEN"))
    }
}
