import Foundation
import Testing
@testable import Host

/// What an independent hostile run found in the router (issue 12, item 10): replies lost
/// after a missed inline budget, one hanging agent stalling the others, and the
/// `max_sessions` default turning away distinct numbers.
@Suite(.serialized) struct RouterIsolationTests {
    static func sends(_ dir: String) -> [String] { RouterDeliveryTests.sendsLines(dir) }

    static func waitFor(_ seconds: Double, _ cond: () throws -> Bool) async rethrows {
        let deadline = Date().addingTimeInterval(seconds)
        while try !cond() && Date() < deadline { try? await Task.sleep(nanoseconds: 50_000_000) }
    }

    /// One slot for turns, a 100 ms budget: the first user's slow call holds the slot, so
    /// the others' budgets pass while they wait. Then the second finds no agent (its only
    /// agent is full) and the third sends STOP: both replies were decided after the channel
    /// was told "deferred", so they must go out through the outbox, not be stored as
    /// answered inline and never sent.
    @Test func replyDecidedAfterTheBudgetGoesThroughTheOutbox() async throws {
        let dir = TestEnv.tempDir("lostreply")
        let g = try await TestGateway(yaml: TestEnv.config(store: "sqlite:\(dir)/ds.sqlite", dir: dir,
                                                           routing: "max_concurrent: 1\ninline_reply_budget: 100ms\nno_agent_reply: busy", agents: """
          - name: slow
            transport: echo
            max_sessions: 1
            config: { prefix: slow, delay_ms: 700 }
        """), dir: dir)
        async let a = g.submit(from: "+15552220001", id: "l1", text: "first")
        try await Task.sleep(nanoseconds: 50_000_000)
        async let b = g.submit(from: "+15552220002", id: "l2", text: "second")
        async let c = g.submit(from: "+15552220003", id: "l3", text: "STOP")
        let (ra, rb, rc) = await (a, b, c)
        #expect(ra == .deferred)
        #expect(rb == .deferred)
        #expect(rc == .deferred)
        try await Self.waitFor(10) { Self.sends(dir).count >= 3 }
        try await Task.sleep(nanoseconds: 500_000_000)
        let lines = Self.sends(dir)
        #expect(lines.contains("reply:test:l1\t+15552220001\tslow: first (history: 0)"), "\(lines)")
        #expect(lines.contains { $0.hasSuffix("\t+15552220002\tbusy") }, "\(lines)")
        #expect(lines.contains { $0.hasSuffix("\t+15552220003\t\(RoutingConfig().optOutReply)") }, "\(lines)")
        #expect(lines.count == 3, "\(lines)")
        // Nothing is stored as answered inline that the channel never got.
        #expect(try g.scalar("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status = 'replied_inline'") == 0)
        await g.stop()
    }
}
