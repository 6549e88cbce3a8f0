import Foundation
import Synchronization
import Testing
@testable import Host

/// GET /api/v1/events: Server-Sent Events from a running gateway, filters, Last-Event-ID
/// resume, and a slow client losing events (marked) without slowing the bus.
@Suite(.serialized) struct AdminEventsTests {
    @Test func streamsFilteredEventsAndResumes() async throws {
        let g = try await AdminEnv.gateway("admin-sse")
        let port = try #require(g.gateway.adminPort)
        let auth = [("Authorization", "Bearer \(AdminEnv.viewerToken)")]
        // No token: 401, no stream.
        let anon = try StreamReader(port: port, path: "/api/v1/events", headers: [])
        #expect(anon.read(until: { $0.contains("\r\n\r\n") && $0.contains("unauthorized") }))
        #expect(anon.received.hasPrefix("HTTP/1.1 401"))
        anon.close()

        let s = try StreamReader(port: port, path: "/api/v1/events?type=message.received,session.", headers: auth)
        #expect(s.read(until: { $0.contains("retry: 2000") }))
        #expect(s.received.hasPrefix("HTTP/1.1 200"))
        #expect(s.received.lowercased().contains("content-type: text/event-stream"))
        _ = await g.reply(from: "+15556000001", id: "e1", text: "hello")
        #expect(s.read(until: { _ in s.events.count >= 2 }), "\(s.received)")
        let types = s.events.map { $0.json["type"]?.stringValue ?? "" }
        #expect(types == ["message.received", "session.started"])   // not agent.called / message.sent
        try #require(s.events.count >= 2)
        #expect(s.events[0].json["correlation_id"] == .string("test:e1"))
        #expect(s.events[0].json["from"] == .string("+*******0001"))   // the sinks' redaction applies
        let lastId = s.events[1].id
        s.close()

        // Missed while disconnected, then resumed from Last-Event-ID: exactly the missed ones.
        _ = await g.reply(from: "+15556000002", id: "e2", text: "while away")
        let r = try StreamReader(port: port, path: "/api/v1/events?type=message.received", headers: auth + [("Last-Event-ID", lastId)])
        #expect(r.read(until: { _ in r.events.count >= 1 }))
        #expect(!r.received.contains("event: reset"))
        #expect(r.events.map { $0.json["correlation_id"]?.stringValue ?? "" } == ["test:e2"])
        r.close()

        // A resume point no longer kept: told so (event: reset).
        let old = try StreamReader(port: port, path: "/api/v1/events", headers: auth + [("Last-Event-ID", "gone-1")])
        #expect(old.read(until: { $0.contains("event: reset") }))
        old.close()

        // By session.
        let bySession = try StreamReader(port: port, path: "/api/v1/events?session=1", headers: auth)
        #expect(bySession.read(until: { $0.contains("retry:") }))
        _ = await g.reply(from: "+15556000003", id: "e3", text: "other session")
        _ = await g.reply(from: "+15556000001", id: "e4", text: "session one")
        #expect(bySession.read(until: { _ in bySession.events.contains { $0.json["type"] == .string("message.sent") } }))
        #expect(bySession.events.allSatisfy { $0.json["session"] == .string("1") || $0.json["correlation_id"] == .string("test:e4") })
        #expect(!bySession.events.contains { $0.json["correlation_id"] == .string("test:e3") })
        bySession.close()
        await g.stop()
    }

