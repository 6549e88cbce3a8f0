import NIOCore
import NIOHTTP1
import Foundation

/// One HTTP request as a host-side handler sees it (the admin listener). Plain values.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query, still percent-encoded.
    public var path: String
    /// The raw query string (after `?`), "" if none.
    public var query: String
    /// Header names lowercased, in arrival order.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.0 == n }?.1
    }
}

/// Serves the requests of an `HTTPServer` whose `handler` is set, instead of plugin routes.
///
/// Threading: `handle` is called on the connection's event loop and must not block: do
/// blocking work elsewhere and answer through the responder from any thread.
public protocol HTTPHandler: AnyObject, Sendable {
    func handle(_ request: HTTPRequest, _ response: HTTPResponder)
}

/// Answers one request exactly once: a whole response, or the head of a stream.
/// Later answers are ignored; a request not answered by `server.request_timeout` gets 503.
/// Threading: any thread (answers hop to the connection's event loop).
/// Unchecked Sendable: `answered` and `timeout` are touched only on `loop` (every answer hops there
/// first); the handler and context are NIOLoopBound.
public final class HTTPResponder: @unchecked Sendable {
    let loop: any EventLoop
    // Touched on `loop` only.
    private let handler: NIOLoopBound<HTTPRequestHandler>
    private let context: NIOLoopBound<ChannelHandlerContext>
    private let head: HTTPRequestHead
    private var answered = false
    var timeout: Scheduled<Void>?

    init(loop: any EventLoop, handler: HTTPRequestHandler, context: ChannelHandlerContext, head: HTTPRequestHead) {
        self.loop = loop
        self.handler = NIOLoopBound(handler, eventLoop: loop)
        self.context = NIOLoopBound(context, eventLoop: loop)
        self.head = head
    }

    /// A complete response (Content-Length is set from `body`).
    public func respond(status: Int, headers: [(String, String)], body: [UInt8]) {
        loop.execute { [self] in
            guard !answered else { return }
            answered = true
            timeout?.cancel()
            handler.value.respond(context.value, head, status, headers, body)
        }
    }

    /// Starts a streamed response (chunked; e.g. Server-Sent Events): sends the head now and
    /// hands the body to the returned stream. The request no longer counts as in flight (a
    /// stream may stay open for hours); shutdown closes its connection.
    public func stream(status: Int, headers: [(String, String)], _ started: @escaping @Sendable (HTTPStream?) -> Void) {
        loop.execute { [self] in
            guard !answered else { return started(nil) }
            answered = true
            timeout?.cancel()
            started(handler.value.startStream(context.value, head, status, headers))
        }
    }
}

/// The body of a streamed response. `write` and `close` from any thread; `onClose` runs
/// once, on the event loop, when the stream or its connection closes.
/// Unchecked Sendable: `closed` and `closeHandlers` are touched only on `eventLoop` (writes hop
/// there first); the context is NIOLoopBound.
public final class HTTPStream: @unchecked Sendable {
    public let eventLoop: any EventLoop
    private let context: NIOLoopBound<ChannelHandlerContext>
    private let channel: any Channel
    private var closed = false   // on eventLoop
    private var closeHandlers: [@Sendable () -> Void] = []

    init(context: ChannelHandlerContext) {
        eventLoop = context.eventLoop
        channel = context.channel
        self.context = NIOLoopBound(context, eventLoop: context.eventLoop)
        channel.closeFuture.whenComplete { [self] _ in eventLoop.execute { self.finish() } }
    }

    /// False while the peer reads slower than we write (the outbound buffer is full):
    /// callers then drop instead of queueing. Read on the event loop.
    public var isWritable: Bool { channel.isWritable }

    /// Makes buffers for `write(_:)`.
    public var allocator: ByteBufferAllocator { channel.allocator }

    /// Writes and flushes one chunk. On the event loop it writes at once.
    public func write(_ bytes: [UInt8]) {
        guard eventLoop.inEventLoop else { return eventLoop.execute { self.write(bytes) } }
        guard !closed, !bytes.isEmpty else { return }
        write(channel.allocator.buffer(bytes: bytes))
    }

    /// Writes and flushes one chunk, without copying it. On the event loop it writes at once;
    /// an empty buffer writes nothing.
    public func write(_ buffer: ByteBuffer) {
        guard eventLoop.inEventLoop else { return eventLoop.execute { self.write(buffer) } }
        guard !closed, buffer.readableBytes > 0 else { return }
        context.value.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
    }

    /// Ends the response and closes the connection.
    public func close() {
        guard eventLoop.inEventLoop else { return eventLoop.execute { self.close() } }
        guard !closed else { return }
        let bound = context
        bound.value.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
        finish()
    }

    /// Registers a callback for the end of the stream (runs at once if it already ended).
    public func onClose(_ body: @escaping @Sendable () -> Void) {
        guard eventLoop.inEventLoop else { return eventLoop.execute { self.onClose(body) } }
        if closed { body() } else { closeHandlers.append(body) }
    }

    private func finish() {
        guard !closed else { return }
        closed = true
        let hs = closeHandlers
        closeHandlers = []
        for h in hs { h() }
    }
}

extension HTTPRequestHandler {
    /// Hands the request to the server's `handler` (on the event loop).
    func serve(_ handler: any HTTPHandler, _ context: ChannelHandlerContext, _ h: HTTPRequestHead, path: String, query: String, body: ByteBuffer) {
        var b = body
        let bytes = b.readBytes(length: b.readableBytes) ?? []
        let responder = HTTPResponder(loop: context.eventLoop, handler: self, context: context, head: h)
        responder.timeout = context.eventLoop.scheduleTask(in: .milliseconds(Int64(server.config.requestTimeout * 1000))) {
            responder.respond(status: 503, headers: [("Content-Type", "application/json")],
                              body: Array(#"{"error":{"code":"timeout","message":"the request did not complete in time"}}"#.utf8))
        }
        let request = HTTPRequest(method: h.method.rawValue, path: path, query: query,
                                  headers: h.headers.map { ($0.name.lowercased(), $0.value) }, body: bytes)
        handler.handle(request, responder)
    }

    /// Writes a streamed response's head (no Content-Length: chunked) and returns its body.
    func startStream(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: Int, _ headers: [(String, String)]) -> HTTPStream {
        server.requestDone()
        server.requestsTotal.increment()
        server.countResponse(status)
        var hs = HTTPHeaders()
        for (k, v) in headers where k.lowercased() != "content-length" { hs.add(name: k, value: v) }
        let head = HTTPResponseHead(version: h.version, status: HTTPResponseStatus(statusCode: status), headers: hs)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        return HTTPStream(context: context)
    }
}
