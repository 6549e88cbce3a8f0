import Foundation
import NIOCore

/// GET /api/v1/events: the event stream as Server-Sent Events.
///
/// Each event is `id: <event id>` + `data: <the JSON line the sinks get>`; control events
/// are named: `event: dropped` (`{"dropped": n}`: this client was too slow and missed n
/// events), `event: reset` (the `Last-Event-ID` it resumed from is no longer kept).
/// A comment line every 15 s keeps idle connections and proxies open.
/// Filters: `session=<id>`, `type=<t>[,<t>...]` (a type ending in "." is a prefix).
/// Threading: set up on the event loop; the subscriber's queue is drained on the
/// connection's event loop, never on the emitting thread.
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
            let writer = SSEWriter(stream: stream)
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
            }
        }
    }
}

/// Writes one subscriber's queued events to its stream, on the stream's event loop.
/// A client that cannot keep up (the connection's buffer is full) loses events, counted
/// and reported as `event: dropped`; nothing waits for it.
/// Unchecked Sendable: `subscriber` is set once before the first flush; `retryScheduled` is touched
/// only on the stream's event loop.
final class SSEWriter: @unchecked Sendable {
    let stream: HTTPStream
    /// Set once, on the event loop, before the first wake can run.
    var subscriber: LiveEvents.Subscriber?
    /// A flush is scheduled to report drops once the client reads again (event loop only).
    private var retryScheduled = false

    init(stream: HTTPStream) { self.stream = stream }

    /// How long events gather before one write: one wake-up and one write per batch instead
    /// of per event, off the emitting threads (the message path's).
    static let batchDelay: TimeAmount = .milliseconds(25)

    /// From the publishing thread: schedule a flush (the subscriber coalesces wakes until it).
    func wake() { stream.eventLoop.scheduleTask(in: Self.batchDelay) { self.flush() } }

    /// On the event loop.
    func flush() {
        guard let sub = subscriber else { return }
        let (items, dropped) = sub.drain()
        guard stream.isWritable else {
            if items.count + dropped > 0 { sub.discard(items.count + dropped) }
            // Tell the client what it missed once it reads again, even if no event follows.
            if !retryScheduled {
                retryScheduled = true
                stream.eventLoop.scheduleTask(in: .milliseconds(200)) { self.retryScheduled = false; self.flush() }
            }
            return
        }
        guard dropped > 0 || !items.isEmpty else { return }
        var bytes: [UInt8] = dropped > 0 ? Array("event: dropped\ndata: {\"dropped\":\(dropped)}\n\n".utf8) : []
        // Each item's text is made once and shared by every client that gets it.
        for i in items { bytes += i.sse }
        stream.write(bytes)
    }
}