    @Test func slowClientLosesEventsMarkedNotTheBus() async throws {
        let g = try await AdminEnv.gateway("admin-sse-slow")
        let port = try #require(g.gateway.adminPort)
        let s = try StreamReader(port: port, path: "/api/v1/events", headers: [("Authorization", "Bearer \(AdminEnv.viewerToken)")],
                                 receiveBuffer: 4096)
        #expect(s.read(until: { $0.contains("retry:") }))
        // The client stops reading; the bus goes on emitting large events.
        let big = String(repeating: "x", count: 1000)
        let bus = try #require(g.gateway.events)
        let n = 5_000
        for i in 0..<n { bus.emit(Event("test.bulk", fields: [("i", .number(Double(i))), ("pad", .string(big))])) }
        // The bus was not held up: every event was emitted (the subscriber's queue is bounded).
        try await Task.sleep(nanoseconds: 300_000_000)
        // Now read: some events arrive, then the mark with how many were missed.
        #expect(s.read(untilContains: "event: dropped", timeout: 40))
        // The mark's data line may come in a later read than its first line.
        #expect(s.read(until: { $0.range(of: #"event: dropped\ndata: \{"dropped":[0-9]+\}\n"#, options: .regularExpression) != nil }))
        let dropped = s.received.components(separatedBy: "event: dropped\ndata: {\"dropped\":").dropFirst()
            .compactMap { Int($0.prefix { $0.isNumber }) }.reduce(0, +)
        #expect(dropped > 0)
        // Afterwards the stream goes on: a new event arrives.
        bus.emit(Event("test.after"))
        #expect(s.read(untilContains: "test.after", timeout: 40))
        let got = s.events.filter { $0.json["type"] == .string("test.bulk") }.count
        #expect(got + dropped <= n)
        #expect(got < n)
        s.close()
        await g.stop()
    }

    /// The hub itself: the emitter only appends; a writer is woken once per batch (after it
    /// drained), gets the batch in order, and one that lags past the ring loses the oldest,
    /// counted; Last-Event-ID resumes from the ring.
    @Test func ringWakesOncePerBatchAndCountsLag() throws {
        let live = LiveEvents(capacity: 8)
        func item(_ n: Int, _ type: String = "message.received") -> LiveEvents.Item {
            LiveEvents.Item(id: "e-\(n)", type: type, session: "\(n % 2)", line: "{\"n\":\(n)}")
        }
        final class Wakes: Sendable { let count = Mutex(0) }
        let wakes = Wakes()
        let (sub, resumed) = live.subscribe(filter: LiveEvents.Filter(types: ["message."]), lastEventId: nil) { wakes.count.withLock { $0 += 1 } }
        #expect(resumed)
        // Not woken before its writer's first drain.
        #expect(live.publish(item(1)).wake == false)
        var d = live.drain(sub)
        #expect(d.items.map(\.id) == ["e-1"] && d.dropped == 0 && !d.more)
        // A batch: only the first event asks for a wake-up, and it wakes the writer once.
        #expect(live.publish(item(2)).wake == true)
        live.wakeWaiting()
        for n in 3...5 { #expect(live.publish(item(n, n == 4 ? "agent.called" : "message.sent")).wake == false) }
        live.wakeWaiting()
        #expect(wakes.count.withLock { $0 } == 1)
        d = live.drain(sub, limit: 2)
        #expect(d.items.map(\.id) == ["e-2", "e-3"] && d.more)
        #expect(live.publish(item(6)).wake == false)   // events left: not idle
        d = live.drain(sub)
        // Filtering is the writer's (agent.called is in the batch; SSEWriter skips it).
        #expect(d.items.map(\.id) == ["e-4", "e-5", "e-6"] && !d.more)
        #expect(d.items.filter { sub.filter.matches($0) }.map(\.id) == ["e-5", "e-6"])
        // Lagging past the ring (8 kept): the oldest are lost and counted.
        for n in 7...18 { _ = live.publish(item(n)) }
        d = live.drain(sub)
        #expect(d.dropped == 4)
        #expect(d.items.map(\.id) == (11...18).map { "e-\($0)" })
        // Discarded by the writer (a client not reading): reported with the next drain.
        live.discard(sub, 3)
        #expect(live.drain(sub).dropped == 3)
        // Resume: after a kept id exactly the later ones; an id no longer kept: all kept, not resumed.
        let (again, found) = live.subscribe(filter: LiveEvents.Filter(), lastEventId: "e-16") { }
        #expect(found)
        #expect(live.drain(again).items.map(\.id) == ["e-17", "e-18"])
        let (lost, foundLost) = live.subscribe(filter: LiveEvents.Filter(), lastEventId: "e-2") { }
        #expect(!foundLost)
        #expect(live.drain(lost).items.count == 8)
        // Unsubscribed: never woken again.
        live.unsubscribeAll()
        #expect(live.publish(item(19)).wake == false)
        live.wakeWaiting()
        #expect(wakes.count.withLock { $0 } == 1)
        #expect(live.drain(sub).items.isEmpty)
        _ = again
    }
}
