import Foundation
import NIOCore

/// GET /api/v1/events: the event stream as Server-Sent Events.
///
/// Each event is `id: <event id>` + `data: <the JSON line the sinks get>`; control events
/// are named: `event: dropped` (`{"dropped": n}`: this client was too slow and missed n
/// events), `event: reset` (the `Last-Event-ID` it resumed from is no longer kept).
/// A comment line every 15 s keeps idle connections and proxies open.
/// Filters: `session=<id>`, `type=<t>[,<t>...]` (a type ending in "." is a prefix).
/// Threading: set up on the event loop; the subscriber's events are taken from the shared
/// ring, filtered and written on the connection's event loop, never on the emitting thread.
extension AdminServer {
    static let heartbeatSeconds: Int64 = 15

    func streamEvents(_ call: AdminRequest, _ response: HTTPResponder) {
        let filter: LiveEvents.Filter
        do {
            try call.only(["session", "type", "access_token"])
            let types = try call.string("type", maxLength: 512).map { $0.split(separator: ",").map { String($0) } } ?? []
            filter = LiveEvents.Filter(types: types, session: try call.string("session", maxLength: 32))
        } catch let e as AdminError { return Self.send(response, e) } catch { return }
        let lastId = call.http.header("last-event-id").flatMap { $0.isEmpty ? nil : String($0.prefix(128)) }
        let live = events.live
        response.stream(status: 200, headers: [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-store"),
                                               ("X-Accel-Buffering", "no")]) { stream in
            guard let stream else { return }
            let writer = SSEWriter(stream: stream, live: live)
            let (sub, resumed) = live.subscribe(filter: filter, lastEventId: lastId, wake: { writer.wake() })
            writer.subscriber = sub
            stream.write(Array(("retry: 2000\n\n" + (resumed ? "" : "event: reset\ndata: {}\n\n")).utf8))
            writer.flush()
            let beat = stream.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(Self.heartbeatSeconds), delay: .seconds(Self.heartbeatSeconds)) { _ in
                writer.flush()
                stream.write(Array(": keep-alive\n\n".utf8))
            }
            stream.onClose {
                beat.cancel()
                live.unsubscribe(sub)
                writer.subscriber = nil   // on the event loop; breaks writer -> subscriber -> wake -> writer
            }
        }
    }
}

/// Writes one subscriber's events to its stream, on the stream's event loop: woken at most
/// once per batch (`batchDelay` after the first event since its last write), it takes what
/// arrived from the shared ring, filters it here (off the message path) and writes it in
/// chunks of at most `chunkEvents` events. A client that cannot keep up (the connection's
/// buffer is full) loses events, counted and reported as `event: dropped`; nothing waits
/// for it, and at most one chunk is queued beyond the connection's buffer.
/// Unchecked Sendable: `subscriber` is set once before the first flush; `retryScheduled` is touched
/// only on the stream's event loop.
final class SSEWriter: @unchecked Sendable {
    let stream: HTTPStream
    let live: LiveEvents
    /// Set once, on the event loop, before the first flush.
    var subscriber: LiveEvents.Subscriber?
    /// A flush is scheduled to report drops once the client reads again (event loop only).
    private var retryScheduled = false

    init(stream: HTTPStream, live: LiveEvents) { self.stream = stream; self.live = live }

    /// How long events gather before one write: one wake-up and one write per batch instead
    /// of per event, off the emitting threads (the message path's).
    static let batchDelay: TimeAmount = .milliseconds(25)
    /// Events per write at most (a burst is several writes, each checked against the
    /// connection's buffer, not one huge one).
    static let chunkEvents = 512

    /// From the bus (after its lock): schedule a flush; the hub wakes a writer only once
    /// after each drain, so events arriving until the flush ride along.
    func wake() { stream.eventLoop.scheduleTask(in: Self.batchDelay) { self.flush() } }

    /// On the event loop.
    func flush() {
        guard let sub = subscriber else { return }
        while true {
            guard stream.isWritable else {
                // The client does not read: what is waiting is discarded and counted, and
                // reported once it reads again, even if no event follows.
                let (items, dropped, _) = live.drain(sub)
                live.discard(sub, dropped + items.reduce(0) { $0 + (sub.filter.matches($1) ? 1 : 0) })
                if !retryScheduled {
                    retryScheduled = true
                    stream.eventLoop.scheduleTask(in: .milliseconds(200)) { self.retryScheduled = false; self.flush() }
                }
                return
            }
            let (items, dropped, more) = live.drain(sub, limit: Self.chunkEvents)
            // One buffer per chunk, each event's text written straight into it.
            var buffer = stream.allocator.buffer(capacity: items.reduce(0) { $0 + $1.line.utf8.count + 64 })
            if dropped > 0 { buffer.writeString("event: dropped\ndata: {\"dropped\":\(dropped)}\n\n") }
            for i in items where sub.filter.matches(i) { i.writeSSE(to: &buffer) }
            stream.write(buffer)
            if !more { return }
        }
    }
}
